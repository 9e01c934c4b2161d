package devops

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
)

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes([]string{"Code (read)", "vso.packaging_write vso.code", "VSO.Work", "code (READ)"})
	if err != nil {
		t.Fatal(err)
	}
	if got != "vso.code vso.packaging_write vso.work" {
		t.Errorf("got %q", got)
	}
	if _, err := ParseScopes([]string{"app_token"}); errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), "full access") {
		t.Errorf("app_token accepted: %v", err)
	}
	if _, err := ParseScopes([]string{"Full access"}); err == nil {
		t.Error("friendly full access accepted")
	}
	if got, err := ParseScopes([]string{"app_token"}, AllowFullAccess()); err != nil || got != "app_token" {
		t.Errorf("allowed full access: %q %v", got, err)
	}
	_, err = ParseScopes([]string{"vso.nonsense"})
	var se *ScopeError
	if !errors.As(err, &se) || strings.Contains(err.Error(), "vso.code_write") || !strings.Contains(err.Error(), "patrol pat scopes") {
		t.Errorf("unknown scope far from every name: want no catalogue, a pointer to 'patrol pat scopes': %v", err)
	}
	_, err = ParseScopes([]string{"vso.code_wirte"})
	if !errors.As(err, &se) || !strings.Contains(err.Error(), `did you mean "vso.code_write"`) || strings.Contains(err.Error(), "vso.build") {
		t.Errorf("misspelt scope: want the closest name only: %v", err)
	}
	if got, err := ParseScopes([]string{"vso.brand_new"}, AllowUnknownScopes()); err != nil || got != "vso.brand_new" {
		t.Errorf("override: %q %v", got, err)
	}
	if _, err := ParseScopes([]string{"rm -rf"}, AllowUnknownScopes()); err == nil {
		t.Error("non-vso string passed the override")
	}
	if _, err := ParseScopes(nil); err == nil {
		t.Error("empty accepted")
	}
	if _, err := ParseScopes([]string{"vso.loadtest"}); err == nil {
		t.Error("retired vso.loadtest accepted")
	}
	seen := map[string]bool{}
	for _, s := range Scopes {
		if seen[s.Name] || seen[strings.ToLower(s.Friendly)] {
			t.Errorf("duplicate %q / %q", s.Name, s.Friendly)
		}
		seen[s.Name], seen[strings.ToLower(s.Friendly)] = true, true
		if s.Area == "" || s.Friendly == "" {
			t.Errorf("%s incomplete", s.Name)
		}
	}
}

func FuzzParseScopes(f *testing.F) {
	f.Add("vso.code Code (read)")
	f.Add("app_token,vso.work")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		out, err := ParseScopes([]string{in}, AllowUnknownScopes())
		if err != nil {
			return
		}
		// The output must parse again to itself.
		again, err := ParseScopes([]string{out}, AllowUnknownScopes())
		if err != nil || again != out {
			t.Fatalf("%q → %q → %q %v", in, out, again, err)
		}
		if strings.Contains(out, "app_token") {
			t.Fatalf("app_token passed without AllowFullAccess: %q", in)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Add("5")
	f.Add("Fri, 01 May 2026 12:00:30 GMT")
	f.Add("1e300")
	f.Fuzz(func(t *testing.T, in string) {
		d, ok := parseRetryAfter(in, time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
		if ok && d <= 0 {
			t.Fatalf("%q: non-positive delay %v accepted", in, d)
		}
	})
}

func FuzzVSSTime(f *testing.F) {
	f.Add(`"2018-07-19T00:00:00"`)
	f.Add(`"2020-11-02T22:56:52.1033333Z"`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, in string) {
		var v vssTime
		if err := json.Unmarshal([]byte(in), &v); err != nil {
			return
		}
		if tt := time.Time(v); !tt.IsZero() && tt.Location() != time.UTC {
			t.Fatalf("%q: not UTC", in)
		}
	})
}

func TestTokenAdminListAndRevoke(t *testing.T) {
	var pages atomic.Int32
	var revokeBody string
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/vssps/contoso/_apis/tokenadmin/personalaccesstokens/aad.abc"):
			pages.Add(1)
			if r.URL.Query().Get("isPublic") != "false" || r.URL.Query().Get("api-version") == "" {
				http.Error(w, "bad query", 400)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Query().Get("continuationToken") == "" {
				_, _ = io.WriteString(w, `{"value":[{"authorizationId":"952858d3-7084-4635-964e-3c2a57645185","validFrom":"2018-07-19T00:00:00","validTo":"2018-07-19T00:00:00","displayName":null,"scope":"app_token","targetAccounts":null,"token":null,"isValid":true,"isPublic":false,"publicData":null,"source":null}],"continuationToken":"c2e0abd5-85a8-40b0-a179-88e98538ec7c"}`)
				return
			}
			_, _ = io.WriteString(w, `{"value":[{"authorizationId":"c2e0abd5-85a8-40b0-a179-88e98538ec7c","validFrom":"2018-07-19T00:00:00.123Z","validTo":"2019-07-19T00:00:00Z","displayName":"x","scope":"vso.code"}],"continuationToken":null}`)
		case r.Method == http.MethodPost && r.URL.Path == "/vssps/contoso/_apis/tokenadmin/revocations":
			b, _ := io.ReadAll(r.Body)
			revokeBody = string(b)
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	ctx := context.Background()
	var got []api.SessionToken
	for st, err := range env.c.ListUserPATs(ctx, "aad.abc", false) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, st)
	}
	if len(got) != 2 || pages.Load() != 2 {
		t.Fatalf("got %d tokens in %d pages", len(got), pages.Load())
	}
	if !got[0].ValidFrom.Equal(time.Date(2018, 7, 19, 0, 0, 0, 0, time.UTC)) || got[0].Scope != "app_token" || got[1].DisplayName != "x" {
		t.Errorf("decoded %+v", got)
	}
	if err := env.c.RevokeAuthorizations(ctx, []string{"952858d3-7084-4635-964e-3c2a57645185"}); err != nil {
		t.Fatal(err)
	}
	if revokeBody != `[{"authorizationId":"952858d3-7084-4635-964e-3c2a57645185"}]` {
		t.Errorf("body %s", revokeBody)
	}
	if err := env.c.RevokeAuthorizations(ctx, []string{"nope"}); errkind.Of(err) != errkind.Usage {
		t.Errorf("bad id: %v", err)
	}
}

func TestServiceEndpointUpdateAndWait(t *testing.T) {
	const id = "5e47a0d8-c745-44f8-8f93-784f18ff31c4"
	var gets atomic.Int32
	var putBody map[string]any
	var putQuery string
	var failed atomic.Bool
	var cancelOnPoll atomic.Int32 // when != 0: the GET with this number cancels the caller's context
	var cancelWait context.CancelFunc
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/devops/contoso/Platform/_apis/serviceendpoint/endpoints/"+id:
			n := gets.Add(1)
			if c := cancelOnPoll.Load(); c != 0 && n == c {
				cancelWait()
			}
			state := "InProgress"
			if n >= 3 {
				state = "ready"
				if failed.Load() {
					state = "FAILED"
				}
			}
			writeJSON(w, 200, map[string]any{"id": id, "name": "sonar", "type": "sonarqube", "url": "https://sonar.example",
				"authorization": map[string]any{"scheme": "UsernamePassword", "parameters": map[string]any{"username": nil}},
				"isReady":       false, "operationStatus": map[string]any{"state": state, "statusMessage": "spn creation failed"}})
		case r.Method == http.MethodPut && r.URL.Path == "/devops/contoso/_apis/serviceendpoint/endpoints/"+id:
			putQuery = r.URL.RawQuery
			_ = json.NewDecoder(r.Body).Decode(&putBody)
			writeJSON(w, 200, putBody)
		case r.Method == http.MethodGet && r.URL.Path == "/devops/contoso/Platform/_apis/serviceendpoint/endpoints/00000000-0000-0000-0000-000000000009":
			w.WriteHeader(200) // Azure DevOps answers an unknown id with an empty 200
		default:
			http.NotFound(w, r)
		}
	}))
	ctx := context.Background()
	ep, err := env.c.GetServiceEndpoint(ctx, "Platform", id)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := ep.Authorization.Parameters["username"]; !ok || p != nil {
		t.Fatal("confidential parameter should decode as present-but-nil")
	}
	secret := "new-sonar-token-123"
	ep.Authorization.Parameters["username"] = &secret
	ep.Authorization.Parameters["password"] = nil
	if _, err := env.c.UpdateServiceEndpoint(ctx, ep, ""); err != nil {
		t.Fatal(err)
	}
	params := putBody["authorization"].(map[string]any)["parameters"].(map[string]any)
	if params["username"] != secret {
		t.Errorf("secret not sent: %v", params)
	}
	if v, ok := params["password"]; !ok || v != nil {
		t.Errorf("nil parameter must be sent as JSON null: %v", params)
	}
	if strings.Contains(putQuery, "operation") {
		t.Errorf("empty operation sent: %q", putQuery)
	}
	if strings.Contains(env.logs.String(), secret) {
		t.Error("endpoint secret logged")
	}

	gets.Store(0)
	ready, err := env.c.WaitEndpointReady(ctx, "Platform", id, time.Millisecond)
	if err != nil || gets.Load() != 3 || EndpointStatus(ready).State != "ready" {
		t.Fatalf("wait: %v after %d polls", err, gets.Load())
	}
	failed.Store(true)
	gets.Store(0)
	_, err = env.c.WaitEndpointReady(ctx, "Platform", id, time.Millisecond)
	var fe *EndpointFailedError
	if !errors.As(err, &fe) || fe.StatusMessage != "spn creation failed" || fe.Kind() != errkind.Conflict {
		t.Fatalf("failed state: %v", err)
	}
	// The wait ends (here: the caller cancels) while the endpoint is still
	// InProgress: the error says so and wraps the context's error. The
	// second poll cancels, so the first one has been seen: no timing involved.
	failed.Store(false)
	gets.Store(-1000)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cancelWait = cancel
	cancelOnPoll.Store(-998)
	_, err = env.c.WaitEndpointReady(cctx, "Platform", id, time.Millisecond)
	cancelOnPoll.Store(0)
	if !errors.As(err, &fe) || !errors.Is(err, context.Canceled) || !strings.EqualFold(fe.State, "InProgress") {
		t.Fatalf("ended wait: %v", err)
	}
	if _, err := env.c.GetServiceEndpoint(ctx, "Platform", "00000000-0000-0000-0000-000000000009"); errkind.Of(err) != errkind.NotFound {
		t.Errorf("empty 200: %v", err)
	}
}

func TestServiceEndpointRoutes(t *testing.T) {
	var seen []string
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		switch r.Method {
		case http.MethodDelete, http.MethodPatch:
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, 200, map[string]any{"count": 0, "value": []any{}})
		}
	}))
	ctx := context.Background()
	const id = "5e47a0d8-c745-44f8-8f93-784f18ff31c4"
	if _, err := env.c.ListServiceEndpoints(ctx, "Platform", EndpointFilter{Type: "Azure", AuthSchemes: []string{"Certificate", "None"}, IncludeFailed: true}); err != nil {
		t.Fatal(err)
	}
	if err := env.c.ShareServiceEndpoint(ctx, id, []api.ServiceEndpointProjectReference{{ProjectReference: api.ProjectReference{ID: "p"}, Name: "n"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.c.DeleteServiceEndpoint(ctx, id, []string{"c7e5f0b3-71fa-4429-9fb3-3321963a7c06"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := env.c.ListServiceEndpointTypes(ctx, "sonarqube", "UsernamePassword"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.c.ExecutionHistory(ctx, "Platform", id, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := env.c.ListVariableGroups(ctx, "Platform", "patrol-*"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GET /devops/contoso/Platform/_apis/serviceendpoint/endpoints?api-version=" + api.ServiceEndpointAPIVersion + "&authSchemes=Certificate%2CNone&includeFailed=true&type=Azure",
		"PATCH /devops/contoso/_apis/serviceendpoint/endpoints/" + id + "?api-version=" + api.ServiceEndpointAPIVersion,
		"DELETE /devops/contoso/_apis/serviceendpoint/endpoints/" + id + "?api-version=" + api.ServiceEndpointAPIVersion + "&deep=true&projectIds=c7e5f0b3-71fa-4429-9fb3-3321963a7c06",
		"GET /devops/contoso/_apis/serviceendpoint/types?api-version=" + api.ServiceEndpointTypesAPIVersion + "&scheme=UsernamePassword&type=sonarqube",
		"GET /devops/contoso/Platform/_apis/serviceendpoint/" + id + "/executionhistory?api-version=" + api.ServiceEndpointTypesAPIVersion + "&top=2",
		"GET /devops/contoso/Platform/_apis/distributedtask/variablegroups?api-version=" + api.VariableGroupAPIVersion + "&groupName=patrol-%2A",
	}
	if len(seen) != len(want) {
		t.Fatalf("saw %q", seen)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("request %d:\n got %s\nwant %s", i, seen[i], want[i])
		}
	}
}

func TestVariableGroupUpdate(t *testing.T) {
	var body api.VariableGroup
	var path string
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.Method + " " + r.URL.Path
		if r.Method == http.MethodPut {
			_ = json.NewDecoder(r.Body).Decode(&body)
			writeJSON(w, 200, body)
			return
		}
		writeJSON(w, 200, api.VariableGroup{ID: 7, Name: "g", Variables: map[string]api.VariableValue{"pat": {IsSecret: true}}})
	}))
	ctx := context.Background()
	g, err := env.c.GetVariableGroup(ctx, "Platform", 7)
	if err != nil || path != "GET /devops/contoso/Platform/_apis/distributedtask/variablegroups/7" {
		t.Fatalf("%v %s", err, path)
	}
	v := "new-pat-value"
	g.Variables["pat"] = api.VariableValue{Value: &v, IsSecret: true}
	if _, err := env.c.UpdateVariableGroup(ctx, 7, g); err != nil {
		t.Fatal(err)
	}
	if path != "PUT /devops/contoso/_apis/distributedtask/variablegroups/7" || body.Variables["pat"].Value == nil || *body.Variables["pat"].Value != v {
		t.Errorf("%s %+v", path, body)
	}
	if _, err := env.c.GetVariableGroup(ctx, "Platform", 0); errkind.Of(err) != errkind.Usage {
		t.Errorf("id 0: %v", err)
	}
}

// BenchmarkListPATsClientOnly10k measures the client's own cost of listing
// 10,000 PATs: the fake server writes pre-encoded pages, so allocations are
// (almost) all the client's.
func BenchmarkListPATsClientOnly10k(b *testing.B) {
	pats := seedPATs(10000, "bulk-")
	pages := make([][]byte, 100)
	for i := range pages {
		pg := api.PagedPatTokens{PatTokens: pats[i*100 : (i+1)*100]}
		if i < 99 {
			pg.ContinuationToken = strconv.Itoa(i + 1)
		}
		pages[i], _ = json.Marshal(pg)
	}
	env := newEnv(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("continuationToken"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(pages[i])
	}))
	env.c.log = slog.New(slog.DiscardHandler)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range env.c.ListPATs(ctx, ListOptions{}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 10000 {
			b.Fatalf("listed %d", n)
		}
	}
	b.ReportMetric(float64(env.c.Stats().Requests)/float64(b.N), "requests/op")
}
