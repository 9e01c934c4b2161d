package conformance_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/emulator/endpointproxy"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/scheme"
)

func urlEscape(s string) string { return url.QueryEscape(s) }

// world is an emulator whose Azure DevOps traffic (patrol's own client and
// raw calls) goes through the validating transport.
type world struct {
	t      *testing.T
	e      *emulator.Emulator
	v      *validator
	http   *http.Client
	user   *devops.Client // DefaultUser
	admin  *devops.Client // AdminUser
	bearer map[string]string
	tool   *httptest.Server
}

func newWorld(t *testing.T) *world {
	t.Helper()
	tool := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"value":[{"name":"alpha","state":"wellFormed"},{"name":"beta","state":"deleting"}]}`)
	}))
	t.Cleanup(tool.Close)
	e, err := emulator.Start(context.Background(), emulator.Options{Logger: slog.New(slog.DiscardHandler),
		OutboundHTTPClient: tool.Client(), EndpointProxy: &endpointproxy.Runner{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	v := &validator{t: t, next: e.HTTPClient().Transport, set: loadSpecs(t)}
	hc := &http.Client{Transport: v, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	w := &world{t: t, e: e, v: v, http: hc, bearer: map[string]string{}, tool: tool}
	w.user = w.client(emulator.DefaultUser)
	w.admin = w.client(emulator.AdminUser)
	return w
}

func (w *world) token(upn string) entra.TokenSource {
	src, err := entra.New(entra.Options{Method: entra.MethodROPC, AuthorityHost: w.e.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultClientID, ClientSecret: emulator.DefaultClientSecret, Username: upn, Password: emulator.DefaultPassword,
		DisableInstanceDiscovery: true, HTTPClient: w.e.HTTPClient()})
	if err != nil {
		w.t.Fatal(err)
	}
	return entra.ReuseTokenSource(src, 0)
}

func (w *world) client(upn string) *devops.Client {
	c, err := devops.New(devops.Options{Organization: emulator.DefaultOrg, VSSPSURL: w.e.VSSPSURL(), DevOpsURL: w.e.DevOpsURL(),
		Token: w.token(upn), HTTPClient: w.http, Logger: slog.New(slog.DiscardHandler), MaxAttempts: 1})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// auth is a Bearer header for upn.
func (w *world) auth(upn string) string {
	if a, ok := w.bearer[upn]; ok {
		return a
	}
	tok, err := w.token(upn).Token(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	w.bearer[upn] = "Bearer " + tok.AccessToken
	return w.bearer[upn]
}

// reply is a raw answer.
type reply struct {
	status int
	body   []byte
}

// call sends a raw request through the validator.
func (w *world) call(method, u, auth string, body any) reply {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		w.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := w.http.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, b}
}

func (w *world) must(r reply, want int, what string) []byte {
	w.t.Helper()
	if r.status != want {
		w.t.Fatalf("%s: %d %s, want %d", what, r.status, r.body, want)
	}
	return r.body
}

func (w *world) devops(path string) string {
	return w.e.DevOpsURL() + "/" + emulator.DefaultOrg + path
}

func (w *world) vssps(path string) string { return w.e.VSSPSURL() + "/" + emulator.DefaultOrg + path }

// TestSpecConformance exercises every operation the emulator serves,
// validates each request the emulator accepted and each answer against the
// 7.2 specs (kin-openapi), checks every date and error body, and fails for
// any difference that is not a documented exception, for exceptions that no
// longer apply, and for served routes without coverage.
func TestSpecConformance(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	admin := w.auth(emulator.AdminUser)

	// ---- PAT lifecycle (tokens-7.2.json) ----
	created, err := w.user.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: "conformance", Scope: "vso.code vso.serviceendpoint_manage", ValidTo: time.Now().Add(72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.user.GetPAT(ctx, created.AuthorizationID); err != nil {
		t.Fatal(err)
	}
	name := "conformance-renamed"
	if _, err := w.user.UpdatePAT(ctx, api.PatTokenUpdateRequest{AuthorizationID: created.AuthorizationID, DisplayName: &name}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range w.user.ListPATs(ctx, devops.ListOptions{Filter: api.FilterAll, Sort: api.SortDisplayDate, PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("list: no PATs")
	}
	// An error in a 200 body (patTokenError) is part of the contract too.
	w.must(w.call("POST", w.vssps("/_apis/tokens/pats?api-version=7.2-preview.1"), w.auth(emulator.DefaultUser),
		map[string]any{"displayName": "", "scope": "vso.code", "validTo": time.Now().Add(time.Hour), "allOrgs": false}), 200, "create without name")
	// Refused requests answer VSS errors.
	w.call("GET", w.vssps("/_apis/tokens/pats"), w.auth(emulator.DefaultUser), nil)
	w.call("GET", w.vssps("/_apis/tokens/pats?api-version=7.2-preview.1"), "", nil)
	if _, err := w.user.VerifyPAT(ctx, *created.Token); err != nil { // connectionData with the PAT
		t.Fatal(err)
	}
	w.must(w.call("GET", w.vssps("/_apis/connectionData"), w.auth(emulator.DefaultUser), nil), 200, "vssps connectionData")

	// ---- TokenAdmin (tokenAdmin-7.2.json) ----
	desc := w.e.SubjectDescriptor(emulator.DefaultUser)
	for _, err := range w.admin.ListUserPATs(ctx, desc, false) {
		if err != nil {
			t.Fatal(err)
		}
	}
	w.must(w.call("GET", w.vssps("/_apis/tokenadmin/personalaccesstokens/"+desc+"?api-version=7.2-preview.1&pageSize=1"), admin, nil), 200, "tokenadmin page")
	w.must(w.call("POST", w.vssps("/_apis/tokenadmin/revocationrules?api-version=7.2-preview.1"), admin,
		map[string]any{"scopes": "vso.nonexistent", "createdBefore": time.Now().UTC()}), 201, "revocation rule")
	second, err := w.user.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: "to-revoke", Scope: "vso.code", ValidTo: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.admin.RevokeAuthorizations(ctx, []string{second.AuthorizationID}); err != nil {
		t.Fatal(err)
	}
	w.call("GET", w.vssps("/_apis/tokenadmin/personalaccesstokens/"+desc+"?api-version=7.2-preview.1"), w.auth(emulator.DefaultUser), nil) // not an admin

	// ---- Service endpoints (serviceEndpoint-7.2.json) ----
	types, err := w.user.ListServiceEndpointTypes(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scheme.FromAPI(types); err != nil { // patrol's scheme engine reads the served types
		t.Fatalf("scheme.FromAPI: %v", err)
	}
	w.must(w.call("POST", w.devops("/_apis/serviceendpoint/types?api-version=7.2-preview.1"), w.auth(emulator.DefaultUser), []string{"generic", "github"}), 200, "filtered types")
	proj := []api.ServiceEndpointProjectReference{{ProjectReference: api.ProjectReference{ID: emulator.DefaultProjectID, Name: emulator.DefaultProject}, Name: "conf-generic"}}
	ep, err := w.user.CreateServiceEndpoint(ctx, api.ServiceEndpoint{Name: "conf-generic", Type: "generic", URL: w.tool.URL + "/",
		Authorization:                    &api.EndpointAuthorization{Scheme: "UsernamePassword", Parameters: map[string]*string{"username": ptr("u"), "password": ptr("p")}},
		ServiceEndpointProjectReferences: proj})
	if err != nil {
		t.Fatal(err)
	}
	ep2, err := w.user.CreateServiceEndpoint(ctx, api.ServiceEndpoint{Name: "conf-rm", Type: "azurerm", URL: "https://management.azure.com/",
		Data:                             map[string]string{"environment": "AzureCloud", "scopeLevel": "Subscription", "subscriptionId": "1272a66f-e2e8-4e88-ab43-487409186c3f"},
		Authorization:                    &api.EndpointAuthorization{Scheme: "ServicePrincipal", Parameters: map[string]*string{"serviceprincipalid": ptr("sp"), "serviceprincipalkey": ptr("k"), "tenantid": ptr(emulator.DefaultTenantID)}},
		ServiceEndpointProjectReferences: []api.ServiceEndpointProjectReference{{ProjectReference: api.ProjectReference{ID: emulator.DefaultProjectID}, Name: "conf-rm"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.user.GetServiceEndpoint(ctx, emulator.DefaultProject, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.user.ListServiceEndpoints(ctx, emulator.DefaultProject, devops.EndpointFilter{Type: "generic", AuthSchemes: []string{"UsernamePassword"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.user.ListServiceEndpoints(ctx, emulator.DefaultProject, devops.EndpointFilter{Names: []string{"conf-generic"}}); err != nil {
		t.Fatal(err)
	}
	w.must(w.call("POST", w.devops("/"+emulator.DefaultProject+"/_apis/serviceendpoint/endpoints?api-version=7.2-preview.4&endpointIds="+ep.ID), w.auth(emulator.DefaultUser),
		[]map[string]any{{"endpointId": ep.ID, "scope": []int{}, "tokenValidityInMinutes": 5}}), 200, "refreshed authentication")
	got.Authorization.Parameters["password"] = ptr("p2")
	if _, err := w.user.UpdateServiceEndpoint(ctx, got, ""); err != nil {
		t.Fatal(err)
	}
	ep2.Description = ptr("batch")
	w.must(w.call("PUT", w.devops("/_apis/serviceendpoint/endpoints?api-version=7.2-preview.4"), w.auth(emulator.DefaultUser), []api.ServiceEndpoint{ep2}), 200, "update many")
	if err := w.user.ShareServiceEndpoint(ctx, ep.ID, []api.ServiceEndpointProjectReference{{ProjectReference: api.ProjectReference{ID: emulator.DefaultProjectID}, Name: "conf-generic"}}); err != nil {
		t.Fatal(err)
	}
	res, err := w.user.ExecuteServiceEndpointRequest(ctx, emulator.DefaultProject, ep.ID, api.ServiceEndpointRequest{
		DataSourceDetails: &api.DataSourceDetails{DataSourceURL: "{{{endpoint.url}}}_apis/projects", ResultSelector: "jsonpath:$.value[*].name"}})
	if err != nil || res.StatusCode != "ok" {
		t.Fatalf("endpointproxy: %+v %v", res, err)
	}
	// Verify of an unsaved connection: serviceEndpointDetails, no endpointId.
	if _, err := w.user.ExecuteServiceEndpointRequest(ctx, emulator.DefaultProject, "", api.ServiceEndpointRequest{
		ServiceEndpointDetails: &api.ServiceEndpointDetails{Type: "generic", URL: w.tool.URL + "/", Authorization: &api.EndpointAuthorization{Scheme: "UsernamePassword", Parameters: map[string]*string{"username": ptr("u"), "password": ptr("p")}}},
		DataSourceDetails:      &api.DataSourceDetails{DataSourceURL: "{{{endpoint.url}}}_apis/projects", ResultSelector: "jsonpath:$.value[*].name"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.user.ExecutionHistory(ctx, emulator.DefaultProject, ep.ID, 5); err != nil {
		t.Fatal(err)
	}
	w.call("GET", w.devops("/"+emulator.DefaultProject+"/_apis/serviceendpoint/endpoints/"+ep.ID+"?api-version=7.2-preview.4"), "", nil) // unauthenticated
	w.must(w.call("GET", types[0].IconURL, "", nil), 200, "type icon")
	if err := w.user.DeleteServiceEndpoint(ctx, ep2.ID, []string{emulator.DefaultProjectID}, false); err != nil {
		t.Fatal(err)
	}

	// ---- Variable groups, projects, discovery: no spec in ../shared/specs ----
	vg := w.must(w.call("POST", w.devops("/"+emulator.DefaultProject+"/_apis/distributedtask/variablegroups?api-version="+api.VariableGroupAPIVersion), w.auth(emulator.DefaultUser),
		api.VariableGroup{Name: "conf", Type: "Vsts", Variables: map[string]api.VariableValue{"A": {Value: ptr("1")}, "S": {Value: ptr("s"), IsSecret: true}}}), 200, "create variable group")
	var group api.VariableGroup
	_ = json.Unmarshal(vg, &group)
	w.must(w.call("POST", w.devops("/_apis/distributedtask/variablegroups?api-version="+api.VariableGroupAPIVersion), w.auth(emulator.DefaultUser),
		map[string]any{"name": "conf-org", "type": "Vsts", "variables": map[string]any{"A": map[string]any{"value": "1"}},
			"variableGroupProjectReferences": []any{map[string]any{"name": "conf-org", "projectReference": map[string]any{"id": emulator.DefaultProjectID}}}}), 200, "create variable group (org)")
	if _, err := w.user.ListVariableGroups(ctx, emulator.DefaultProject, "conf*"); err != nil {
		t.Fatal(err)
	}
	g, err := w.user.GetVariableGroup(ctx, emulator.DefaultProject, group.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.user.UpdateVariableGroup(ctx, g.ID, g); err != nil {
		t.Fatal(err)
	}
	w.must(w.call("PUT", w.devops("/"+emulator.DefaultProject+"/_apis/distributedtask/variablegroups/"+strconv.Itoa(g.ID)+"?api-version="+api.VariableGroupAPIVersion), w.auth(emulator.DefaultUser), g), 200, "update variable group (project)")
	w.must(w.call("GET", w.devops("/_apis/projects?api-version=7.1"), w.auth(emulator.DefaultUser), nil), 200, "projects")
	w.must(w.call("GET", w.devops("/_apis/projects/"+emulator.DefaultProject+"?api-version=7.1"), w.auth(emulator.DefaultUser), nil), 200, "project")
	for _, base := range []string{w.devops(""), w.vssps("")} {
		w.must(w.call("OPTIONS", base+"/_apis", "", nil), 200, "locations")
		w.must(w.call("OPTIONS", base+"/_apis/serviceendpoint", "", nil), 200, "area locations")
		w.must(w.call("GET", base+"/_apis/ResourceAreas", "", nil), 200, "resource areas")
		w.must(w.call("GET", base+"/_apis/ResourceAreas/1814ab31-2f4f-4a9f-8761-f4d77dc5a5d7", "", nil), 200, "resource area")
		w.must(w.call("GET", base+"/_signin", "", nil), 203, "sign-in page")
	}
	w.must(w.call("GET", w.devops(""), w.auth(emulator.DefaultUser), nil), 200, "organization probe")
	w.must(w.call("GET", w.devops("/_apis/connectionData"), "Basic "+base64.StdEncoding.EncodeToString([]byte(":"+*created.Token)), nil), 200, "connectionData")
	audit := w.e.AuditURL() + "/" + emulator.DefaultOrg
	w.must(w.call("OPTIONS", audit+"/_apis", "", nil), 200, "audit locations")
	w.must(w.call("OPTIONS", audit+"/_apis/audit", "", nil), 200, "audit area locations")
	w.must(w.call("GET", audit+"/_apis/ResourceAreas", "", nil), 200, "audit resource areas")
	w.must(w.call("GET", audit+"/_apis/ResourceAreas/94ff054d-5ee1-413d-9341-3f4a7827de2e", "", nil), 200, "audit resource area")
	w.must(w.call("GET", w.vssps("/_apis/graph/users?api-version=7.1-preview.1"), w.auth(emulator.DefaultUser), nil), 200, "graph users")
	w.must(w.call("POST", w.e.URL()+"/_emulator/pats/"+created.AuthorizationID+"/discovered", "", nil), 204, "public discovery")
	w.must(w.call("GET", audit+"/_apis/audit/auditlog?api-version=7.1-preview.1&batchSize=5", w.auth(emulator.AdminUser), nil), 200, "audit log")

	// The service-principal answer of the PAT API (302 to the sign-in page).
	w.call("GET", w.vssps("/_apis/tokens/pats?api-version=7.2-preview.1"), spAuth(t, w), nil)

	// Revoke last (the PAT is used above).
	if err := w.user.RevokePAT(ctx, created.AuthorizationID); err != nil {
		t.Fatal(err)
	}
	if err := w.user.DeleteServiceEndpoint(ctx, ep.ID, []string{emulator.DefaultProjectID}, false); err != nil {
		t.Fatal(err)
	}

	w.v.report(t, "spec")
	checkCoverage(t, w.e)
}

func ptr(s string) *string { return &s }

// spAuth is a Bearer header of the seed's service principal.
func spAuth(t *testing.T, w *world) string {
	t.Helper()
	return bearerFor(t, w.e, url.Values{"grant_type": {"client_credentials"}, "client_id": {emulator.DefaultSPClientID},
		"client_secret": {emulator.DefaultSPSecret}, "scope": {api.Scope}})
}

// bearerFor redeems a token-endpoint form directly (the emulator's clock
// decides validity, not the test's) and returns the Bearer header.
func bearerFor(t *testing.T, e *emulator.Emulator, form url.Values) string {
	t.Helper()
	res, err := e.HTTPClient().PostForm(e.URL()+"/"+emulator.DefaultTenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token (%s): %v", form.Get("grant_type"), err)
	}
	return "Bearer " + tok.AccessToken
}

// checkCoverage fails for a served route the conformance run did not reach
// (Azure DevOps routes) or that coverage does not account for.
func checkCoverage(t *testing.T, e *emulator.Emulator) {
	t.Helper()
	counts := e.Counters()
	served := map[string]bool{}
	for _, r := range e.Routes() {
		key := r.Key()
		served[key] = true
		why, listed := coverage[key]
		switch {
		case !listed:
			t.Errorf("route %s has no conformance coverage: exercise it in TestSpecConformance and list it in coverage (conformance/coverage_test.go) with its spec operation or the reason it has none", key)
		case strings.HasPrefix(why, "spec ") || strings.HasPrefix(why, "nospec "):
			if counts[key] == 0 {
				t.Errorf("route %s (%s) was not exercised by TestSpecConformance", key, why)
			}
		}
	}
	for key := range coverage {
		if !served[key] {
			t.Errorf("coverage lists %s, which the emulator no longer serves: remove it", key)
		}
	}
}
