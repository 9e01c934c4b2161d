package entra

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// writeCertPEM writes an RSA key + self-signed certificate PEM and returns its path.
func writeCertPEM(t *testing.T, dir string) (string, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "patrol-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := filepath.Join(dir, "cert.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, cert
}

func TestAzidentityFlowsAgainstFake(t *testing.T) {
	dir := t.TempDir()
	certPath, _ := writeCertPEM(t, dir)
	fedFile := filepath.Join(dir, "fed-token")
	if err := os.WriteFile(fedFile, []byte("k8s-sa-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method Method
		set    func(*Options)
		check  func(t *testing.T, form url.Values)
		kind   IdentityKind
	}{
		{MethodClientSecret, func(o *Options) { o.ClientSecret = "cs-value" }, func(t *testing.T, form url.Values) {
			if form.Get("grant_type") != "client_credentials" || form.Get("client_secret") != "cs-value" || form.Get("client_id") != "client-1" {
				t.Fatalf("form %v", form)
			}
			if !strings.Contains(form.Get("scope"), "499b84ac-1321-427f-aa17-267ca6975798/.default") {
				t.Fatalf("scope %q", form.Get("scope"))
			}
		}, IdentityServicePrincipal},
		{MethodClientCertificate, func(o *Options) { o.CertificatePath = certPath }, func(t *testing.T, form url.Values) {
			if form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || Claims(form.Get("client_assertion"))["sub"] != "client-1" {
				t.Fatalf("form %v", form)
			}
		}, IdentityServicePrincipal},
		{MethodWorkloadIdentity, func(o *Options) { o.FederatedTokenFile = fedFile }, func(t *testing.T, form url.Values) {
			if form.Get("client_assertion") != "k8s-sa-token" {
				t.Fatalf("form %v", form)
			}
		}, IdentityServicePrincipal},
	}
	for _, c := range cases {
		t.Run(string(c.method), func(t *testing.T) {
			f := newFake(t, nil)
			o := f.opts()
			c.set(&o)
			// auto must pick the same method
			if m, err := Resolve(o); err != nil || m != c.method {
				t.Fatalf("Resolve = %q, %v", m, err)
			}
			o.Method = c.method
			src, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := src.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "at-0" || tok.Kind != c.kind || time.Until(tok.ExpiresOn) < 50*time.Minute {
				t.Fatalf("token %v", tok)
			}
			if f.path(0) != "/tenant-1/oauth2/v2.0/token" {
				t.Fatalf("path %q", f.path(0))
			}
			c.check(t, f.form(0))
		})
	}
}

func TestAzidentityErrorIsSignInError(t *testing.T) {
	f := newFake(t, func(n int, r *http.Request, form url.Values) (int, any) {
		return 401, errBody("invalid_client", 7000215, "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: x")
	})
	o := f.opts()
	o.Method = MethodClientSecret
	o.ClientSecret = "cs-very-secret"
	src, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Token(context.Background())
	var se *SignInError
	if !errors.As(err, &se) {
		t.Fatalf("want *SignInError, got %T %v", err, err)
	}
	if se.AADSTS != 7000215 || se.Status != 401 || se.Code != "invalid_client" || !strings.Contains(se.Hint, "AZURE_CLIENT_SECRET") || errkind.Of(err) != errkind.Auth {
		t.Fatalf("error %+v", se)
	}
	if strings.Contains(err.Error(), "cs-very-secret") {
		t.Fatal("secret leaked")
	}
}

func TestCertificateFileErrors(t *testing.T) {
	dir := t.TempDir()
	o := Options{Method: MethodClientCertificate, TenantID: "t", ClientID: "c", CertificatePath: filepath.Join(dir, "missing.pem")}
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "AZURE_CLIENT_CERTIFICATE_PATH") || errkind.Of(err) != errkind.Usage {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.pem")
	_ = os.WriteFile(bad, []byte("not a cert"), 0o600)
	o.CertificatePath = bad
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "no usable certificate") {
		t.Fatalf("bad file: %v", err)
	}
}

func TestManagedIdentityAppService(t *testing.T) {
	// MSAL keeps a process-wide managed-identity token cache keyed by identity:
	// use a user-assigned id here so the emulator test gets its own entry.
	miClientID := uuid.NewString() // fresh per run (-count=N)
	var gotHeader, gotResource, gotClientID string
	exp := time.Now().Add(6 * time.Hour).Unix()
	f := newFake(t, func(n int, r *http.Request, form url.Values) (int, any) {
		gotHeader = r.Header.Get("X-IDENTITY-HEADER")
		gotResource = r.URL.Query().Get("resource")
		gotClientID = r.URL.Query().Get("client_id")
		return 200, map[string]any{"access_token": "mi-token", "expires_on": fmt.Sprint(exp), "resource": gotResource, "token_type": "Bearer"}
	})
	t.Setenv("IDENTITY_ENDPOINT", f.srv.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", "hdr-secret")
	o := f.opts()
	o.TenantID, o.ClientID = "", ""
	o.LookupEnv = nil // real environment
	o.CachePath = filepath.Join(t.TempDir(), "none")
	o.ManagedIdentityClientID = miClientID
	if m, err := Resolve(o); err != nil || m != MethodManagedIdentity {
		t.Fatalf("Resolve = %q %v", m, err)
	}
	_, tok := signIn(t, o)
	if gotClientID != miClientID {
		t.Fatalf("client_id = %q", gotClientID)
	}
	if tok.AccessToken != "mi-token" || tok.Kind != IdentityManagedIdentity || tok.ExpiresOn.Unix() != exp {
		t.Fatalf("token %v", tok)
	}
	if gotHeader != "hdr-secret" || gotResource != "499b84ac-1321-427f-aa17-267ca6975798" {
		t.Fatalf("header %q resource %q", gotHeader, gotResource)
	}
	if err := RequireUser(tok); err == nil || errkind.Of(err) != errkind.Usage {
		t.Fatalf("RequireUser(MI) = %v", err)
	}
}

func TestAzureCLIFakeAz(t *testing.T) {
	dir := t.TempDir()
	jwt := fakeJWT(map[string]any{"idtyp": "user", "upn": "dev@contoso.example"})
	exp := time.Now().Add(time.Hour).Unix()
	script := fmt.Sprintf("#!/bin/sh\necho '{\"accessToken\":\"%s\",\"expires_on\":%d,\"tokenType\":\"Bearer\"}'\n", jwt, exp)
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	src, err := New(Options{Method: MethodAzureCLI})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != jwt || tok.Kind != IdentityUser || tok.ExpiresOn.Unix() != exp {
		t.Fatalf("token %v", tok)
	}
	// az failing (not logged in) gives a SignInError with the az login hint.
	fail := "#!/bin/sh\necho 'ERROR: Please run az login to setup account.' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(fail), 0o700); err != nil {
		t.Fatal(err)
	}
	src, _ = New(Options{Method: MethodAzureCLI})
	_, err = src.Token(context.Background())
	var se *SignInError
	if !errors.As(err, &se) || !strings.Contains(se.Hint, "az login") {
		t.Fatalf("err %v", err)
	}
}

func TestKindFromClaims(t *testing.T) {
	cases := []struct {
		claims map[string]any
		want   IdentityKind
	}{
		{map[string]any{"idtyp": "user"}, IdentityUser},
		{map[string]any{"idtyp": "app", "appid": "x"}, IdentityServicePrincipal},
		{map[string]any{"idtyp": "app", "xms_mirid": "/subscriptions/x"}, IdentityManagedIdentity},
		{map[string]any{"upn": "a@b"}, IdentityUser},
		{map[string]any{"unique_name": "a@b"}, IdentityUser},
		{map[string]any{"scp": "user_impersonation"}, IdentityUser},
		{map[string]any{"appid": "x"}, IdentityServicePrincipal},
		{map[string]any{"xms_az_rid": "x"}, IdentityManagedIdentity},
		{map[string]any{}, IdentityUnknown},
	}
	for _, c := range cases {
		if got := KindFromClaims(fakeJWT(c.claims)); got != c.want {
			t.Errorf("%v: %v, want %v", c.claims, got, c.want)
		}
	}
	for _, s := range []string{"", "opaque", "a.b.c", "a.!!!.c"} {
		if KindFromClaims(s) != IdentityUnknown {
			t.Errorf("%q should be unknown", s)
		}
	}
}

func TestRequireUser(t *testing.T) {
	for _, k := range []IdentityKind{IdentityUser, IdentityUnknown} {
		if err := RequireUser(Token{Kind: k}); err != nil {
			t.Errorf("%v: %v", k, err)
		}
	}
	for _, k := range []IdentityKind{IdentityServicePrincipal, IdentityManagedIdentity} {
		err := RequireUser(Token{Kind: k})
		var nu *NotUserError
		if !errors.As(err, &nu) || errkind.Of(err) != errkind.Usage {
			t.Fatalf("%v: %v", k, err)
		}
		for _, want := range []string{"only user identities", "--auth ropc", "--auth device-code", "patrol token", k.String()} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: error lacks %q: %s", k, want, err)
			}
		}
	}
}

func TestAzidentityNetworkErrorIsTransient(t *testing.T) {
	f := newFake(t, nil)
	o := f.opts()
	o.Method = MethodClientSecret
	o.ClientSecret = "cs-net-secret"
	f.srv.Close()
	src, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Token(context.Background())
	var se *SignInError
	if !errors.As(err, &se) || !se.Retryable() || errkind.Of(err) != errkind.Transient {
		t.Fatalf("err %T %v", err, err)
	}
	if !strings.Contains(se.Description, "connection refused") || !strings.Contains(se.Hint, "could not be reached") {
		t.Fatalf("description %q hint %q", se.Description, se.Hint)
	}
	if strings.Contains(err.Error(), "cs-net-secret") {
		t.Fatal("secret leaked")
	}
}
