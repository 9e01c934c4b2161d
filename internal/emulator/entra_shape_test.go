package emulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// rawClaims decodes a token's claims without verifying it.
func rawClaims(t *testing.T, tok string) jwt.MapClaims {
	t.Helper()
	var m jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &m); err != nil {
		t.Fatalf("token %q: %v", tok, err)
	}
	return m
}

func tokenPost(t *testing.T, e *Emulator, form url.Values) (resp, map[string]any) {
	t.Helper()
	r := do(t, e, "POST", e.URL()+"/"+DefaultTenantID+"/oauth2/v2.0/token", "", form)
	var m map[string]any
	r.json(t, &m)
	return r, m
}

func mustToken(t *testing.T, e *Emulator, form url.Values) string {
	t.Helper()
	r, m := tokenPost(t, e, form)
	return accessTokenOf(t, r, m)
}

func accessTokenOf(t *testing.T, r resp, m map[string]any) string {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("token request: %d %s", r.Status, r.Body)
	}
	return m["access_token"].(string)
}

// Entra issues Azure DevOps, Key Vault and Microsoft Graph tokens in the v1
// shape (these resources do not set accessTokenAcceptedVersion 2): aud a
// string (the resource as requested), iss https://sts.windows.net/{tid}/,
// ver 1.0, appid/appidacr, and for users upn/unique_name and scp.
func TestAccessTokenV1Shape(t *testing.T) {
	e := start(t, Options{})
	common := func(t *testing.T, c jwt.MapClaims, aud string) {
		t.Helper()
		if got, ok := c["aud"].(string); !ok || got != aud {
			t.Errorf("aud = %#v, want the string %q", c["aud"], aud)
		}
		if c["iss"] != "https://sts.windows.net/"+DefaultTenantID+"/" {
			t.Errorf("iss = %v", c["iss"])
		}
		if c["ver"] != "1.0" || c["tid"] != DefaultTenantID || c["oid"] == nil || c["uti"] == nil {
			t.Errorf("ver/tid/oid/uti: %v", c)
		}
		if _, ok := c["azp"]; ok {
			t.Errorf("v1 tokens carry appid, not azp: %v", c)
		}
		nbf, _ := c.GetNotBefore()
		exp, _ := c.GetExpirationTime()
		if nbf == nil || exp == nil || !nbf.Before(time.Now().Add(-4*time.Minute)) {
			t.Errorf("nbf %v should lie 5 minutes before issuance, as Entra's do", nbf)
		}
	}
	t.Run("user ROPC confidential", func(t *testing.T) {
		c := rawClaims(t, mustToken(t, e, url.Values{"grant_type": {"password"}, "client_id": {DefaultClientID},
			"client_secret": {DefaultClientSecret}, "username": {DefaultUser}, "password": {DefaultPassword}, "scope": {api.Scope}}))
		common(t, c, api.ResourceID)
		if c["appid"] != DefaultClientID || c["appidacr"] != "1" || c["idtyp"] != "user" || c["upn"] != DefaultUser ||
			c["unique_name"] != DefaultUser || c["name"] != "Patrol Bot" || c["scp"] == nil || c["oid"] != DefaultUserObjectID {
			t.Errorf("user claims %v", c)
		}
		if amr, _ := c["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" {
			t.Errorf("amr = %v, want [pwd]", c["amr"])
		}
	})
	t.Run("user ROPC public", func(t *testing.T) {
		c := rawClaims(t, mustToken(t, e, url.Values{"grant_type": {"password"}, "client_id": {DefaultClientID},
			"username": {DefaultUser}, "password": {DefaultPassword}, "scope": {api.Scope}}))
		if c["appidacr"] != "0" {
			t.Errorf("public client appidacr = %v, want 0", c["appidacr"])
		}
	})
	t.Run("app secret", func(t *testing.T) {
		c := rawClaims(t, mustToken(t, e, url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultSPClientID},
			"client_secret": {DefaultSPSecret}, "scope": {api.Scope}}))
		common(t, c, api.ResourceID)
		if c["appid"] != DefaultSPClientID || c["idtyp"] != "app" || c["oid"] != DefaultSPObjectID || c["sub"] != DefaultSPObjectID {
			t.Errorf("app claims %v", c)
		}
		for _, k := range []string{"scp", "upn", "unique_name", "amr"} {
			if _, ok := c[k]; ok {
				t.Errorf("app token has %s: %v", k, c)
			}
		}
	})
	for _, res := range []string{"https://vault.azure.net", "https://graph.microsoft.com"} {
		t.Run(res, func(t *testing.T) {
			c := rawClaims(t, mustToken(t, e, url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultSPClientID},
				"client_secret": {DefaultSPSecret}, "scope": {res + "/.default"}}))
			common(t, c, res)
		})
	}
	t.Run("managed identity", func(t *testing.T) {
		req := e.URL() + "/msi/token?api-version=2019-08-01&resource=" + api.ResourceID
		var m map[string]any
		rr := doHeader(t, e, req, "X-IDENTITY-HEADER", DefaultIdentityHeader)
		rr.json(t, &m)
		c := rawClaims(t, accessTokenOf(t, rr, m))
		common(t, c, api.ResourceID)
		if c["appid"] != DefaultMIClientID || c["idtyp"] != "app" || c["xms_mirid"] == nil || c["appidacr"] != "2" {
			t.Errorf("MI claims %v", c)
		}
	})
	t.Run("token verifies for the service", func(t *testing.T) {
		if r := do(t, e, "GET", patsURL(e, DefaultOrg, ""), userToken(t, e, DefaultUser), nil); r.Status != 200 {
			t.Errorf("v1 token refused by the PAT API: %d %s", r.Status, r.Body)
		}
	})
}

func doHeader(t *testing.T, e *Emulator, u, k, v string) resp {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(k, v)
	res, err := e.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

// certAssertion signs a client assertion for DefaultSPClientID with key.
func certAssertion(t *testing.T, e *Emulator, key *rsa.PrivateKey, nbf, exp time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": DefaultSPClientID, "sub": DefaultSPClientID, "aud": e.URL() + "/" + DefaultTenantID + "/oauth2/v2.0/token",
		"jti": newGUID(), "iat": nbf.Unix(), "nbf": nbf.Unix(), "exp": exp.Unix(),
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func federatedAssertion(t *testing.T, nbf, exp time.Time) string {
	t.Helper()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": DefaultFederatedIssuer, "sub": DefaultFederatedSubject,
		"aud": []string{DefaultFederatedAudience}, "iat": nbf.Unix(), "nbf": nbf.Unix(), "exp": exp.Unix()}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Entra tolerates about five minutes of clock skew on client assertions and
// federated tokens (MSAL rounds iat/nbf to the nearest second, so nbf is
// often up to 0.5 s ahead: AADSTS700024 for half of all sign-ins without it).
func TestAssertionClockSkew(t *testing.T) {
	certPEM, keyPEM := newCert(t)
	blk, _ := pem.Decode(keyPEM)
	key, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	seed := DefaultSeed()
	for i := range seed.Apps {
		if seed.Apps[i].ClientID == DefaultSPClientID {
			seed.Apps[i].Certificates = []string{string(certPEM)}
		}
	}
	e := start(t, Options{Seed: &seed})
	now := time.Now()
	for _, tc := range []struct {
		name     string
		nbf, exp time.Time
		ok       bool
	}{
		{"nbf rounded up (0.5 s ahead)", now.Add(time.Second), now.Add(10 * time.Minute), true},
		{"nbf 2 s ahead", now.Add(2 * time.Second), now.Add(10 * time.Minute), true},
		{"nbf 4 min ahead", now.Add(4 * time.Minute), now.Add(10 * time.Minute), true},
		{"expired 2 min ago", now.Add(-10 * time.Minute), now.Add(-2 * time.Minute), true},
		{"nbf 10 min ahead", now.Add(10 * time.Minute), now.Add(20 * time.Minute), false},
		{"expired 10 min ago", now.Add(-20 * time.Minute), now.Add(-10 * time.Minute), false},
	} {
		t.Run("certificate/"+tc.name, func(t *testing.T) {
			r, m := tokenPost(t, e, url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultSPClientID},
				"client_assertion_type": {assertionTypeJWT}, "client_assertion": {certAssertion(t, e, key, tc.nbf, tc.exp)}, "scope": {api.Scope}})
			checkSkew(t, r, m, tc.ok)
		})
		t.Run("federated/"+tc.name, func(t *testing.T) {
			r, m := tokenPost(t, e, url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultSPClientID},
				"client_assertion_type": {assertionTypeJWT}, "client_assertion": {federatedAssertion(t, tc.nbf, tc.exp)}, "scope": {api.Scope}})
			checkSkew(t, r, m, tc.ok)
		})
	}
}

func checkSkew(t *testing.T, r resp, m map[string]any, ok bool) {
	t.Helper()
	if ok {
		if r.Status != 200 {
			t.Errorf("refused within the skew Entra allows: %d %s", r.Status, r.Body)
		}
		return
	}
	desc, _ := m["error_description"].(string)
	if r.Status == 200 || !strings.HasPrefix(desc, "AADSTS700024: Client assertion is not within its valid time range. Current time: ") ||
		!strings.Contains(desc, "assertion valid from ") || !strings.Contains(desc, "expiry time of assertion ") {
		t.Errorf("want AADSTS700024 with Entra's wording, got %d %s", r.Status, r.Body)
	}
}

// The emulated services accept an access token within five minutes of its
// exp (the .NET token validators' default clock skew) and refuse it after.
func TestAccessTokenClockSkew(t *testing.T) {
	e := start(t, Options{})
	e.SetFaults(Faults{TokenLifetime: Duration(time.Minute)})
	tok := userToken(t, e, DefaultUser)
	e.SetFaults(Faults{})
	now := time.Now()
	e.now = func() time.Time { return now.Add(3 * time.Minute) }
	if r := do(t, e, "GET", patsURL(e, DefaultOrg, ""), tok, nil); r.Status != 200 {
		t.Errorf("token 2 min past exp (within skew): %d %s", r.Status, r.Body)
	}
	e.now = func() time.Time { return now.Add(7 * time.Minute) }
	if r := do(t, e, "GET", patsURL(e, DefaultOrg, ""), tok, nil); r.Status != 401 {
		t.Errorf("token 6 min past exp: %d", r.Status)
	}
	e.now = time.Now
}
