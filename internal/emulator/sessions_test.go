package emulator

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

var caeHeaderRE = regexp.MustCompile(`^Bearer realm="([^"]*)", authorization_uri="([^"]+)", error="insufficient_claims", claims="([A-Za-z0-9+/=]+)"$`)

// TestRevokeSignInSessions: after the admin API revokes a user's sessions,
// the Azure DevOps routes refuse that user's earlier access tokens with 401
// and a CAE claims challenge, the token endpoint refuses the earlier refresh
// token with AADSTS50173, and a new sign-in (with a claims request) works.
// Other users are not affected.
func TestRevokeSignInSessions(t *testing.T) {
	e := start(t, Options{})
	r, m := ropc(t, e, DefaultUser, api.Scope+" offline_access")
	if r.Status != 200 {
		t.Fatalf("sign-in: %d %s", r.Status, r.Body)
	}
	old := "Bearer " + m["access_token"].(string)
	oldRT := m["refresh_token"].(string)
	other := userToken(t, e, AdminUser)
	cd := func(auth string) resp {
		return do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/_apis/connectionData", auth, nil)
	}
	if r := cd(old); r.Status != 200 {
		t.Fatalf("before revocation: %d", r.Status)
	}

	r = do(t, e, "POST", e.URL()+"/_emulator/users/"+url.PathEscape(DefaultUser)+"/revokeSignInSessions", "", nil)
	var ok map[string]bool
	r.json(t, &ok)
	if r.Status != 200 || !ok["value"] {
		t.Fatalf("revokeSignInSessions: %d %s", r.Status, r.Body)
	}
	for name, rr := range map[string]resp{
		"connectionData": cd(old),
		"PAT list":       do(t, e, "GET", patsURL(e, DefaultOrg, ""), old, nil),
	} {
		if rr.Status != 401 {
			t.Fatalf("%s with a token from before the revocation: %d %s", name, rr.Status, rr.Body)
		}
		h := rr.Header.Values("WWW-Authenticate")
		mm := caeHeaderRE.FindStringSubmatch(h[0])
		if mm == nil || mm[1] != DefaultTenantID || mm[2] != e.URL()+"/"+DefaultTenantID+"/oauth2/authorize" {
			t.Fatalf("%s: WWW-Authenticate %q", name, h)
		}
		raw, err := base64.StdEncoding.DecodeString(mm[3])
		var claims struct {
			AccessToken struct {
				Nbf struct {
					Essential bool   `json:"essential"`
					Value     string `json:"value"`
				} `json:"nbf"`
			} `json:"access_token"`
		}
		if err != nil || json.Unmarshal(raw, &claims) != nil || !claims.AccessToken.Nbf.Essential {
			t.Fatalf("%s: claims %q: %v", name, raw, err)
		}
		if n, err := strconv.ParseInt(claims.AccessToken.Nbf.Value, 10, 64); err != nil || time.Since(time.Unix(n, 0)) > time.Minute {
			t.Fatalf("%s: nbf value %q", name, claims.AccessToken.Nbf.Value)
		}
		if rr.Header.Get("X-VSS-ResourceTenant") != DefaultTenantID || !strings.Contains(string(rr.Body), "sessions were revoked") {
			t.Fatalf("%s: headers %v body %s", name, rr.Header, rr.Body)
		}
	}
	if r := cd(other); r.Status != 200 {
		t.Fatalf("another user's token after the revocation: %d", r.Status)
	}
	// The refresh token from before: AADSTS50173.
	r = do(t, e, "POST", e.URL()+"/"+DefaultTenantID+"/oauth2/v2.0/token", "", url.Values{
		"grant_type": {"refresh_token"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
		"refresh_token": {oldRT}, "scope": {api.Scope + " offline_access"}})
	var aerr map[string]any
	r.json(t, &aerr)
	if r.Status != 400 || aerr["error"] != "invalid_grant" || !strings.HasPrefix(aerr["error_description"].(string), "AADSTS50173:") {
		t.Fatalf("old refresh token: %d %s", r.Status, r.Body)
	}
	// A fresh sign-in answering the challenge works at once (same second).
	e.ResetCounters()
	r = do(t, e, "POST", e.URL()+"/"+DefaultTenantID+"/oauth2/v2.0/token", "", url.Values{
		"grant_type": {"password"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
		"username": {DefaultUser}, "password": {DefaultPassword}, "scope": {api.Scope},
		"claims": {`{"access_token":{"nbf":{"essential":true,"value":"1"}}}`}})
	r.json(t, &m)
	if r.Status != 200 || e.Counters()["POST /{tenant}/oauth2/v2.0/token password claims"] != 1 {
		t.Fatalf("fresh sign-in: %d %s %v", r.Status, r.Body, e.Counters())
	}
	if r := cd("Bearer " + m["access_token"].(string)); r.Status != 200 {
		t.Fatalf("token from after the revocation: %d %s", r.Status, r.Body)
	}
	// Unknown user → 404.
	if r := do(t, e, "POST", e.URL()+"/_emulator/users/nobody@contoso.example/revokeSignInSessions", "", nil); r.Status != 404 {
		t.Fatalf("unknown user: %d", r.Status)
	}
}

// TestSessionRevocationOrdering: on a fixed clock a token issued at the
// revocation instant is refused (revocation wins ties) and one issued one
// clock tick (100 ns) later is accepted; the iat claim alone (whole
// seconds) could not order them.
func TestSessionRevocationOrdering(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 8, 0, 0, 500, time.UTC)
	clk := &testClock{t: t0}
	e := start(t, Options{Now: clk.Now})
	before := userToken(t, e, DefaultUser)
	if _, err := e.RevokeSignInSessions(DefaultUser); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(dotNetTick))
	after := userToken(t, e, DefaultUser)
	cd := func(auth string) int {
		return do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/_apis/connectionData", auth, nil).Status
	}
	if cd(before) != 401 || cd(after) != 200 {
		t.Fatalf("before %d, after %d", cd(before), cd(after))
	}
}
