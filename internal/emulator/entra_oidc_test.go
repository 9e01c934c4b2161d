package emulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/patrol-dev/patrol/internal/devops/api"
)

// A federated credential with issuerDiscovery verifies the token as Entra
// does: the issuer's OIDC discovery document (over https, the issuer a
// loopback server trusted through OutboundHTTPClient), then its JWKS, the
// key chosen by kid — RSA and EC keys; a token signed by another key, an
// unknown kid, a discovery document naming another issuer or an
// unreachable issuer are refused.
func TestFederatedIssuerDiscovery(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b64 := base64.RawURLEncoding.EncodeToString
	var issuer string
	var docIssuer atomic.Value // the issuer the discovery document states
	var broken atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, 200, map[string]string{"issuer": docIssuer.Load().(string), "jwks_uri": issuer + "/openid/v1/jwks"})
	})
	mux.HandleFunc("/openid/v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"keys": []map[string]string{
			{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
			{"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b64(ecKey.X.FillBytes(make([]byte, 32))), "y": b64(ecKey.Y.FillBytes(make([]byte, 32)))},
			{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
		}})
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	issuer = srv.URL
	docIssuer.Store(issuer)
	const sub = "system:serviceaccount:ci:deployer"
	seed := DefaultSeed()
	for i := range seed.Apps {
		if seed.Apps[i].ClientID == DefaultSPClientID {
			seed.Apps[i].FederatedCredentials = append(seed.Apps[i].FederatedCredentials, FederatedCredential{Issuer: issuer, Subject: sub, IssuerDiscovery: true})
		}
	}
	e := start(t, Options{Seed: &seed, OutboundHTTPClient: srv.Client()})
	token := func(m jwt.SigningMethod, kid string, key crypto.Signer) string {
		tok := jwt.NewWithClaims(m, jwt.MapClaims{"iss": issuer, "sub": sub, "aud": []string{DefaultFederatedAudience},
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exchange := func(assertion string) resp {
		return do(t, e, "POST", e.URL()+"/"+DefaultTenantID+"/oauth2/v2.0/token", "", url.Values{"grant_type": {"client_credentials"},
			"client_id": {DefaultSPClientID}, "scope": {api.Scope}, "client_assertion_type": {assertionTypeJWT}, "client_assertion": {assertion}})
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name      string
		assertion string
		status    int
		code      string
	}{
		{"rsa", token(jwt.SigningMethodRS256, "rsa-1", rsaKey), 200, ""},
		{"ec", token(jwt.SigningMethodES256, "ec-1", ecKey), 200, ""},
		{"other-key", token(jwt.SigningMethodRS256, "rsa-1", other), 401, "AADSTS700027"},
		{"unknown-kid", token(jwt.SigningMethodRS256, "rsa-2", rsaKey), 401, "AADSTS700027"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(tc.assertion)
			if r.Status != tc.status || !strings.Contains(string(r.Body), tc.code) {
				t.Errorf("%d %s, want %d %s", r.Status, r.Body, tc.status, tc.code)
			}
		})
	}
	good := token(jwt.SigningMethodRS256, "rsa-1", rsaKey)
	docIssuer.Store("https://elsewhere.example")
	if r := exchange(good); r.Status != 401 || !strings.Contains(string(r.Body), "AADSTS50166") || !strings.Contains(string(r.Body), "elsewhere.example") {
		t.Errorf("discovery document of another issuer: %d %s", r.Status, r.Body)
	}
	docIssuer.Store(issuer)
	broken.Store(true)
	if r := exchange(good); r.Status != 401 || !strings.Contains(string(r.Body), "AADSTS50166") || !strings.Contains(string(r.Body), "HTTP 503") {
		t.Errorf("unreachable discovery: %d %s", r.Status, r.Body)
	}
	broken.Store(false)
	// Without the CA the issuer's certificate is not trusted.
	e2 := start(t, Options{Seed: &seed})
	r := do(t, e2, "POST", e2.URL()+"/"+DefaultTenantID+"/oauth2/v2.0/token", "", url.Values{"grant_type": {"client_credentials"},
		"client_id": {DefaultSPClientID}, "scope": {api.Scope}, "client_assertion_type": {assertionTypeJWT}, "client_assertion": {good}})
	if r.Status != 401 || !strings.Contains(string(r.Body), "AADSTS50166") || !strings.Contains(string(r.Body), "certificate") {
		t.Errorf("untrusted issuer certificate: %d %s", r.Status, r.Body)
	}
}
