package emulator

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// Response shapes of the service-endpoint area that issue 7 found to differ
// from the 7.2 spec and Microsoft's recorded examples.

func typesURL(e *Emulator, query string) string {
	return e.DevOpsURL() + "/" + DefaultOrg + "/_apis/serviceendpoint/types?api-version=7.2-preview.1" + query
}

// rawTypes decodes a types answer into generic JSON.
func rawTypes(t *testing.T, r resp) []map[string]any {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("types: %d %s", r.Status, r.Body)
	}
	var out struct {
		Count int              `json:"count"`
		Value []map[string]any `json:"value"`
	}
	r.json(t, &out)
	if out.Count != len(out.Value) {
		t.Fatalf("count %d but %d values", out.Count, len(out.Value))
	}
	return out.Value
}

func TestEndpointTypeInputModesUseSpecEnum(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)
	modes := map[string]bool{}
	for _, typ := range rawTypes(t, do(t, e, "GET", typesURL(e, ""), auth, nil)) {
		schemes, _ := typ["authenticationSchemes"].([]any)
		for _, s := range schemes {
			inputs, ok := s.(map[string]any)["inputDescriptors"].([]any)
			if !ok {
				t.Errorf("type %v scheme %v: inputDescriptors is %v, want an array", typ["name"], s.(map[string]any)["scheme"], s.(map[string]any)["inputDescriptors"])
			}
			for _, d := range inputs {
				m, _ := d.(map[string]any)["inputMode"].(string)
				modes[m] = true
			}
		}
	}
	for m := range modes {
		switch m {
		case "none", "textBox", "passwordBox", "combo", "radioButtons", "checkBox", "textArea":
		default:
			t.Errorf("inputMode %q is not in the spec's InputMode enum", m)
		}
	}
	if !modes["textBox"] || !modes["passwordBox"] {
		t.Errorf("want textBox and passwordBox among the modes, got %v", modes)
	}
}

func TestEndpointTypesCarryTypeFields(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)
	for _, typ := range rawTypes(t, do(t, e, "GET", typesURL(e, ""), auth, nil)) {
		for _, k := range []string{"endpointUrl", "inputDescriptors", "dataSources", "helpMarkDown", "iconUrl", "description"} {
			if _, ok := typ[k]; !ok {
				t.Errorf("type %v has no %q", typ["name"], k)
			}
		}
		if u, _ := typ["iconUrl"].(string); !strings.HasPrefix(u, e.DevOpsURL()+"/"+DefaultOrg+"/_apis/public/") {
			t.Errorf("type %v: iconUrl %q is not under the organization's public assets", typ["name"], u)
		}
	}
	// externaltfs tests its connection against _apis/projects, as the real type does.
	types := rawTypes(t, do(t, e, "GET", typesURL(e, "&type=externaltfs"), auth, nil))
	if len(types) != 1 {
		t.Fatalf("externaltfs: %d types", len(types))
	}
	ds, _ := json.Marshal(types[0]["dataSources"])
	if !strings.Contains(string(ds), `"name":"TestConnection"`) || !strings.Contains(string(ds), "/_apis/projects") {
		t.Errorf("externaltfs data sources: %s", ds)
	}
}

func TestEndpointTypesFilteredByPOST(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)
	names := func(ts []map[string]any) string {
		var n []string
		for _, t := range ts {
			n = append(n, t["name"].(string))
		}
		return strings.Join(n, ",")
	}
	// The spec's body: a string array.
	got := rawTypes(t, do(t, e, "POST", typesURL(e, ""), auth, []string{"GitHub", "sonarqube", "nosuchtype"}))
	if n := names(got); n != "sonarqube,github" {
		t.Errorf("POST [GitHub sonarqube nosuchtype] = %s, want sonarqube,github (served order, unknown names skipped)", n)
	}
	// Microsoft's recorded example sends {"typesFilter": [...]}.
	got = rawTypes(t, do(t, e, "POST", typesURL(e, ""), auth, map[string]any{"typesFilter": []string{"externaltfs"}}))
	if n := names(got); n != "externaltfs" {
		t.Errorf("POST {typesFilter:[externaltfs]} = %s", n)
	}
	if r := do(t, e, "POST", typesURL(e, ""), auth, map[string]any{"x": 1}); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "typesFilter") {
		t.Errorf("bad body: %d %s", r.Status, r.Body)
	}
}

func createGeneric(t *testing.T, e *Emulator, auth string, data map[string]string) api.ServiceEndpoint {
	t.Helper()
	create := api.ServiceEndpoint{Name: "generic-" + newGUID()[:8], Type: "generic", URL: "https://tool.example", Data: data,
		Authorization:                    &api.EndpointAuthorization{Scheme: "UsernamePassword", Parameters: map[string]*string{"username": to.Ptr("u"), "password": to.Ptr("p")}},
		ServiceEndpointProjectReferences: []api.ServiceEndpointProjectReference{{ProjectReference: api.ProjectReference{ID: DefaultProjectID}}}}
	return createGenericEndpoint(t, e, auth, create)
}

// createGenericEndpoint creates the endpoint through the API and returns the response.
func createGenericEndpoint(t *testing.T, e *Emulator, auth string, create api.ServiceEndpoint) api.ServiceEndpoint {
	t.Helper()
	r := do(t, e, "POST", epURL(e, "/_apis/serviceendpoint/endpoints"), auth, create)
	if r.Status != 200 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var ep api.ServiceEndpoint
	r.json(t, &ep)
	return ep
}

func TestEndpointsWithRefreshedAuthentication(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)
	a := createGeneric(t, e, auth, nil)
	createGeneric(t, e, auth, nil)
	u := e.DevOpsURL() + "/" + DefaultOrg + "/" + DefaultProject + "/_apis/serviceendpoint/endpoints?api-version=7.2-preview.4&endpointIds=" + a.ID
	body := []map[string]any{{"endpointId": a.ID, "scope": []int{}, "tokenValidityInMinutes": 5}}
	r := do(t, e, "POST", u, auth, body)
	if r.Status != http.StatusOK {
		t.Fatalf("refreshed authentication: %d %s", r.Status, r.Body)
	}
	var list api.ListOf[api.ServiceEndpoint]
	r.json(t, &list)
	if list.Count != 1 || list.Value[0].ID != a.ID || list.Value[0].Authorization.Parameters["password"] != nil {
		t.Errorf("want exactly endpoint %s with its password null: %s", a.ID, r.Body)
	}
	// It is not a create: nothing new is stored.
	var all api.ListOf[api.ServiceEndpoint]
	do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/"+DefaultProject+"/_apis/serviceendpoint/endpoints?api-version=7.2-preview.4", auth, nil).json(t, &all)
	if all.Count != 2 {
		t.Errorf("after refreshed authentication %d endpoints, want 2", all.Count)
	}
	noIDs := e.DevOpsURL() + "/" + DefaultOrg + "/" + DefaultProject + "/_apis/serviceendpoint/endpoints?api-version=7.2-preview.4"
	if r := do(t, e, "POST", noIDs, auth, body); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "endpointIds") {
		t.Errorf("without endpointIds: %d %s", r.Status, r.Body)
	}
}

func TestEndpointWithoutDataHasEmptyDataObject(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)
	ep := createGeneric(t, e, auth, nil)
	r := do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/"+DefaultProject+"/_apis/serviceendpoint/endpoints/"+ep.ID+"?api-version=7.2-preview.4", auth, nil)
	var raw map[string]json.RawMessage
	r.json(t, &raw)
	if string(raw["data"]) != "{}" {
		t.Errorf(`endpoint without data: "data" = %s, want {}`, raw["data"])
	}
}

func TestEndpointCreatedByIsIdentityRef(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)
	ep := createGeneric(t, e, auth, nil)
	r := do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/"+DefaultProject+"/_apis/serviceendpoint/endpoints/"+ep.ID+"?api-version=7.2-preview.4", auth, nil)
	var raw struct {
		CreatedBy  map[string]any `json:"createdBy"`
		ModifiedBy map[string]any `json:"modifiedBy"`
	}
	r.json(t, &raw)
	for name, who := range map[string]map[string]any{"createdBy": raw.CreatedBy, "modifiedBy": raw.ModifiedBy} {
		desc := subjectDescriptor(DefaultUserObjectID)
		want := map[string]string{
			"id": DefaultUserObjectID, "displayName": "Patrol Bot", "uniqueName": DefaultUser, "descriptor": desc,
			"url":      e.VSSPSURL() + "/" + DefaultOrg + "/_apis/Identities/" + DefaultUserObjectID,
			"imageUrl": e.DevOpsURL() + "/" + DefaultOrg + "/_apis/GraphProfile/MemberAvatars/" + desc,
		}
		for k, v := range want {
			if who[k] != v {
				t.Errorf("%s.%s = %v, want %q", name, k, who[k], v)
			}
		}
		links, _ := json.Marshal(who["_links"])
		if !strings.Contains(string(links), `"avatar":{"href":"`+want["imageUrl"]+`"}`) {
			t.Errorf("%s._links = %s", name, links)
		}
	}
}

var fractionRe = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.(\d+)`)

func TestDatesHaveAtMostSevenFractionalDigits(t *testing.T) {
	// A clock with nanosecond detail: .NET writes at most 7 digits (100 ns).
	clock := time.Date(2026, 12, 2, 7, 30, 15, 123456789, time.UTC)
	e := start(t, Options{Now: func() time.Time { return clock }})
	auth := userToken(t, e, DefaultUser)
	ep := createGeneric(t, e, auth, nil)
	if err := e.RecordEndpointExecution(ep.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.IssuePAT(DefaultUser, DefaultOrg, "issued", "vso.code", clock.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	created := createPAT(t, e, auth, DefaultOrg, api.PatTokenCreateRequest{DisplayName: "p", Scope: "vso.code", ValidTo: clock.Add(48*time.Hour + 987654321)})
	bodies := map[string][]byte{}
	get := func(name, u, a string) {
		r := do(t, e, "GET", u, a, nil)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", name, r.Status, r.Body)
		}
		bodies[name] = r.Body
	}
	get("endpoint", e.DevOpsURL()+"/"+DefaultOrg+"/"+DefaultProject+"/_apis/serviceendpoint/endpoints/"+ep.ID+"?api-version=7.2-preview.4", auth)
	get("history", e.DevOpsURL()+"/"+DefaultOrg+"/"+DefaultProject+"/_apis/serviceendpoint/"+ep.ID+"/executionhistory?api-version=7.2-preview.1", auth)
	get("pat list", patsURL(e, DefaultOrg, ""), auth)
	get("pat get", patsURL(e, DefaultOrg, "authorizationId="+created.PatToken.AuthorizationID), auth)
	get("tokenadmin", e.VSSPSURL()+"/"+DefaultOrg+"/_apis/tokenadmin/personalaccesstokens/"+e.SubjectDescriptor(DefaultUser)+"?api-version=7.2-preview.1", userToken(t, e, AdminUser))
	for name, b := range bodies {
		ms := fractionRe.FindAllSubmatch(b, -1)
		if len(ms) == 0 {
			t.Errorf("%s: no fractional date found in %s", name, b)
		}
		for _, m := range ms {
			if len(m[1]) > 7 {
				t.Errorf("%s: date %s has %d fractional digits, .NET writes at most 7", name, m[0][1:], len(m[1]))
			}
		}
	}
}
