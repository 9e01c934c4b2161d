package sink_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/sink"
)

const (
	epID   = "8b7c6d5e-4f3a-4b2c-9d1e-0f1a2b3c4d5e"
	secret = "n3wpat5ecretn3wpat5ecretn3wpat5ecretn3wpat5ecretabcd"
)

func devopsEmulator(t *testing.T) (*emulator.Emulator, *devops.Client) {
	t.Helper()
	seed := emulator.DefaultSeed()
	seed.ServiceEndpoints = append(seed.ServiceEndpoints, emulator.SeedEndpoint{
		ID: epID, Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: "sonar", Type: "sonarqube",
		URL: "https://sonar.example", Scheme: "UsernamePassword", Parameters: map[string]string{"username": "old-token", "password": "keep-me"},
	})
	seed.VariableGroups = append(seed.VariableGroups, emulator.SeedVariableGroup{
		Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: "ado-creds",
		Variables: map[string]emulator.SeedVar{"OTHER_SECRET": {Value: "keep-me-too", IsSecret: true}, "PLAIN": {Value: "x"}},
	})
	return startDevOps(t, emulator.Options{Seed: &seed})
}

// startDevOps starts the emulator with opts (Addr and Logger filled in) and
// a devops.Client signed in as the default user.
func startDevOps(t *testing.T, opts emulator.Options) (*emulator.Emulator, *devops.Client) {
	t.Helper()
	opts.Addr, opts.Logger = "127.0.0.1:0", slog.New(slog.DiscardHandler)
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
	return e, c
}

func build(t *testing.T, params string, deps sink.Deps) sink.Sink {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(params), &m); err != nil {
		t.Fatal(err)
	}
	s, err := sink.Build(sink.Spec{Type: m["type"].(string), Params: json.RawMessage(params), Where: "test"}, deps)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var meta = sink.Meta{Credential: "sonar", AuthorizationID: "4ab5764f-4193-4f1d-b995-64144880b7d7", ValidTo: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), RotatedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}

func TestServiceEndpointSink(t *testing.T) {
	for _, ref := range []string{`"endpointId":"` + epID + `"`, `"endpointName":"sonar"`} {
		t.Run(ref, func(t *testing.T) {
			e, c := devopsEmulator(t)
			e.SetEndpointBehavior(emulator.EndpointBehavior{InProgressPolls: 2})
			s := build(t, `{"type":"azure-devops-service-endpoint","project":"Platform",`+ref+`,"parameter":"username","scheme":"UsernamePassword","pollInterval":"10ms"}`, sink.Deps{DevOps: c})
			ctx := context.Background()
			h, err := s.Read(ctx)
			if err != nil || !h.Present || h.AuthorizationID != "" {
				t.Fatalf("before: %+v %v", h, err)
			}
			if err := s.Write(ctx, secret, meta); err != nil {
				t.Fatal(err)
			}
			if v, _ := e.ServiceEndpointSecret(emulator.DefaultOrg, epID, "username"); v != secret {
				t.Fatalf("stored parameter %q", v)
			}
			if v, _ := e.ServiceEndpointSecret(emulator.DefaultOrg, epID, "password"); v != "keep-me" {
				t.Fatalf("other confidential parameter lost: %q (secret-null rule)", v)
			}
			h, err = s.Read(ctx)
			if err != nil || h.AuthorizationID != meta.AuthorizationID || !h.ValidTo.Equal(meta.ValidTo) || !h.RotatedAt.Equal(meta.RotatedAt) {
				t.Fatalf("after: %+v %v", h, err)
			}
		})
	}
}

func TestServiceEndpointSinkErrors(t *testing.T) {
	e, c := devopsEmulator(t)
	ctx := context.Background()
	wrong := build(t, `{"type":"azure-devops-service-endpoint","project":"Platform","endpointId":"`+epID+`","parameter":"apitoken","scheme":"Token"}`, sink.Deps{DevOps: c})
	if err := wrong.Write(ctx, secret, meta); err == nil || !strings.Contains(err.Error(), `not "Token"`) {
		t.Fatalf("scheme check: %v", err)
	}
	missing := build(t, `{"type":"azure-devops-service-endpoint","project":"Platform","endpointName":"nope","parameter":"username"}`, sink.Deps{DevOps: c})
	if _, err := missing.Read(ctx); errkind.Of(err) != errkind.NotFound {
		t.Fatalf("missing endpoint: %v", err)
	}
	e.SetEndpointBehavior(emulator.EndpointBehavior{Fail: true})
	s := build(t, `{"type":"azure-devops-service-endpoint","project":"Platform","endpointId":"`+epID+`","parameter":"username","pollInterval":"10ms"}`, sink.Deps{DevOps: c})
	err := s.Write(ctx, secret, meta)
	if err == nil || !strings.Contains(err.Error(), "ready") || strings.Contains(err.Error(), secret) {
		t.Fatalf("failed endpoint: %v", err)
	}
	for params, want := range map[string]string{
		`{"type":"azure-devops-service-endpoint","project":"P","parameter":"x"}`:                                     "exactly one",
		`{"type":"azure-devops-service-endpoint","project":"P","endpointId":"a","endpointName":"b","parameter":"x"}`: "exactly one",
		`{"type":"azure-devops-service-endpoint","project":"P","endpointId":"a"}`:                                    "parameter is missing",
		`{"type":"azure-devops-service-endpoint","endpointId":"a","parameter":"x"}`:                                  "project",
	} {
		if err := sink.Validate(sink.Spec{Type: "azure-devops-service-endpoint", Params: json.RawMessage(params)}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", params, err)
		}
	}
}

func TestVariableGroupSink(t *testing.T) {
	e, c := devopsEmulator(t)
	ctx := context.Background()
	s := build(t, `{"type":"azure-devops-variable-group","project":"Platform","groupName":"ado-creds","variable":"ADO_PAT"}`, sink.Deps{DevOps: c})
	h, err := s.Read(ctx)
	if err != nil || h.Present {
		t.Fatalf("before: %+v %v", h, err)
	}
	if err := s.Write(ctx, secret, meta); err != nil {
		t.Fatal(err)
	}
	gs, err := c.ListVariableGroups(ctx, "Platform", "ado-creds")
	if err != nil || len(gs) != 1 {
		t.Fatal(err)
	}
	id := gs[0].ID
	if v, _ := e.VariableGroupValue(emulator.DefaultOrg, id, "ADO_PAT"); v != secret {
		t.Fatalf("stored %q", v)
	}
	if v, _ := e.VariableGroupValue(emulator.DefaultOrg, id, "OTHER_SECRET"); v != "keep-me-too" {
		t.Fatalf("other secret lost: %q", v)
	}
	g, _ := c.GetVariableGroup(ctx, "Platform", id)
	if !g.Variables["ADO_PAT"].IsSecret || g.Variables["ADO_PAT"].Value != nil {
		t.Fatalf("PAT variable not secret: %+v", g.Variables["ADO_PAT"])
	}
	if v := g.Variables["ADO_PAT.patrol.authorizationId"].Value; v == nil || *v != meta.AuthorizationID {
		t.Fatal("metadata variable missing")
	}
	h, err = s.Read(ctx)
	if err != nil || !h.Present || h.AuthorizationID != meta.AuthorizationID || !h.ValidTo.Equal(meta.ValidTo) {
		t.Fatalf("after: %+v %v", h, err)
	}
}

func TestHTTPSink(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	var gotBody string
	status := http.StatusNoContent
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 4096)
		n, _ := r.Body.Read(b)
		mu.Lock()
		got, gotBody = r, string(b[:n])
		st := status
		mu.Unlock()
		if st >= 400 {
			w.WriteHeader(st)
			w.Write([]byte(`{"errors":[{"msg":"token ` + secret + ` refused"}]}`))
			return
		}
		w.WriteHeader(st)
	}))
	defer srv.Close()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("sonar-admin-token\n"), 0o600)
	state := filepath.Join(dir, "state", "sonar.json")
	params := `{"type":"http","url":"` + srv.URL + `/api/alm_settings/update_azure","contentType":"application/x-www-form-urlencoded",
		"body":"key=ado&personalAccessToken={{token}}&url=https://dev.azure.com/contoso","headers":{"X-Patrol-Credential":"{{credential}}"},
		"auth":{"type":"basic","username":"admin","passwordFile":"` + pwFile + `"},"expectStatus":[200,204],"stateFile":"` + state + `","name":"sonarqube"}`
	s := build(t, params, sink.Deps{HTTPClient: srv.Client()})
	ctx := context.Background()
	if h, err := s.Read(ctx); err != nil || h.Present {
		t.Fatalf("before: %+v %v", h, err)
	}
	if err := s.Write(ctx, secret, meta); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	u, p, _ := got.BasicAuth()
	if got.Method != "POST" || got.URL.Path != "/api/alm_settings/update_azure" || u != "admin" || p != "sonar-admin-token" ||
		gotBody != "key=ado&personalAccessToken="+secret+"&url=https://dev.azure.com/contoso" || got.Header.Get("X-Patrol-Credential") != "sonar" ||
		got.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Fatalf("request: %s %s %s %q %v", got.Method, got.URL, u, gotBody, got.Header)
	}
	status = http.StatusBadRequest
	mu.Unlock()
	h, err := s.Read(ctx)
	if err != nil || !h.Present || h.AuthorizationID != meta.AuthorizationID {
		t.Fatalf("state: %+v %v", h, err)
	}
	st, _ := os.Stat(state)
	if st.Mode().Perm() != 0o600 {
		t.Fatal("state file mode")
	}
	b, _ := os.ReadFile(state)
	if strings.Contains(string(b), secret) {
		t.Fatal("state file holds the secret")
	}
	err = s.Write(ctx, secret, sink.Meta{AuthorizationID: "other"})
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "REDACTED") || errkind.Of(err) != errkind.Usage {
		t.Fatalf("failure: %v", err)
	}
	if h, _ := s.Read(ctx); h.AuthorizationID != meta.AuthorizationID {
		t.Fatal("state changed after a failed delivery")
	}
}

func TestHTTPSinkValidation(t *testing.T) {
	for params, want := range map[string]string{
		`{"type":"http","url":"https://x/a"}`:                                                           "stateFile",
		`{"type":"http","url":"x/a","stateFile":"/s"}`:                                                  "absolute",
		`{"type":"http","url":"https://x/a","stateFile":"/s","headers":{"Authorization":"Bearer abc"}}`: "use endpoint",
		`{"type":"http","url":"https://x/a","stateFile":"/s","auth":{"type":"basic","username":"u"}}`:   "passwordEnv",
		`{"type":"http","url":"https://x/a","stateFile":"/s","method":"GET"}`:                           "POST, PUT or PATCH",
		`{"type":"http","url":"https://x/a","stateFile":"/s","body":"{{token"}`:                         "body template",
		// Write refuses plain http (the request carries the PAT); validation agrees.
		`{"type":"http","url":"http://x/a","stateFile":"/s"}`:              "must be https",
		`{"type":"http","url":"HTTP://x/{{token}}","stateFile":"/s"}`:      "must be https",
		`{"type":"http","url":"http://127.0.0.1:8080/a","stateFile":"/s"}`: "must be https",
		// A template that renders nothing, or a request that never carries
		// the credential, would "deliver" and exit 0.
		`{"type":"http","url":"https://x/a","stateFile":"/s","body":"{{! only a comment }}"}`:                                      "body renders to nothing",
		`{"type":"http","url":"https://x/a","stateFile":"/s","body":"pat={{token}}","headers":{"X-A":"{{^token}}none{{/token}}"}}`: "headers.X-A renders to nothing",
		`{"type":"http","url":"https://x/a","stateFile":"/s","body":"key=azure"}`:                                                  "never carries the credential",
		`{"type":"http","url":"https://x/a","stateFile":"/s"}`:                                                                     "never carries the credential",
		`{"type":"http","url":"https://x/a","stateFile":"/s","body":"pat={{tokn}}"}`:                                               "tokn",
	} {
		if err := sink.Validate(sink.Spec{Type: "http", Params: json.RawMessage(params)}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", params, err)
		}
	}
}

// countingTool is a TLS tool answering 204 that counts the requests it got.
func countingTool(t *testing.T) (*httptest.Server, *atomic.Int32) {
	calls := new(atomic.Int32)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, calls
}

// A body that renders to nothing for this delivery (a section on data that
// is empty now) fails before anything is sent.
func TestHTTPSinkEmptyRenderedBodySendsNothing(t *testing.T) {
	srv, calls := countingTool(t)
	state := filepath.Join(t.TempDir(), "state.json")
	params := `{"type":"http","url":"` + srv.URL + `/api/x","body":"{{#authorizationId}}pat={{../token}}{{/authorizationId}}","stateFile":"` + state + `"}`
	s := build(t, params, sink.Deps{HTTPClient: srv.Client()})
	err := s.Write(context.Background(), secret, sink.Meta{Credential: "sonar"})
	if err == nil || !strings.Contains(err.Error(), "body rendered to nothing") || errkind.Of(err) != errkind.Usage {
		t.Fatalf("want a usage error saying the body rendered to nothing, got %v", err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the tool received %d request(s) with an empty body", n)
	}
}

func TestHTTPSinkUnknownTemplateNameSendsNothing(t *testing.T) {
	srv, calls := countingTool(t)
	state := filepath.Join(t.TempDir(), "state.json")
	// "tokn" is a typo for "token": a lenient render would deliver an empty
	// PAT. Validation refuses it (TestHTTPSinkValidation); Write refuses it
	// too, for a sink built without validation.
	hp := sink.HTTPParams{Type: "http", URL: srv.URL + "/api/x", Method: "POST", Body: "personalAccessToken={{tokn}}", StateFile: state}
	s, err := sink.NewHTTP(hp, srv.Client(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(context.Background(), secret, meta)
	if err == nil || !strings.Contains(err.Error(), "tokn") || strings.Contains(err.Error(), secret) {
		t.Fatalf("want an error naming the unknown name (and no secret), got %v", err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the tool received %d request(s) despite the template error", n)
	}
	if _, statErr := os.Stat(state); !os.IsNotExist(statErr) {
		t.Fatalf("state file written after a failed delivery: %v", statErr)
	}
}

func TestHTTPSinkLostOutcomeIsReportedAsUnknown(t *testing.T) {
	var calls atomic.Int32
	status := atomic.Int32{}
	status.Store(http.StatusNoContent)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	params := `{"type":"http","url":"` + srv.URL + `/api/x","body":"pat={{token}}","stateFile":"` + state + `"}`
	s := build(t, params, sink.Deps{HTTPClient: srv.Client()})
	ctx := context.Background()
	if err := s.Write(ctx, secret, sink.Meta{AuthorizationID: "a"}); err != nil {
		t.Fatal(err)
	}
	// The tool refuses: nothing changed, Read still names the old PAT.
	status.Store(http.StatusBadRequest)
	if err := s.Write(ctx, secret, sink.Meta{AuthorizationID: "b"}); err == nil {
		t.Fatal("want the refusal reported")
	}
	if h, _ := s.Read(ctx); h.AuthorizationID != "a" {
		t.Fatalf("after a refusal Read = %+v, want a", h)
	}
	// The tool accepts, but recording the delivery fails (a non-empty
	// directory where the state file goes): the tool holds "b" while the old
	// state says "a" — Read must not claim "a".
	status.Store(http.StatusNoContent)
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(state, "block"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, secret, sink.Meta{AuthorizationID: "b"}); err == nil || !strings.Contains(err.Error(), "delivered") {
		t.Fatalf("want 'delivered, but recording it … failed', got %v", err)
	}
	h, err := s.Read(ctx)
	if err != nil || !h.Present || h.AuthorizationID != "" {
		t.Fatalf("after a lost outcome Read = %+v, %v; want present content of unknown origin", h, err)
	}
	if calls.Load() != 3 {
		t.Fatalf("tool saw %d requests, want 3", calls.Load())
	}
}
