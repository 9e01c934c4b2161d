package emulator

import (
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// clientCredentials signs an app in with a client secret for scope; it
// returns the response and the access token ("" on failure).
func clientCredentials(t *testing.T, e *Emulator, clientID, secret, scope string) (resp, string) {
	t.Helper()
	r := do(t, e, "POST", e.URL()+"/"+DefaultTenantID+"/oauth2/v2.0/token", "", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}})
	if r.Status != 200 {
		return r, ""
	}
	var m map[string]any
	r.json(t, &m)
	return r, m["access_token"].(string)
}

func graphToken(t *testing.T, e *Emulator, clientID, secret string) string {
	t.Helper()
	r, tok := clientCredentials(t, e, clientID, secret, graphResource+"/.default")
	if tok == "" {
		t.Fatalf("Graph token for %s: %d %s", clientID, r.Status, r.Body)
	}
	return "Bearer " + tok
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type graphPassword struct {
	KeyID       string  `json:"keyId"`
	DisplayName *string `json:"displayName"`
	Hint        string  `json:"hint"`
	SecretText  *string `json:"secretText"`
	Start       string  `json:"startDateTime"`
	End         string  `json:"endDateTime"`
}

type graphApplication struct {
	Context   string          `json:"@odata.context"`
	ID        string          `json:"id"`
	AppID     string          `json:"appId"`
	Passwords []graphPassword `json:"passwordCredentials"`
}

type graphErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func wantGraphError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	var b graphErrorBody
	r.json(t, &b)
	if r.Status != status || b.Error.Code != code || b.Error.Message == "" {
		t.Fatalf("got %d %s, want %d with error.code %s", r.Status, r.Body, status, code)
	}
}

// The rotation patrol performs, step by step against Graph and the token
// endpoint: a new password signs in only after the replication delay and
// only while it exists; the old one stops when removed.
func TestGraphPasswordLifecycle(t *testing.T) {
	clock := &fakeClock{t: time.Now().UTC()}
	seed := DefaultSeed()
	seed.PasswordReplicationDelay = Duration(30 * time.Second)
	e := start(t, Options{Seed: &seed, Now: clock.now})
	auth := graphToken(t, e, DefaultSPClientID, DefaultSPSecret)
	byAppID := e.GraphURL() + "/v1.0/applications(appId='" + ManagedAppClientID + "')"
	byID := e.GraphURL() + "/v1.0/applications/" + ManagedAppAppObjectID

	r := do(t, e, "GET", byAppID, auth, nil)
	var app graphApplication
	r.json(t, &app)
	if r.Status != 200 || app.ID != ManagedAppAppObjectID || app.AppID != ManagedAppClientID || len(app.Passwords) != 1 ||
		!strings.HasSuffix(app.Context, "/v1.0/$metadata#applications/$entity") || app.Passwords[0].SecretText != nil {
		t.Fatalf("GET application: %d %s", r.Status, r.Body)
	}
	oldKey := app.Passwords[0].KeyID

	end := clock.now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	r = do(t, e, "POST", byID+"/addPassword", auth, map[string]any{"passwordCredential": map[string]any{
		"displayName": "patrol:deploy:20261202T120000Z", "endDateTime": end.Format(time.RFC3339)}})
	var added graphPassword
	r.json(t, &added)
	if r.Status != 200 || added.SecretText == nil || len(*added.SecretText) != 40 || added.Hint != (*added.SecretText)[:3] ||
		added.KeyID == "" || added.DisplayName == nil || *added.DisplayName != "patrol:deploy:20261202T120000Z" {
		t.Fatalf("addPassword: %d %s", r.Status, r.Body)
	}
	if got, _ := time.Parse(time.RFC3339Nano, added.End); !got.Equal(end) {
		t.Errorf("endDateTime = %s, want %s", added.End, end)
	}
	// Replicating: the new secret does not sign in yet, the old one does.
	if r, tok := clientCredentials(t, e, ManagedAppClientID, *added.SecretText, "https://management.azure.com/.default"); tok != "" || !strings.Contains(string(r.Body), "7000215") {
		t.Fatalf("new secret during replication: %d %s", r.Status, r.Body)
	}
	clock.add(31 * time.Second)
	if r, tok := clientCredentials(t, e, ManagedAppClientID, *added.SecretText, "https://management.azure.com/.default"); tok == "" {
		t.Fatalf("new secret after replication: %d %s", r.Status, r.Body)
	}
	if _, tok := clientCredentials(t, e, ManagedAppClientID, ManagedAppSecret, "https://management.azure.com/.default"); tok == "" {
		t.Fatal("old secret stopped before removePassword")
	}

	if r := do(t, e, "POST", byAppID+"/removePassword", auth, map[string]string{"keyId": oldKey}); r.Status != 204 {
		t.Fatalf("removePassword: %d %s", r.Status, r.Body)
	}
	if r, tok := clientCredentials(t, e, ManagedAppClientID, ManagedAppSecret, "https://management.azure.com/.default"); tok != "" || !strings.Contains(string(r.Body), "7000215") {
		t.Fatalf("removed secret still signs in: %d %s", r.Status, r.Body)
	}
	wantGraphError(t, do(t, e, "POST", byAppID+"/removePassword", auth, map[string]string{"keyId": oldKey}), 404, "Request_ResourceNotFound")
	r = do(t, e, "GET", byID, auth, nil)
	app = graphApplication{}
	r.json(t, &app)
	if len(app.Passwords) != 1 || app.Passwords[0].KeyID != added.KeyID {
		t.Fatalf("passwords after rotation: %s", r.Body)
	}
	// Expired passwords are refused with Entra's own code.
	clock.add(91 * 24 * time.Hour)
	if r, _ := clientCredentials(t, e, ManagedAppClientID, *added.SecretText, "https://management.azure.com/.default"); !strings.Contains(string(r.Body), "7000222") {
		t.Fatalf("expired secret: %d %s", r.Status, r.Body)
	}
}

func TestGraphPermissions(t *testing.T) {
	e := start(t, Options{})
	owned := e.GraphURL() + "/v1.0/applications(appId='" + ManagedAppClientID + "')"
	notOwned := e.GraphURL() + "/v1.0/applications(appId='" + ConfidentialClientID + "')"
	sp := graphToken(t, e, DefaultSPClientID, DefaultSPSecret)
	noRole := graphToken(t, e, ConfidentialClientID, ConfidentialClientSecret)

	wantGraphError(t, do(t, e, "GET", owned, "", nil), 401, "InvalidAuthenticationToken")
	// A token for another resource is not a Graph token.
	_, ado := clientCredentials(t, e, DefaultSPClientID, DefaultSPSecret, "499b84ac-1321-427f-aa17-267ca6975798/.default")
	wantGraphError(t, do(t, e, "GET", owned, "Bearer "+ado, nil), 401, "InvalidAuthenticationToken")
	// Application.ReadWrite.OwnedBy covers owned applications only.
	wantGraphError(t, do(t, e, "POST", notOwned+"/addPassword", sp, map[string]any{}), 403, "Authorization_RequestDenied")
	// An app without Graph roles may not even if it owned one.
	wantGraphError(t, do(t, e, "POST", owned+"/addPassword", noRole, map[string]any{}), 403, "Authorization_RequestDenied")
	wantGraphError(t, do(t, e, "GET", e.GraphURL()+"/v1.0/applications/00000000-0000-0000-0000-000000000000", sp, nil), 404, "Request_ResourceNotFound")
	// A delegated owner may (DefaultUser owns the managed app), another user may not.
	r, m := ropc(t, e, DefaultUser, graphResource+"/.default")
	if r.Status != 200 {
		t.Fatalf("user Graph token: %d %s", r.Status, r.Body)
	}
	if r := do(t, e, "POST", owned+"/addPassword", "Bearer "+m["access_token"].(string), map[string]any{}); r.Status != 200 {
		t.Fatalf("owner user addPassword: %d %s", r.Status, r.Body)
	}
	_, m = ropc(t, e, AdminUser, graphResource+"/.default")
	wantGraphError(t, do(t, e, "POST", owned+"/addPassword", "Bearer "+m["access_token"].(string), map[string]any{}), 403, "Authorization_RequestDenied")

	r = do(t, e, "GET", e.GraphURL()+"/v1.0/servicePrincipals(appId='"+ManagedAppClientID+"')", sp, nil)
	var spBody struct{ ID, AppID string }
	r.json(t, &spBody)
	if r.Status != 200 || spBody.ID != ManagedAppObjectID || spBody.AppID != ManagedAppClientID {
		t.Fatalf("servicePrincipals(appId): %d %s", r.Status, r.Body)
	}
}

// A federated identity credential added through Graph is what the token
// endpoint accepts for a workload identity assertion; deleted, it is not.
func TestGraphFederatedCredentials(t *testing.T) {
	e := start(t, Options{})
	sp := graphToken(t, e, DefaultSPClientID, DefaultSPSecret)
	base := e.GraphURL() + "/v1.0/applications/" + ManagedAppAppObjectID + "/federatedIdentityCredentials"
	const iss, sub = "https://vstoken.dev.azure.com/" + DefaultOrgID, "sc://contoso/Platform/deploy"
	assertion, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": iss, "sub": sub,
		"aud": []string{federatedAudience}, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("unchecked"))
	if err != nil {
		t.Fatal(err)
	}
	signIn := func() resp {
		return do(t, e, "POST", e.URL()+"/"+DefaultTenantID+"/oauth2/v2.0/token", "", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {ManagedAppClientID}, "scope": {"https://management.azure.com/.default"},
			"client_assertion_type": {assertionTypeJWT}, "client_assertion": {assertion}})
	}
	if r := signIn(); r.Status == 200 {
		t.Fatal("assertion signs in before the federated credential exists")
	}
	wantGraphError(t, do(t, e, "POST", base, sp, map[string]any{"name": "x y", "issuer": iss, "subject": sub, "audiences": []string{federatedAudience}}), 400, "Request_BadRequest")
	r := do(t, e, "POST", base, sp, map[string]any{"name": "patrol-deploy", "issuer": iss, "subject": sub, "audiences": []string{federatedAudience}})
	var fic struct{ ID, Name, Issuer, Subject string }
	r.json(t, &fic)
	if r.Status != 201 || fic.ID == "" || fic.Issuer != iss || fic.Subject != sub {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	wantGraphError(t, do(t, e, "POST", base, sp, map[string]any{"name": "again", "issuer": iss, "subject": sub, "audiences": []string{federatedAudience}}), 409, "Request_MultipleObjectsWithSameKeyValue")
	if r := signIn(); r.Status != 200 {
		t.Fatalf("assertion with federated credential: %d %s", r.Status, r.Body)
	}
	r = do(t, e, "GET", base, sp, nil)
	var list struct {
		Value []struct{ ID string } `json:"value"`
	}
	r.json(t, &list)
	if r.Status != 200 || len(list.Value) != 1 {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	if r := do(t, e, "DELETE", base+"/"+fic.ID, sp, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := signIn(); r.Status == 200 {
		t.Fatal("assertion signs in after the federated credential was deleted")
	}
}
