package emulator

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

func clientOpts(e *Emulator) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.AuthorityHost()},
		Transport: e.HTTPClient(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

// checkToken verifies the token against the emulator and returns its claims.
func checkToken(t *testing.T, e *Emulator, tok azcore.AccessToken, aud string) *tokenClaims {
	t.Helper()
	c, err := e.verifyAccessToken(tok.Token, aud)
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	if tok.ExpiresOn.Before(time.Now().Add(50 * time.Minute)) {
		t.Errorf("ExpiresOn %v too early", tok.ExpiresOn)
	}
	return c
}

var adoScope = policy.TokenRequestOptions{Scopes: []string{api.Scope}}

func TestAzidentityClientSecret(t *testing.T) {
	e := start(t, Options{})
	cred, err := azidentity.NewClientSecretCredential(DefaultTenantID, DefaultSPClientID, DefaultSPSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOpts(e), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), adoScope)
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	c := checkToken(t, e, tok, api.ResourceID)
	if c.IDTyp != "app" || c.OID != DefaultSPObjectID || c.TID != DefaultTenantID || c.AppID != DefaultSPClientID {
		t.Errorf("claims %+v", c)
	}
	if n := e.Counters()["POST /{tenant}/oauth2/v2.0/token client_credentials"]; n != 1 {
		t.Errorf("token counter = %d, want 1", n)
	}
	bad, _ := azidentity.NewClientSecretCredential(DefaultTenantID, DefaultSPClientID, "wrong",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOpts(e), DisableInstanceDiscovery: true})
	if _, err := bad.GetToken(context.Background(), adoScope); err == nil || !strings.Contains(err.Error(), "7000215") {
		t.Errorf("wrong secret: %v", err)
	}
}

func newCert(t *testing.T) (certPEM, keyPEM []byte) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "patrol-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("CERTIFICATE", der), pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
}

func TestAzidentityClientCertificate(t *testing.T) {
	certPEM, keyPEM := newCert(t)
	otherCert, otherKey := newCert(t)
	seed := DefaultSeed()
	for i := range seed.Apps {
		if seed.Apps[i].ClientID == DefaultSPClientID {
			seed.Apps[i].Certificates = []string{string(certPEM)}
		}
	}
	e := start(t, Options{Seed: &seed})
	for _, tc := range []struct {
		name      string
		cert, key []byte
		ok        bool
	}{{"registered", certPEM, keyPEM, true}, {"unregistered", otherCert, otherKey, false}} {
		t.Run(tc.name, func(t *testing.T) {
			certs, key, err := azidentity.ParseCertificates(append(append([]byte{}, tc.cert...), tc.key...), nil)
			if err != nil {
				t.Fatal(err)
			}
			cred, err := azidentity.NewClientCertificateCredential(DefaultTenantID, DefaultSPClientID, certs, key,
				&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOpts(e), DisableInstanceDiscovery: true})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(context.Background(), adoScope)
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), "700027") {
					t.Fatalf("unregistered certificate: err = %v, want AADSTS700027", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			if c := checkToken(t, e, tok, api.ResourceID); c.AppID != DefaultSPClientID {
				t.Errorf("appid %s", c.AppID)
			}
		})
	}
}

func TestAzidentityWorkloadIdentity(t *testing.T) {
	e := start(t, Options{})
	dir := t.TempDir()
	write := func(name, iss, sub string) string {
		key, _ := rsa.GenerateKey(rand.Reader, 2048)
		s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": iss, "sub": sub,
			"aud": []string{DefaultFederatedAudience}, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, sub string
		ok        bool
	}{{"match", DefaultFederatedSubject, true}, {"wrong-subject", "system:serviceaccount:other:x", false}} {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
				ClientID: DefaultSPClientID, TenantID: DefaultTenantID, TokenFilePath: write(tc.name, DefaultFederatedIssuer, tc.sub),
				ClientOptions: clientOpts(e), DisableInstanceDiscovery: true})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(context.Background(), adoScope)
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), "70021") {
					t.Fatalf("err = %v, want AADSTS70021", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			checkToken(t, e, tok, api.ResourceID)
		})
	}
}

func TestAzidentityManagedIdentity(t *testing.T) {
	e := start(t, Options{})
	t.Setenv("IDENTITY_ENDPOINT", e.URL()+"/msi/token")
	t.Setenv("IDENTITY_HEADER", DefaultIdentityHeader)
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: clientOpts(e)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), adoScope)
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	c := checkToken(t, e, tok, api.ResourceID)
	if c.kind() != kindMI || c.OID != DefaultMIObjectID {
		t.Errorf("claims %+v", c)
	}
	// Wrong header is refused.
	r := do(t, e, "GET", e.URL()+"/msi/token?api-version=2019-08-01&resource="+api.ResourceID, "", nil)
	if r.Status != 401 {
		t.Errorf("no identity header: %d", r.Status)
	}
}

func TestAzidentityDeviceCode(t *testing.T) {
	e := start(t, Options{})
	cred, err := azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{
		ClientID: DefaultClientID, TenantID: DefaultTenantID, ClientOptions: clientOpts(e), DisableInstanceDiscovery: true,
		UserPrompt: func(ctx context.Context, m azidentity.DeviceCodeMessage) error {
			if !strings.Contains(m.Message, m.UserCode) {
				t.Errorf("message %q lacks the user code", m.Message)
			}
			go func() {
				time.Sleep(300 * time.Millisecond)
				if err := e.ApproveDeviceCode(m.UserCode, MFAUser); err != nil {
					t.Error(err)
				}
			}()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, adoScope)
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	c := checkToken(t, e, tok, api.ResourceID)
	if c.UPN != MFAUser || c.IDTyp != "user" {
		t.Errorf("claims %+v", c)
	}
	if e.Counters()["POST /{tenant}/oauth2/v2.0/token device_code"] < 1 {
		t.Errorf("no device_code token request, counters %v", e.Counters())
	}
}

// TestROPCErrors checks the AADSTS codes of the password grant.
func TestROPCErrors(t *testing.T) {
	e := start(t, Options{})
	tokenURL := e.URL() + "/" + DefaultTenantID + "/oauth2/v2.0/token"
	form := func(mod func(url.Values)) url.Values {
		v := url.Values{"grant_type": {"password"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
			"username": {DefaultUser}, "password": {DefaultPassword}, "scope": {api.Scope + " offline_access"}}
		mod(v)
		return v
	}
	cases := []struct {
		name   string
		url    string
		mod    func(url.Values)
		status int
		code   float64
	}{
		{"ok", tokenURL, func(url.Values) {}, 200, 0},
		{"public client without secret", tokenURL, func(v url.Values) { v.Del("client_secret") }, 200, 0},
		{"wrong password", tokenURL, func(v url.Values) { v.Set("password", "nope") }, 400, 50126},
		{"unknown user", tokenURL, func(v url.Values) { v.Set("username", "ghost@contoso.example") }, 400, 50034},
		{"user of other tenant", tokenURL, func(v url.Values) { v.Set("username", FabrikamUser) }, 400, 50034},
		{"mfa", tokenURL, func(v url.Values) { v.Set("username", MFAUser) }, 400, 50076},
		{"disabled", tokenURL, func(v url.Values) { v.Set("username", DisabledUser) }, 400, 50057},
		{"confidential without secret", tokenURL, func(v url.Values) { v.Set("client_id", ConfidentialClientID); v.Del("client_secret") }, 401, 7000218},
		{"bad secret", tokenURL, func(v url.Values) { v.Set("client_secret", "x") }, 401, 7000215},
		{"unknown app", tokenURL, func(v url.Values) { v.Set("client_id", "00000000-0000-0000-0000-000000000001") }, 400, 700016},
		{"no consent", tokenURL, func(v url.Values) { v.Set("client_id", NoConsentClientID); v.Del("client_secret") }, 400, 65001},
		{"unknown tenant", e.URL() + "/no-such-tenant.example/oauth2/v2.0/token", func(url.Values) {}, 400, 90002},
		{"tenant by domain", e.URL() + "/" + DefaultTenantDomain + "/oauth2/v2.0/token", func(url.Values) {}, 200, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, e, "POST", tc.url, "", form(tc.mod))
			var m map[string]any
			r.json(t, &m)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.code == 0 {
				if m["access_token"] == nil || m["refresh_token"] == nil || m["expires_in"] != float64(3599) || m["token_type"] != "Bearer" {
					t.Errorf("success body %v", m)
				}
				return
			}
			codes, _ := m["error_codes"].([]any)
			if len(codes) != 1 || codes[0] != tc.code || !strings.HasPrefix(m["error_description"].(string), "AADSTS") {
				t.Errorf("body %s, want code %v", r.Body, tc.code)
			}
			if strings.Contains(string(r.Body), DefaultPassword) || strings.Contains(string(r.Body), DefaultClientSecret) {
				t.Error("error body echoes a secret")
			}
		})
	}
}

func TestRefreshTokenRotation(t *testing.T) {
	e := start(t, Options{})
	_, m := ropc(t, e, DefaultUser, api.Scope+" offline_access")
	rt1 := m["refresh_token"].(string)
	refresh := func(rt string) (resp, map[string]any) {
		r := do(t, e, "POST", e.URL()+"/"+DefaultTenantID+"/oauth2/v2.0/token", "", url.Values{
			"grant_type": {"refresh_token"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
			"refresh_token": {rt}, "scope": {api.Scope + " offline_access"}})
		var mm map[string]any
		r.json(t, &mm)
		return r, mm
	}
	r, m2 := refresh(rt1)
	if r.Status != 200 || m2["refresh_token"] == nil || m2["refresh_token"] == rt1 {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	rt2 := m2["refresh_token"].(string)
	if r, m := refresh(rt1); r.Status != 400 || m["error_codes"].([]any)[0] != float64(50173) {
		t.Errorf("reuse of rotated token: %d %s", r.Status, r.Body)
	}
	if n := e.RevokeRefreshTokens(DefaultUser); n != 1 {
		t.Errorf("revoked %d tokens, want 1", n)
	}
	if r, m := refresh(rt2); r.Status != 400 || m["error_codes"].([]any)[0] != float64(50173) {
		t.Errorf("revoked token: %d %s", r.Status, r.Body)
	}
	// Inactivity expiry (700082) with a moving clock.
	now := time.Now()
	clock := func() time.Time { return now }
	e2 := start(t, Options{Now: func() time.Time { return clock() }})
	_, m = ropc(t, e2, DefaultUser, api.Scope+" offline_access")
	now = now.Add(91 * 24 * time.Hour)
	e = e2
	if r, m := refresh(m["refresh_token"].(string)); r.Status != 400 || m["error_codes"].([]any)[0] != float64(700082) {
		t.Errorf("expired token: %d %s", r.Status, r.Body)
	}
}

func TestDiscovery(t *testing.T) {
	e := start(t, Options{})
	var oc map[string]any
	do(t, e, "GET", e.URL()+"/"+DefaultTenantID+"/v2.0/.well-known/openid-configuration", "", nil).json(t, &oc)
	for _, k := range []string{"issuer", "token_endpoint", "authorization_endpoint", "device_authorization_endpoint"} {
		if s, _ := oc[k].(string); !strings.HasPrefix(s, e.URL()+"/") {
			t.Errorf("%s = %v", k, oc[k])
		}
	}
	var realm map[string]any
	do(t, e, "GET", e.URL()+"/common/UserRealm/PATROL-BOT@Contoso.Example?api-version=1.0", "", nil).json(t, &realm)
	for _, k := range []string{"account_type", "domain_name", "cloud_instance_name", "cloud_audience_urn"} {
		if realm[k] == nil || realm[k] == "" {
			t.Errorf("userrealm lacks %s: %v", k, realm)
		}
	}
	if realm["account_type"] != "Managed" {
		t.Errorf("account_type %v", realm["account_type"])
	}
}
