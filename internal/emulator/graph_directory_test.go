package emulator

import (
	"fmt"
	"strings"
	"testing"
)

const deletedUserOID = "5f607182-93a4-45b6-c7d8-e9f0a1b2c3d4"

// directorySeed adds a user deleted in Entra ID who is still a member of
// the organization, and gives the public client delegated User.Read.All.
func directorySeed() Seed {
	s := DefaultSeed()
	s.Users = append(s.Users, User{UPN: "leaver@" + DefaultTenantDomain, Password: DefaultPassword, ObjectID: deletedUserOID,
		TenantID: DefaultTenantID, DisplayName: "Leaver", Deleted: true})
	s.Orgs[0].Members = append(s.Orgs[0].Members, "leaver@"+DefaultTenantDomain)
	for i := range s.Apps {
		if s.Apps[i].ClientID == DefaultClientID {
			s.Apps[i].ConsentedScopes = map[string][]string{graphResource: {"User.Read.All", "Application.Read.All"}}
		}
	}
	return s
}

func TestGraphUsers(t *testing.T) {
	seed := directorySeed()
	e := start(t, Options{Seed: &seed})
	sp := graphToken(t, e, DefaultSPClientID, DefaultSPSecret)
	noRole := graphToken(t, e, ConfidentialClientID, ConfidentialClientSecret)
	user := func(id, sel string) string {
		u := e.GraphURL() + "/v1.0/users/" + id
		if sel != "" {
			u += "?$select=" + sel
		}
		return u
	}
	var got map[string]any
	r := do(t, e, "GET", user(DisabledUserObjectID, "id,accountEnabled,userPrincipalName,deletedDateTime"), sp, nil)
	r.json(t, &got)
	if r.Status != 200 || got["accountEnabled"] != false || got["userPrincipalName"] != DisabledUser || got["id"] != DisabledUserObjectID ||
		got["deletedDateTime"] != nil || !strings.HasSuffix(got["@odata.context"].(string), "$metadata#users(id,accountEnabled,userPrincipalName,deletedDateTime)/$entity") {
		t.Fatalf("disabled user: %d %s", r.Status, r.Body)
	}
	if _, ok := got["displayName"]; ok {
		t.Errorf("$select returned an unselected property: %s", r.Body)
	}
	// By UPN, default properties (no accountEnabled).
	got = nil
	r = do(t, e, "GET", user(DefaultUser, ""), sp, nil)
	r.json(t, &got)
	if _, ok := got["accountEnabled"]; r.Status != 200 || ok || got["id"] != DefaultUserObjectID {
		t.Fatalf("by UPN: %d %s", r.Status, r.Body)
	}
	// Deleted in Entra: 404, as for an id that never existed; another tenant's user too.
	wantGraphError(t, do(t, e, "GET", user(deletedUserOID, "id,accountEnabled"), sp, nil), 404, "Request_ResourceNotFound")
	wantGraphError(t, do(t, e, "GET", user(FabrikamUserObjectID, ""), sp, nil), 404, "Request_ResourceNotFound")
	wantGraphError(t, do(t, e, "GET", user(DefaultUserObjectID, "id,shoeSize"), sp, nil), 400, "BadRequest")
	// Permissions: no User.Read.All → 403 (before the existence check), no token → 401.
	wantGraphError(t, do(t, e, "GET", user(DisabledUserObjectID, "accountEnabled"), noRole, nil), 403, "Authorization_RequestDenied")
	wantGraphError(t, do(t, e, "GET", user(deletedUserOID, "accountEnabled"), noRole, nil), 403, "Authorization_RequestDenied")
	wantGraphError(t, do(t, e, "GET", user(DisabledUserObjectID, ""), "", nil), 401, "InvalidAuthenticationToken")
	// Delegated: consented User.Read.All reads others; a deleted user cannot sign in.
	_, m := ropc(t, e, AdminUser, graphResource+"/.default")
	if r := do(t, e, "GET", user(DisabledUserObjectID, "accountEnabled"), "Bearer "+m["access_token"].(string), nil); r.Status != 200 {
		t.Fatalf("delegated User.Read.All: %d %s", r.Status, r.Body)
	}
	if r, _ := ropc(t, e, "leaver@"+DefaultTenantDomain, graphResource+"/.default"); r.Status != 400 || !strings.Contains(string(r.Body), "50034") {
		t.Fatalf("deleted user signs in: %d %s", r.Status, r.Body)
	}
	// Delegated Application.Read.All reads an application the user does not own.
	if r := do(t, e, "GET", e.GraphURL()+"/v1.0/applications(appId='"+ManagedAppClientID+"')", "Bearer "+m["access_token"].(string), nil); r.Status != 200 {
		t.Fatalf("delegated Application.Read.All: %d %s", r.Status, r.Body)
	}
	// Azure DevOps Graph marks the deleted user.
	r = do(t, e, "GET", e.VSSPSURL()+"/"+DefaultOrg+"/_apis/graph/users?api-version=7.1-preview.1", userToken(t, e, AdminUser), nil)
	var ul struct {
		Value []map[string]any `json:"value"`
	}
	r.json(t, &ul)
	marked := 0
	for _, u := range ul.Value {
		if u["isDeletedInOrigin"] == true {
			marked++
			if u["originId"] != deletedUserOID {
				t.Errorf("isDeletedInOrigin on %v", u)
			}
		} else if _, ok := u["isDeletedInOrigin"]; ok {
			t.Errorf("isDeletedInOrigin false is written: %v", u)
		}
	}
	if marked != 1 {
		t.Fatalf("ADO graph users: %d marked deleted: %s", marked, r.Body)
	}
}

func TestGraphBatch(t *testing.T) {
	seed := directorySeed()
	e := start(t, Options{Seed: &seed})
	sp := graphToken(t, e, DefaultSPClientID, DefaultSPSecret)
	noRole := graphToken(t, e, ConfidentialClientID, ConfidentialClientSecret)
	batch := e.GraphURL() + "/v1.0/$batch"
	reqs := []map[string]any{
		{"id": "1", "method": "GET", "url": "/users/" + DisabledUserObjectID + "?$select=id,accountEnabled"},
		{"id": "2", "method": "GET", "url": "/users/" + deletedUserOID + "?$select=id,accountEnabled"},
		{"id": "3", "method": "GET", "url": "/applications(appId='" + ManagedAppClientID + "')?$select=appId,passwordCredentials"},
		{"id": "4", "method": "GET", "url": "/nothing/here"},
		{"id": "5", "method": "GET", "url": "/v1.0/users/" + DisabledUserObjectID}, // as Microsoft's SDKs send a full URL
	}
	e.ResetCounters()
	r := do(t, e, "POST", batch, sp, map[string]any{"requests": reqs})
	var out struct {
		Responses []struct {
			ID     string         `json:"id"`
			Status int            `json:"status"`
			Body   map[string]any `json:"body"`
		} `json:"responses"`
	}
	r.json(t, &out)
	if r.Status != 200 || len(out.Responses) != 5 {
		t.Fatalf("batch: %d %s", r.Status, r.Body)
	}
	by := map[string]int{}
	for _, x := range out.Responses {
		by[x.ID] = x.Status
		if x.ID == "1" && x.Body["accountEnabled"] != false {
			t.Errorf("batched user: %v", x.Body)
		}
		if x.ID == "2" && x.Body["error"].(map[string]any)["code"] != "Request_ResourceNotFound" {
			t.Errorf("batched deleted user: %v", x.Body)
		}
	}
	if by["1"] != 200 || by["2"] != 404 || by["3"] != 200 || by["4"] != 400 || by["5"] != 200 {
		t.Fatalf("statuses %v: %s", by, r.Body)
	}
	if c := e.Counters(); c["POST /v1.0/$batch"] != 1 || c["GET /v1.0/users/{id}"] != 0 {
		t.Errorf("counters %v: the batch is one request", c)
	}
	// Sub-requests carry the batch's token: without permission each is 403, the batch 200.
	r = do(t, e, "POST", batch, noRole, map[string]any{"requests": reqs[:1]})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"status":403`) {
		t.Fatalf("batch without User.Read.All: %d %s", r.Status, r.Body)
	}
	var many []map[string]any
	for i := range maxBatchRequests + 1 {
		many = append(many, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/users/" + DefaultUserObjectID})
	}
	wantGraphError(t, do(t, e, "POST", batch, sp, map[string]any{"requests": many}), 400, "BadRequest")
	wantGraphError(t, do(t, e, "POST", batch, sp, map[string]any{"requests": []map[string]any{reqs[0], reqs[0]}}), 400, "BadRequest")
	wantGraphError(t, do(t, e, "POST", batch, "", map[string]any{"requests": reqs}), 401, "InvalidAuthenticationToken")
}
