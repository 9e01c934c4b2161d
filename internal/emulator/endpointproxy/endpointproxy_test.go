package endpointproxy_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/emulator/endpointproxy"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/scheme"
)

const (
	toolUser = "acme-user"
	toolPass = "s3cret-pw-Zq81" // test-only value
	project  = emulator.DefaultProject
)

// tool is a third-party HTTPS tool that requires Basic auth.
type tool struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
	paths []string
}

func newTool(t *testing.T) *tool {
	tl := &tool{}
	tl.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tl.mu.Lock()
		tl.auths = append(tl.auths, r.Header.Get("Authorization"))
		tl.paths = append(tl.paths, r.URL.RequestURI())
		tl.mu.Unlock()
		u, p, ok := r.BasicAuth()
		if !ok || u != toolUser || p != toolPass {
			w.Header().Set("WWW-Authenticate", `Basic realm="acme"`)
			http.Error(w, `{"error":"bad credentials"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/ping":
			_, _ = io.WriteString(w, `{"status":"up"}`)
		case "/api/projects":
			_, _ = io.WriteString(w, `{"value":[{"id":1,"name":"alpha","state":"active"},{"id":2,"name":"beta","state":"archived"},{"id":3,"name":"gamma","state":"active"}]}`)
		case "/api/pages":
			if r.URL.Query().Get("page") == "2" {
				_, _ = io.WriteString(w, `{"items":["c"]}`)
				return
			}
			w.Header().Set("X-Next-Page", "2")
			_, _ = io.WriteString(w, `{"items":["a","b"]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(tl.Close)
	return tl
}

func (tl *tool) seen() ([]string, []string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]string(nil), tl.auths...), append([]string(nil), tl.paths...)
}

// acmeType is an endpoint type with data sources, as a manifest would declare it.
func acmeType(t *testing.T) scheme.EndpointType {
	t.Helper()
	basic, err := scheme.Lookup(scheme.UsernamePassword)
	if err != nil {
		t.Fatal(err)
	}
	return scheme.EndpointType{Name: "acmetool", DisplayName: "Acme", AuthenticationSchemes: []scheme.Scheme{basic},
		DataSources: []scheme.DataSource{
			{Name: "TestConnection", EndpointURL: "{{{endpoint.url}}}api/ping", ResultSelector: "jsonpath:$.status"},
			{Name: "Projects", EndpointURL: "{{{endpoint.url}}}api/projects?state=$(state)", ResultSelector: "jsonpath:$.value[?(@.state=='active')]",
				ResultTemplate: `{"Value":"{{id}}","DisplayValue":"{{name}}"}`},
			{Name: "Pages", EndpointURL: "{{{endpoint.url}}}api/pages?page={{page}}", ResultSelector: "jsonpath:$.items[*]",
				InitialContextTemplate:   `{"page":"1"}`,
				CallbackRequiredTemplate: `{{#headers.x-next-page}}true{{/headers.x-next-page}}`,
				CallbackContextTemplate:  `{"page":"{{{headers.x-next-page}}}"}`},
		}}
}

type fixture struct {
	emu    *emulator.Emulator
	client *devops.Client
	tool   *tool
	projID string
}

// setup starts the emulator with the tool; mods adjust its options.
func setup(t *testing.T, mods ...func(*emulator.Options)) *fixture {
	t.Helper()
	tl := newTool(t)
	seed := emulator.DefaultSeed()
	seed.EndpointTypes = append(seed.EndpointTypes, emulator.EndpointType{Name: "acmetool", DisplayName: "Acme",
		Schemes: []emulator.EndpointScheme{{Scheme: "UsernamePassword", Params: []emulator.EndpointParam{{Name: "username", Required: true}, {Name: "password", Confidential: true, Required: true}}}}})
	opts := emulator.Options{Seed: &seed, Logger: slog.New(slog.DiscardHandler),
		OutboundHTTPClient: tl.Client(), EndpointProxy: &endpointproxy.Runner{Types: []scheme.EndpointType{acmeType(t)}}}
	for _, m := range mods {
		m(&opts)
	}
	e, err := emulator.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	src, err := entra.New(entra.Options{Method: entra.MethodROPC, AuthorityHost: e.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultClientID, Username: emulator.DefaultUser, Password: emulator.DefaultPassword,
		DisableInstanceDiscovery: true, HTTPClient: e.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := devops.New(devops.Options{Organization: emulator.DefaultOrg, VSSPSURL: e.VSSPSURL(), DevOpsURL: e.DevOpsURL(),
		Token: entra.ReuseTokenSource(src, 0), HTTPClient: e.HTTPClient(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{emu: e, client: c, tool: tl, projID: emulator.DefaultProjectID}
}

func ptr(s string) *string { return &s }

func (f *fixture) create(t *testing.T, typ, user, pass string) string {
	t.Helper()
	ep, err := f.client.CreateServiceEndpoint(context.Background(), api.ServiceEndpoint{
		Name: typ + "-" + user, Type: typ, URL: f.tool.URL + "/",
		Authorization:                    &api.EndpointAuthorization{Scheme: "UsernamePassword", Parameters: map[string]*string{"username": ptr(user), "password": ptr(pass)}},
		ServiceEndpointProjectReferences: []api.ServiceEndpointProjectReference{{ProjectReference: api.ProjectReference{ID: f.projID, Name: project}, Name: typ + "-" + user}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ep.ID
}

func wantBasic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(toolUser+":"+toolPass))
}

func strs(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("result %s is not a string array: %v", raw, err)
	}
	return out
}

func TestNamedDataSourceWithTypeTemplate(t *testing.T) {
	f := setup(t)
	id := f.create(t, "acmetool", toolUser, toolPass)
	res, err := f.client.ExecuteServiceEndpointRequest(context.Background(), project, id, api.ServiceEndpointRequest{
		DataSourceDetails: &api.DataSourceDetails{DataSourceName: "Projects", Parameters: map[string]string{"state": "active"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != "ok" || res.ErrorMessage != "" || res.CallbackRequired {
		t.Fatalf("status %q error %q callback %v", res.StatusCode, res.ErrorMessage, res.CallbackRequired)
	}
	got := strs(t, res.Result)
	want := []string{`{"Value":"1","DisplayValue":"alpha"}`, `{"Value":"3","DisplayValue":"gamma"}`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("result %q, want %q", got, want)
	}
	auths, paths := f.tool.seen()
	if len(auths) != 1 || auths[0] != wantBasic() || paths[0] != "/api/projects?state=active" {
		t.Fatalf("tool saw %d calls, paths %v, right Authorization: %v", len(auths), paths, len(auths) == 1 && auths[0] == wantBasic())
	}
	if res.ActivityID == "" {
		t.Error("no activityId")
	}
	h, err := f.client.ExecutionHistory(context.Background(), project, id, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || !strings.Contains(string(h[0].Data), `"result":"succeeded"`) || !strings.Contains(string(h[0].Data), "Projects") {
		t.Fatalf("execution history: %d records %s", len(h), h)
	}
}

func TestAdHocDataSourceURLOnGenericEndpoint(t *testing.T) {
	f := setup(t)
	id := f.create(t, "generic", toolUser, toolPass)
	ctx := context.Background()
	// selected JSON without a template
	res, err := f.client.ExecuteServiceEndpointRequest(ctx, project, id, api.ServiceEndpointRequest{
		DataSourceDetails: &api.DataSourceDetails{DataSourceURL: "{{{endpoint.url}}}api/projects", ResultSelector: "jsonpath:$.value[?(@.id > 1)]"}})
	if err != nil {
		t.Fatal(err)
	}
	var objs []map[string]any
	if err := json.Unmarshal(res.Result, &objs); err != nil || res.StatusCode != "ok" {
		t.Fatalf("status %q result %s: %v", res.StatusCode, res.Result, err)
	}
	if len(objs) != 2 || objs[0]["name"] != "beta" || objs[1]["name"] != "gamma" {
		t.Fatalf("selected %v", objs)
	}
	// request's resultTemplate
	res, err = f.client.ExecuteServiceEndpointRequest(ctx, project, id, api.ServiceEndpointRequest{
		DataSourceDetails:           &api.DataSourceDetails{DataSourceURL: "{{{endpoint.url}}}api/projects", ResultSelector: "jsonpath:$.value[*].name"},
		ResultTransformationDetails: &api.ResultTransformationDetails{ResultTemplate: "project:{{defaultResultKey}}"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strs(t, res.Result); strings.Join(got, ",") != "project:alpha,project:beta,project:gamma" {
		t.Fatalf("templated %q", got)
	}
	auths, _ := f.tool.seen()
	for i, a := range auths {
		if a != wantBasic() {
			t.Fatalf("call %d: generic endpoint did not send Basic username:password", i)
		}
	}
}

func TestTestConnectionAndUnauthorized(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	good := f.create(t, "acmetool", toolUser, toolPass)
	res, err := f.client.ExecuteServiceEndpointRequest(ctx, project, good, api.ServiceEndpointRequest{
		DataSourceDetails: &api.DataSourceDetails{DataSourceName: "TestConnection"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != "ok" || strings.Join(strs(t, res.Result), ",") != "up" {
		t.Fatalf("TestConnection: %q %s", res.StatusCode, res.Result)
	}

	bad := f.create(t, "acmetool", toolUser, "wrong-password-1")
	res, err = f.client.ExecuteServiceEndpointRequest(ctx, project, bad, api.ServiceEndpointRequest{
		DataSourceDetails: &api.DataSourceDetails{DataSourceName: "TestConnection"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != "unauthorized" || res.ErrorMessage == "" || string(res.Result) != "null" {
		t.Fatalf("wrong password: status %q error %q result %s", res.StatusCode, res.ErrorMessage, res.Result)
	}
	if strings.Contains(res.ErrorMessage, "wrong-password-1") {
		t.Fatal("errorMessage leaks the password")
	}
	h, err := f.client.ExecutionHistory(ctx, project, bad, 10)
	if err != nil || len(h) != 1 || !strings.Contains(string(h[0].Data), `"result":"failed"`) {
		t.Fatalf("history of failed call: %v %s", err, h)
	}

	// Verify an edit: details with the right password over the stored bad one.
	res, err = f.client.ExecuteServiceEndpointRequest(ctx, project, bad, api.ServiceEndpointRequest{
		ServiceEndpointDetails: &api.ServiceEndpointDetails{Type: "acmetool", URL: f.tool.URL + "/",
			Authorization: &api.EndpointAuthorization{Scheme: "UsernamePassword", Parameters: map[string]*string{"username": nil, "password": ptr(toolPass)}}},
		DataSourceDetails: &api.DataSourceDetails{DataSourceName: "TestConnection"}})
	if err != nil || res.StatusCode != "ok" {
		t.Fatalf("details over stored endpoint: %v %q %q", err, res.StatusCode, res.ErrorMessage)
	}

	// Unsaved endpoint (no endpointId): serviceEndpointDetails only.
	res, err = f.client.ExecuteServiceEndpointRequest(ctx, project, "", api.ServiceEndpointRequest{
		ServiceEndpointDetails: &api.ServiceEndpointDetails{Type: "acmetool", URL: f.tool.URL + "/",
			Authorization: &api.EndpointAuthorization{Scheme: "UsernamePassword", Parameters: map[string]*string{"username": ptr(toolUser), "password": ptr("nope")}}},
		DataSourceDetails: &api.DataSourceDetails{DataSourceName: "TestConnection"}})
	if err != nil || res.StatusCode != "unauthorized" {
		t.Fatalf("unsaved endpoint: %v %q", err, res.StatusCode)
	}
}

func TestClientSidePaging(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	id := f.create(t, "acmetool", toolUser, toolPass)
	req := api.ServiceEndpointRequest{DataSourceDetails: &api.DataSourceDetails{DataSourceName: "Pages"}}
	res, err := f.client.ExecuteServiceEndpointRequest(ctx, project, id, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strs(t, res.Result), ","); got != "a,b" || !res.CallbackRequired || res.CallbackContextParameters["page"] != "2" {
		t.Fatalf("page 1: %q callback %v %v", got, res.CallbackRequired, res.CallbackContextParameters)
	}
	req.DataSourceDetails.Parameters = res.CallbackContextParameters
	res, err = f.client.ExecuteServiceEndpointRequest(ctx, project, id, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strs(t, res.Result), ","); got != "c" || res.CallbackRequired {
		t.Fatalf("page 2: %q callback %v", got, res.CallbackRequired)
	}
	_, paths := f.tool.seen()
	if strings.Join(paths, " ") != "/api/pages?page=1 /api/pages?page=2" {
		t.Fatalf("tool paths %v", paths)
	}
}

func TestRequestErrors(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	id := f.create(t, "acmetool", toolUser, toolPass)
	cases := map[string]struct {
		id   string
		req  api.ServiceEndpointRequest
		kind errkind.Kind
		msg  string
	}{
		"unknown data source": {id, api.ServiceEndpointRequest{DataSourceDetails: &api.DataSourceDetails{DataSourceName: "Nope"}}, errkind.Usage, "TestConnection, Projects, Pages"},
		"no data source":      {id, api.ServiceEndpointRequest{DataSourceDetails: &api.DataSourceDetails{}}, errkind.Usage, "dataSourceName"},
		"no endpoint":         {"", api.ServiceEndpointRequest{DataSourceDetails: &api.DataSourceDetails{DataSourceName: "TestConnection"}}, errkind.Usage, "endpointId"},
		"unknown endpoint":    {"6f1c1a52-7c43-4b0e-9a63-2b0d1f0c9e11", api.ServiceEndpointRequest{DataSourceDetails: &api.DataSourceDetails{DataSourceName: "TestConnection"}}, errkind.NotFound, "could not be found"},
		"missing macro":       {id, api.ServiceEndpointRequest{DataSourceDetails: &api.DataSourceDetails{DataSourceName: "Projects"}}, errkind.Usage, "$(state)"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := f.client.ExecuteServiceEndpointRequest(ctx, project, tc.id, tc.req)
			if err == nil {
				t.Fatal("no error")
			}
			if errkind.Of(err) != tc.kind || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("kind %v, error %v; want kind %v containing %q", errkind.Of(err), err, tc.kind, tc.msg)
			}
		})
	}
}

func TestUnreachableTool(t *testing.T) {
	f := setup(t)
	id := f.create(t, "generic", toolUser, toolPass)
	url := f.tool.URL
	f.tool.Close()
	res, err := f.client.ExecuteServiceEndpointRequest(context.Background(), project, id, api.ServiceEndpointRequest{
		DataSourceDetails: &api.DataSourceDetails{DataSourceURL: url + "/api/ping", ResultSelector: "none"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != "badGateway" || res.ErrorMessage == "" {
		t.Fatalf("status %q error %q", res.StatusCode, res.ErrorMessage)
	}
}

// lookups counts name resolutions (and answers none).
type lookups struct {
	mu    sync.Mutex
	hosts []string
}

func (l *lookups) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hosts = append(l.hosts, host)
	return nil, &net.DNSError{Err: "no such host (test resolver)", Name: host, IsNotFound: true}
}

// An endpoint outside this machine fails with a message that says how to
// allow it, without a DNS lookup or a dial; allowed, its name is resolved.
func TestOutboundOffLoopbackRefusedWithoutLookup(t *testing.T) {
	res := &lookups{}
	f := setup(t, func(o *emulator.Options) { o.OutboundResolver = res })
	ep, err := f.client.CreateServiceEndpoint(context.Background(), api.ServiceEndpoint{
		Name: "far", Type: "generic", URL: "https://tool.example.com/",
		Authorization:                    &api.EndpointAuthorization{Scheme: "UsernamePassword", Parameters: map[string]*string{"username": ptr(toolUser), "password": ptr(toolPass)}},
		ServiceEndpointProjectReferences: []api.ServiceEndpointProjectReference{{ProjectReference: api.ProjectReference{ID: f.projID}, Name: "far"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := api.ServiceEndpointRequest{DataSourceDetails: &api.DataSourceDetails{DataSourceURL: "{{{endpoint.url}}}api/ping", ResultSelector: "none"}}
	res1, err := f.client.ExecuteServiceEndpointRequest(context.Background(), project, ep.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	if res1.StatusCode != "badGateway" || !strings.Contains(res1.ErrorMessage, "--allow-outbound tool.example.com") {
		t.Errorf("status %q error %q, want badGateway and how to allow the host", res1.StatusCode, res1.ErrorMessage)
	}
	if auths, _ := f.tool.seen(); len(res.hosts) != 0 || len(auths) != 0 {
		t.Errorf("%d lookups %v and %d tool calls, want none", len(res.hosts), res.hosts, len(auths))
	}

	allowed := &lookups{}
	g := setup(t, func(o *emulator.Options) { o.OutboundResolver, o.AllowOutbound = allowed, []string{"tool.example.com"} })
	ep2, err := g.client.CreateServiceEndpoint(context.Background(), api.ServiceEndpoint{Name: "far", Type: "generic", URL: "https://tool.example.com/",
		Authorization:                    &api.EndpointAuthorization{Scheme: "UsernamePassword", Parameters: map[string]*string{"username": ptr(toolUser), "password": ptr(toolPass)}},
		ServiceEndpointProjectReferences: []api.ServiceEndpointProjectReference{{ProjectReference: api.ProjectReference{ID: g.projID}, Name: "far"}}})
	if err != nil {
		t.Fatal(err)
	}
	// The test resolver knows no address, so the call fails — with the
	// lookup's error (badGateway or a 400, as the data-source engine
	// classifies it), not with a refusal.
	res2, err := g.client.ExecuteServiceEndpointRequest(context.Background(), project, ep2.ID, req)
	msg := res2.ErrorMessage
	if err != nil {
		msg = err.Error()
	}
	if len(allowed.hosts) != 1 || strings.Contains(msg, "allow-outbound") || !strings.Contains(msg, "test resolver") {
		t.Errorf("allowed host: lookups %v, error %q; want one lookup, the resolver's error and no refusal", allowed.hosts, msg)
	}
}

func TestHTTPStatusName(t *testing.T) {
	for code, want := range map[int]string{200: "ok", 401: "unauthorized", 403: "forbidden", 404: "notFound", 429: "tooManyRequests",
		500: "internalServerError", 203: "nonAuthoritativeInformation", 0: "badGateway", 599: "599"} {
		if got := emulator.HTTPStatusName(code); got != want {
			t.Errorf("HTTPStatusName(%d) = %q, want %q", code, got, want)
		}
	}
}
