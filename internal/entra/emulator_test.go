package entra

// Integration tests against the embedded emulator (real HTTPS on 127.0.0.1).

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/errkind"
)

func startEmulator(t testing.TB, seed *emulator.Seed) *emulator.Emulator {
	t.Helper()
	e, err := emulator.Start(context.Background(), emulator.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func emuOpts(e *emulator.Emulator) Options {
	return Options{
		AuthorityHost:            e.AuthorityHost(),
		TenantID:                 emulator.DefaultTenantID,
		ClientID:                 emulator.DefaultClientID,
		HTTPClient:               e.HTTPClient(),
		DisableInstanceDiscovery: true,
		LookupEnv:                func(string) (string, bool) { return "", false },
		retryBase:                time.Millisecond,
	}
}

const tokenRoute = "POST /{tenant}/oauth2/v2.0/token"

func TestEmulatorROPC(t *testing.T) {
	e := startEmulator(t, nil)
	cases := []struct {
		name, client, secret, user string
		wantAADSTS                 int
	}{
		{"confidential", emulator.DefaultClientID, emulator.DefaultClientSecret, emulator.DefaultUser, 0},
		{"public", emulator.DefaultClientID, "", emulator.DefaultUser, 0},
		{"confidential-only app without secret", emulator.ConfidentialClientID, "", emulator.DefaultUser, 7000218},
		{"confidential-only app with secret", emulator.ConfidentialClientID, emulator.ConfidentialClientSecret, emulator.DefaultUser, 0},
		{"mfa user", emulator.DefaultClientID, emulator.DefaultClientSecret, emulator.MFAUser, 50076},
		{"disabled user", emulator.DefaultClientID, emulator.DefaultClientSecret, emulator.DisabledUser, 50057},
		{"no consent", emulator.NoConsentClientID, "", emulator.DefaultUser, 65001},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := emuOpts(e)
			o.ClientID, o.ClientSecret = c.client, c.secret
			o.Username, o.Password = c.user, emulator.DefaultPassword
			if m, err := Resolve(o); err != nil || m != MethodROPC {
				t.Fatalf("Resolve = %q %v", m, err)
			}
			src, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := src.Token(context.Background())
			if c.wantAADSTS != 0 {
				var se *SignInError
				if !errors.As(err, &se) || se.AADSTS != c.wantAADSTS || se.Hint == "" || errkind.Of(err) != errkind.Auth {
					t.Fatalf("err = %v, want AADSTS%d with a hint", err, c.wantAADSTS)
				}
				for _, s := range []string{emulator.DefaultPassword, c.secret} {
					if s != "" && strings.Contains(err.Error(), s) {
						t.Fatal("secret leaked into the error")
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cl := Claims(tok.AccessToken)
			if tok.Kind != IdentityUser || cl["upn"] != c.user || cl["aud"] == nil || KindFromClaims(tok.AccessToken) != IdentityUser {
				t.Fatalf("token %v claims %v", tok, cl)
			}
			if err := RequireUser(tok); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEmulatorClientSecret(t *testing.T) {
	e := startEmulator(t, nil)
	o := emuOpts(e)
	o.ClientID, o.ClientSecret = emulator.DefaultSPClientID, emulator.DefaultSPSecret
	src, tok := signIn(t, o)
	if tok.Kind != IdentityServicePrincipal || KindFromClaims(tok.AccessToken) != IdentityServicePrincipal {
		t.Fatalf("token %v claims %v", tok, Claims(tok.AccessToken))
	}
	var nu *NotUserError
	if err := RequireUser(tok); !errors.As(err, &nu) {
		t.Fatalf("RequireUser(SP) = %v", err)
	}
	// wrong secret → AADSTS7000215 through azidentity
	o.ClientSecret = "wrong-secret-value"
	src, _ = New(o)
	_, err := src.Token(context.Background())
	var se *SignInError
	if !errors.As(err, &se) || se.AADSTS != 7000215 || !strings.Contains(se.Hint, "AZURE_CLIENT_SECRET") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Fatal("secret leaked")
	}
}

func TestEmulatorClientCertificate(t *testing.T) {
	dir := t.TempDir()
	certPath, cert := writeCertPEM(t, dir)
	seed := emulator.DefaultSeed()
	for i := range seed.Apps {
		if seed.Apps[i].ClientID == emulator.DefaultSPClientID {
			seed.Apps[i].Certificates = []string{string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))}
		}
	}
	e := startEmulator(t, &seed)
	o := emuOpts(e)
	o.ClientID, o.CertificatePath = emulator.DefaultSPClientID, certPath
	src, tok := signIn(t, o)
	if tok.Kind != IdentityServicePrincipal || Claims(tok.AccessToken)["appid"] != emulator.DefaultSPClientID {
		t.Fatalf("token %v claims %v", tok, Claims(tok.AccessToken))
	}
	// A certificate the app does not know is refused with the upload hint.
	other, _ := writeCertPEM(t, t.TempDir())
	o.CertificatePath = other
	src, _ = New(o)
	_, err := src.Token(context.Background())
	var se *SignInError
	if !errors.As(err, &se) || se.AADSTS != 700027 || !strings.Contains(se.Hint, "upload") {
		t.Fatalf("err = %v", err)
	}
}

func TestEmulatorWorkloadIdentity(t *testing.T) {
	e := startEmulator(t, nil)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": emulator.DefaultFederatedIssuer, "sub": emulator.DefaultFederatedSubject,
		"aud": []string{emulator.DefaultFederatedAudience}, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(sa), 0o600); err != nil {
		t.Fatal(err)
	}
	o := emuOpts(e)
	o.ClientID, o.FederatedTokenFile = emulator.DefaultSPClientID, file
	if m, _ := Resolve(o); m != MethodWorkloadIdentity {
		t.Fatalf("Resolve = %q", m)
	}
	_, tok := signIn(t, o)
	if tok.Kind != IdentityServicePrincipal || Claims(tok.AccessToken)["oid"] != emulator.DefaultSPObjectID {
		t.Fatalf("token %v claims %v", tok, Claims(tok.AccessToken))
	}
}

// FederatedToken (a ServiceAccount token obtained by the caller, e.g. the
// controller's TokenRequest) replaces the token file: it is presented as
// the client assertion, asked for again on each sign-in, and its error
// reaches the caller.
func TestEmulatorWorkloadIdentityFederatedToken(t *testing.T) {
	e := startEmulator(t, nil)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sub := emulator.DefaultFederatedSubject
	var calls int
	o := emuOpts(e)
	o.ClientID = emulator.DefaultSPClientID
	o.FederatedToken = func(context.Context) (string, error) {
		calls++
		if sub == "" {
			return "", errors.New("spec.workloadIdentity.serviceAccountRef.name: ServiceAccount x/y does not exist")
		}
		return jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": emulator.DefaultFederatedIssuer, "sub": sub,
			"aud": []string{emulator.DefaultFederatedAudience}, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
		}).SignedString(key)
	}
	if m, _ := Resolve(o); m != MethodWorkloadIdentity {
		t.Fatalf("Resolve = %q", m)
	}
	o.Method = MethodWorkloadIdentity
	if _, err := Resolve(o); err != nil {
		t.Fatalf("explicit workload-identity with FederatedToken and no file: %v", err)
	}
	_, tok := signIn(t, o)
	if tok.Kind != IdentityServicePrincipal || Claims(tok.AccessToken)["oid"] != emulator.DefaultSPObjectID || calls != 1 {
		t.Fatalf("token %v claims %v, %d calls", tok, Claims(tok.AccessToken), calls)
	}
	// Another subject: Entra finds no federated credential.
	sub = "system:serviceaccount:other:sa"
	src, _ := New(o)
	_, err = src.Token(context.Background())
	var se *SignInError
	if !errors.As(err, &se) || se.AADSTS != 70021 {
		t.Fatalf("another subject: err = %v", err)
	}
	// The getter fails: its message comes through.
	sub = ""
	src, _ = New(o)
	if _, err = src.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "spec.workloadIdentity.serviceAccountRef.name") {
		t.Fatalf("getter error: err = %v", err)
	}
}

func TestEmulatorManagedIdentity(t *testing.T) {
	e := startEmulator(t, nil)
	t.Setenv("IDENTITY_ENDPOINT", e.URL()+"/msi/token")
	t.Setenv("IDENTITY_HEADER", emulator.DefaultIdentityHeader)
	o := emuOpts(e)
	o.TenantID, o.ClientID = "", ""
	o.LookupEnv = nil
	o.CachePath = filepath.Join(t.TempDir(), "none")
	if m, err := Resolve(o); err != nil || m != MethodManagedIdentity {
		t.Fatalf("Resolve = %q %v", m, err)
	}
	_, tok := signIn(t, o)
	if tok.Kind != IdentityManagedIdentity || Claims(tok.AccessToken)["oid"] != emulator.DefaultMIObjectID {
		t.Fatalf("token %v claims %v", tok, Claims(tok.AccessToken))
	}
	if err := RequireUser(tok); err == nil {
		t.Fatal("RequireUser accepted a managed identity")
	}
}

var userCodeRE = regexp.MustCompile(`enter the code (\S+)`)

func TestEmulatorDeviceCodeThenRefresh(t *testing.T) {
	e := startEmulator(t, nil)
	o := emuOpts(e)
	o.CachePath = filepath.Join(t.TempDir(), "patrol", "token-cache.json")
	ctx := context.Background()

	// MFA user cannot use ROPC ...
	ro := o
	ro.Username, ro.Password = emulator.MFAUser, emulator.DefaultPassword
	src, _ := New(ro)
	if _, err := src.Token(ctx); err == nil || !strings.Contains(err.Error(), "patrol login") {
		t.Fatalf("ROPC for MFA user: %v", err)
	}
	// ... so it bootstraps with the device code (the "human" approves in the prompt).
	var approveErr error
	tok, err := DeviceCodeLogin(ctx, o, func(msg string) {
		m := userCodeRE.FindStringSubmatch(msg)
		if m == nil {
			approveErr = errors.New("no user code in " + msg)
			return
		}
		approveErr = e.ApproveDeviceCode(strings.TrimSuffix(m[1], "."), emulator.MFAUser)
	})
	if approveErr != nil {
		t.Fatal(approveErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if tok.Kind != IdentityUser || Claims(tok.AccessToken)["upn"] != emulator.MFAUser {
		t.Fatalf("token %v", tok)
	}
	rec0, err := (&FileTokenCache{Path: o.CachePath}).Record()
	if err != nil || rec0.Username != emulator.MFAUser || rec0.TenantID != emulator.DefaultTenantID || rec0.ClientID != emulator.DefaultClientID {
		t.Fatalf("cache %v %v", rec0, err)
	}
	if fi, _ := os.Stat(o.CachePath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache mode %o", fi.Mode().Perm())
	}

	// Later runs: auto picks device-code because the cache exists, and redeem.
	if m, err := Resolve(o); err != nil || m != MethodDeviceCode {
		t.Fatalf("Resolve = %q %v", m, err)
	}
	for run := 1; run <= 2; run++ {
		e.ResetCounters()
		src, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := src.Token(ctx)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if Claims(tok.AccessToken)["upn"] != emulator.MFAUser || tok.Kind != IdentityUser {
			t.Fatalf("run %d: token %v", run, tok)
		}
		if n := e.Counters()[tokenRoute+" refresh_token"]; n != 1 {
			t.Fatalf("run %d: refresh requests = %d (%v)", run, n, e.Counters())
		}
		rec, err := (&FileTokenCache{Path: o.CachePath}).Record()
		if err != nil || rec.RefreshToken == rec0.RefreshToken || rec.Username != emulator.MFAUser {
			t.Fatalf("run %d: rotated refresh token not saved (%v)", run, err)
		}
		rec0 = rec
	}

	// An admin revokes the sessions: the next run says to log in again.
	e.RevokeRefreshTokens(emulator.MFAUser)
	src, _ = New(o)
	_, err = src.Token(ctx)
	var se *SignInError
	if !errors.As(err, &se) || se.AADSTS != 50173 || !strings.Contains(se.Hint, "patrol login") {
		t.Fatalf("after revoke: %v", err)
	}
}

func TestEmulatorOneSignInFor100Calls(t *testing.T) {
	e := startEmulator(t, nil)
	for _, m := range []Method{MethodROPC, MethodClientSecret} {
		t.Run(string(m), func(t *testing.T) {
			o := emuOpts(e)
			o.Method = m
			if m == MethodROPC {
				o.Username, o.Password, o.ClientSecret = emulator.DefaultUser, emulator.DefaultPassword, emulator.DefaultClientSecret
			} else {
				o.ClientID, o.ClientSecret = emulator.DefaultSPClientID, emulator.DefaultSPSecret
			}
			e.ResetCounters()
			src, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			first, err := src.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 99; i++ {
				tok, err := src.Token(context.Background())
				if err != nil || tok.AccessToken != first.AccessToken {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			total := int64(0)
			for k, v := range e.Counters() {
				if strings.HasPrefix(k, tokenRoute) {
					total += v
				}
			}
			if total != 1 {
				t.Fatalf("token requests = %d, want 1 (%v)", total, e.Counters())
			}
		})
	}
}

func TestEmulatorThrottledSignInRetried(t *testing.T) {
	e := startEmulator(t, nil)
	e.SetFaults(emulator.Faults{ServerErrorRate: 1, Routes: []string{"oauth2/v2.0/token"}, Seed: 1})
	o := emuOpts(e)
	o.Username, o.Password = emulator.DefaultUser, emulator.DefaultPassword
	src, _ := New(o)
	_, err := src.Token(context.Background())
	var se *SignInError
	if !errors.As(err, &se) || !se.Retryable() || errkind.Of(err) != errkind.Transient {
		t.Fatalf("err = %v", err)
	}
	if n := e.Counters()[tokenRoute+" password"]; n != maxTries {
		t.Fatalf("attempts = %d, want %d", n, maxTries)
	}
	e.SetFaults(emulator.Faults{})
	if _, err := src.Token(context.Background()); err != nil {
		t.Fatalf("after faults cleared: %v", err)
	}
}

func BenchmarkReuseTokenSourceEmulator(b *testing.B) {
	e := startEmulator(b, nil)
	o := emuOpts(e)
	o.Username, o.Password = emulator.DefaultUser, emulator.DefaultPassword
	src, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := src.Token(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := src.Token(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := e.Counters()[tokenRoute+" password"]; n != 1 {
		b.Fatalf("sign-ins = %d, want 1", n)
	}
}

func BenchmarkSignInROPCEmulator(b *testing.B) {
	e := startEmulator(b, nil)
	o := emuOpts(e)
	o.Username, o.Password = emulator.DefaultUser, emulator.DefaultPassword
	o = o.withDefaults()
	src := ropcSource{o: o}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		if _, err := src.Token(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// Explicit permissions (auth.scopes) are requested as configured; one the
// admin did not consent fails with AADSTS65001 and a hint naming the fix.
func TestROPCExplicitScopes(t *testing.T) {
	e := startEmulator(t, nil)
	signIn := func(client string, scopes ...string) (Token, error) {
		t.Helper()
		scope, err := ParseAuthScopes(scopes)
		if err != nil {
			t.Fatal(err)
		}
		o := emuOpts(e)
		o.ClientID, o.ClientSecret, o.Scope = client, "", scope
		o.Username, o.Password = emulator.DefaultUser, emulator.DefaultPassword
		src, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		return src.Token(context.Background())
	}
	tok, err := signIn(emulator.PATManageClientID, "vso.pats", "vso.pats_manage")
	if err != nil {
		t.Fatal(err)
	}
	if scp := Claims(tok.AccessToken)["scp"]; scp != "vso.pats vso.pats_manage" {
		t.Errorf("scp = %v", scp)
	}
	_, err = signIn(emulator.PATReadClientID, "vso.pats_manage")
	var se *SignInError
	if !errors.As(err, &se) || se.AADSTS != 65001 || !strings.Contains(se.Hint, "vso.pats_manage") || !strings.Contains(se.Hint, "admin consent") {
		t.Fatalf("unconsented vso.pats_manage: %v, want AADSTS65001 with a hint naming the permission", err)
	}
}
