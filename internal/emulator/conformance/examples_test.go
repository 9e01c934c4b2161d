package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/emulator/endpointproxy"
	"github.com/patrol-dev/patrol/internal/scheme"
)

// Microsoft's recorded examples (testdata/specs/examples), replayed against
// an emulator seeded with their projects, endpoints and PATs, at their
// time (2020-11-01). Status, shape and JSON types are compared; ids, names,
// dates and other values are not.

// The examples' ids, seeded so that their requests address something.
const (
	exTestProjectID  = "c7e5f0b3-71fa-4429-9fb3-3321963a7c06"
	exTestProject2ID = "184fda7e-3559-4b3c-afa0-1b6998330f84"
	exAgileProjectID = "0e1a5b7c-3d2f-4a6e-9b8c-7d6e5f4a3b2c" // the examples name it only
	exGenericID      = "5e47a0d8-c745-44f8-8f93-784f18ff31c4"
	exGeneric2ID     = "ffc7206f-1dc1-4008-8a80-ceb77cc98d70"
	exAzureID        = "106a0c71-70fe-4d96-ba5c-5b6548708d15"
	exHistoryID      = "18807d4f-3345-4888-b2dc-f2884e4eb235"
	exJenkinsID      = "96e0fef2-3aaf-456f-bba0-920731ecab83"
	exPATID          = "cf42cc9f-f170-4375-92ba-c13d58a6545f"
	exPAT2ID         = "3d3aca0c-9ad3-4b07-8334-08ec8b1ddc32"
)

var exampleClock = time.Date(2020, 11, 1, 12, 0, 0, 0, time.UTC)

func exampleSeed(toolURL string) emulator.Seed {
	s := emulator.DefaultSeed()
	o := &s.Orgs[0] // contoso stands for the examples' fabrikam
	o.Projects = append(o.Projects,
		emulator.Project{Name: "DefaultAgileGitProject", ID: exAgileProjectID},
		emulator.Project{Name: "TestProject", ID: exTestProjectID},
		emulator.Project{Name: "TestProject2", ID: exTestProject2ID})
	s.EndpointTypes = append(s.EndpointTypes,
		emulator.EndpointType{Name: "azure", DisplayName: "Azure Classic", Description: "Azure Classic (service management)",
			URL: emulator.EndpointURL{Value: "https://management.core.windows.net/", DisplayName: "Environment URL", HelpText: "The management URL of the cloud."}, Schemes: []emulator.EndpointScheme{
				{Scheme: "Certificate", Params: []emulator.EndpointParam{{Name: "certificate", Confidential: true}}},
				{Scheme: "UsernamePassword", Params: []emulator.EndpointParam{{Name: "username"}, {Name: "password", Confidential: true}}},
				{Scheme: "None"}}},
		emulator.EndpointType{Name: "jenkins", DisplayName: "Jenkins", Description: "Jenkins server", Schemes: []emulator.EndpointScheme{
			{Scheme: "UsernamePassword", Params: []emulator.EndpointParam{{Name: "username"}, {Name: "password", Confidential: true}}}}})
	up := map[string]string{"username": "u", "password": "p"}
	s.ServiceEndpoints = append(s.ServiceEndpoints,
		emulator.SeedEndpoint{ID: exGenericID, Org: o.Name, Project: "TestProject", Name: "MyNewServiceEndpoint", Type: "generic", URL: "https://myserver", Scheme: "UsernamePassword", Parameters: up},
		emulator.SeedEndpoint{ID: exGeneric2ID, Org: o.Name, Project: "DefaultAgileGitProject", Name: "TestEndpoint2", Type: "generic", URL: "http://testUrl", Scheme: "UsernamePassword", Parameters: up},
		emulator.SeedEndpoint{ID: exAzureID, Org: o.Name, Project: "DefaultAgileGitProject", Name: "Updated TestEndpoint", Type: "azure", URL: "https://management.core.windows.net/",
			Data:   map[string]string{"SubscriptionId": "12345678-1234-1234-1234-123456789012", "SubscriptionName": "TestSubscriptionName", "environment": "AzureCloud"},
			Scheme: "Certificate", Parameters: map[string]string{"certificate": "c"}},
		emulator.SeedEndpoint{ID: exHistoryID, Org: o.Name, Project: "DefaultAgileGitProject", Name: "History", Type: "generic", URL: "https://history", Scheme: "UsernamePassword", Parameters: up},
		emulator.SeedEndpoint{ID: exJenkinsID, Org: o.Name, Project: "DefaultAgileGitProject", Name: "Jenkins", Type: "jenkins", URL: toolURL, Scheme: "UsernamePassword", Parameters: up})
	s.PATs = append(s.PATs,
		emulator.SeedPAT{AuthorizationID: exPATID, Owner: emulator.DefaultUser, Org: o.Name, DisplayName: "example", Scope: "vso.code", ValidTo: exampleClock.Add(60 * 24 * time.Hour)},
		emulator.SeedPAT{AuthorizationID: exPAT2ID, Owner: emulator.DefaultUser, Org: o.Name, DisplayName: "example2", Scope: "vso.code", ValidTo: exampleClock.Add(30 * 24 * time.Hour)})
	return s
}

// jenkinsType is the part of the Jenkins endpoint type the endpointproxy
// example runs (its Jobs data source).
func jenkinsType(t *testing.T) scheme.EndpointType {
	t.Helper()
	up, err := scheme.Lookup("UsernamePassword")
	if err != nil {
		t.Fatal(err)
	}
	return scheme.EndpointType{Name: "jenkins", AuthenticationSchemes: []scheme.Scheme{up}, Source: "conformance",
		DataSources: []scheme.DataSource{{Name: "Jobs", EndpointURL: "{{{endpoint.url}}}api/json?tree=jobs[name,displayName,_class]", ResultSelector: "jsonpath:$"}}}
}

// example is one recorded example file.
type example struct {
	file      string
	method    string
	url       string
	body      json.RawMessage
	status    int
	respBody  json.RawMessage
	parameter map[string]json.RawMessage
}

func readExamples(t *testing.T) []example {
	t.Helper()
	var out []example
	root := "testdata/specs/examples"
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var x struct {
			Method     string                     `json:"x-ms-vss-request-method"`
			URL        string                     `json:"x-ms-vss-request-url"`
			Parameters map[string]json.RawMessage `json:"parameters"`
			Responses  map[string]struct {
				Body json.RawMessage `json:"body"`
			} `json:"responses"`
		}
		if err := json.Unmarshal(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")), &x); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, _ := filepath.Rel(root, path)
		ex := example{file: filepath.ToSlash(rel), method: x.Method, url: x.URL, body: x.Parameters["body"], parameter: x.Parameters}
		for code, r := range x.Responses {
			fmt.Sscanf(code, "%d", &ex.status)
			ex.respBody = r.Body
		}
		out = append(out, ex)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].file < out[j].file })
	return out
}

func TestExamplesReplay(t *testing.T) {
	tool := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jobs":[{"_class":"hudson.model.FreeStyleProject","name":"UnitTestJob","displayName":"UnitTestJob"},`+
			`{"_class":"com.cloudbees.hudson.plugins.folder.Folder","name":"Folder","displayName":"Folder","jobs":[{"_class":"hudson.model.FreeStyleProject","name":"Inner","displayName":"Inner"}]}]}`)
	}))
	defer tool.Close()
	seed := exampleSeed(tool.URL + "/")
	e, err := emulator.Start(context.Background(), emulator.Options{Seed: &seed, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return exampleClock }, OutboundHTTPClient: tool.Client(),
		EndpointProxy: &endpointproxy.Runner{Types: []scheme.EndpointType{jenkinsType(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	set := loadSpecs(t)
	v := &validator{t: t, next: e.HTTPClient().Transport, set: set}
	hc := &http.Client{Transport: v}
	user, admin := ropcBearer(t, e, emulator.DefaultUser), ropcBearer(t, e, emulator.AdminUser)

	for _, ex := range readExamples(t) {
		if err := e.Reset(); err != nil {
			t.Fatal(err)
		}
		// Execution records come from pipeline runs, which the emulator
		// does not run: the test records them (definition and owner are the
		// caller's data, links included).
		links := map[string]any{"web": map[string]any{"href": e.DevOpsURL()}, "self": map[string]any{"href": e.DevOpsURL()}}
		for range 2 {
			if err := e.RecordEndpointExecution(exHistoryID, map[string]any{"definition": map[string]any{"id": 1, "name": "Test_Build", "_links": links},
				"owner": map[string]any{"id": 2, "name": "2", "_links": links}}); err != nil {
				t.Fatal(err)
			}
		}
		// The examples address MyNewServiceEndpoint from two projects.
		shareExample(t, e, user)
		method, target := replayTarget(e, ex)
		auth := user
		if strings.Contains(strings.ToLower(target), "/_apis/tokenadmin/") {
			auth = admin
		}
		var body io.Reader
		if len(ex.body) > 0 && string(ex.body) != "null" {
			body = bytes.NewReader(ex.body)
		}
		req, _ := http.NewRequest(method, target, body)
		req.Header.Set("Authorization", auth)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", ex.file, err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != ex.status {
			v.fail("example-status", ex.file, "%s %s answered %d %.300s; the example %d", method, req.URL.Path, res.StatusCode, got, ex.status)
			continue
		}
		if len(ex.respBody) > 0 && string(ex.respBody) != "null" {
			var want, have any
			_ = json.Unmarshal(ex.respBody, &want)
			if err := json.Unmarshal(got, &have); err != nil {
				v.fail("example-shape", ex.file, "the emulator's body is not JSON: %.200s", got)
				continue
			}
			for _, d := range compareShape("$", want, have) {
				v.fail("example-shape", ex.file, "%s", d)
			}
		}
		validateExample(v, set, ex, method, req.URL)
	}
	v.report(t, "example")
}

// shareExample shares MyNewServiceEndpoint into DefaultAgileGitProject (not
// through the validator: it is setup, not an example).
func shareExample(t *testing.T, e *emulator.Emulator, auth string) {
	t.Helper()
	body, _ := json.Marshal([]api.ServiceEndpointProjectReference{{ProjectReference: api.ProjectReference{ID: exAgileProjectID}, Name: "MyNewServiceEndpoint"}})
	req, _ := http.NewRequest(http.MethodPatch, e.DevOpsURL()+"/"+emulator.DefaultOrg+"/_apis/serviceendpoint/endpoints/"+exGenericID+"?api-version=7.2-preview.4", bytes.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	res, err := e.HTTPClient().Do(req)
	if err != nil || res.StatusCode/100 != 2 {
		t.Fatalf("sharing the example endpoint: %v %v", res, err)
	}
	res.Body.Close()
}

// ropcBearer signs a user in (password grant) against the emulator clock.
func ropcBearer(t *testing.T, e *emulator.Emulator, upn string) string {
	t.Helper()
	return bearerFor(t, e, url.Values{"grant_type": {"password"}, "client_id": {emulator.DefaultClientID}, "client_secret": {emulator.DefaultClientSecret},
		"username": {upn}, "password": {emulator.DefaultPassword}, "scope": {api.Scope}})
}

// replayTarget maps an example's request onto the emulator (exception
// replay-mapping): hosts and organization, the examples' api-versions
// (4.1–6.1) replaced by the 7.2 ones, the MSA subject descriptor by the
// seeded user's, and the filtered-types call recorded as GET sent as POST.
func replayTarget(e *emulator.Emulator, ex example) (string, string) {
	markUsed("replay-mapping")
	u := ex.url
	u = strings.Replace(u, "https://vssps.dev.azure.com/fabrikam/", e.VSSPSURL()+"/"+emulator.DefaultOrg+"/", 1)
	u = strings.Replace(u, "https://dev.azure.com/fabrikam/", e.DevOpsURL()+"/"+emulator.DefaultOrg+"/", 1)
	pu, _ := url.Parse(u)
	q := pu.Query()
	q.Del("api-version")
	lp := strings.ToLower(pu.Path)
	switch {
	case strings.Contains(lp, "/_apis/tokens/"), strings.Contains(lp, "/_apis/tokenadmin/"):
		q.Set("api-version", "7.2-preview.1")
	case strings.Contains(lp, "/_apis/serviceendpoint/endpoints"):
		q.Set("api-version", "7.2-preview.4")
	default:
		q.Set("api-version", "7.2-preview.1")
	}
	if i := strings.Index(lp, "/personalaccesstokens/"); i >= 0 {
		pu.Path = pu.Path[:i+len("/personalaccesstokens/")] + e.SubjectDescriptor(emulator.DefaultUser)
	}
	pu.RawQuery = q.Encode()
	method := ex.method
	if strings.HasPrefix(filepath.Base(ex.file), "POST__") {
		method = http.MethodPost
	}
	return method, pu.String()
}

// compareShape lists where have lacks a key of want or holds another JSON
// type. Values are not compared; a null in want matches anything, absence
// included; array
// elements are matched by id or name when they have one, else the first
// with the first.
func compareShape(path string, want, have any) []string {
	if want == nil {
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %s in the example, %s from the emulator", path, jsonType(want), jsonType(have))}
		}
		var out []string
		for _, k := range sortedKeys(w) {
			hv, present := h[k]
			if !present && w[k] == nil {
				continue // null and absent read the same to a JSON client
			}
			if !present {
				out = append(out, fmt.Sprintf("%s.%s: missing (the example has %s)", path, k, jsonType(w[k])))
				continue
			}
			out = append(out, compareShape(path+"."+k, w[k], hv)...)
		}
		return out
	case []any:
		h, ok := have.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: array in the example, %s from the emulator", path, jsonType(have))}
		}
		if len(w) == 0 || len(h) == 0 {
			return nil
		}
		if key(w[0]) == "" {
			return compareShape(path+"[0]", w[0], h[0])
		}
		// Keyed elements: compare those both sides have (the catalogues
		// themselves differ).
		var out []string
		for _, we := range w {
			if he := find(h, we); he != nil {
				out = append(out, compareShape(path+"[="+key(we)+"]", we, he)...)
			}
		}
		return out
	default:
		if jsonType(want) != jsonType(have) && have != nil {
			return []string{fmt.Sprintf("%s: %s in the example, %s from the emulator", path, jsonType(want), jsonType(have))}
		}
		if have == nil {
			return []string{fmt.Sprintf("%s: %s in the example, null from the emulator", path, jsonType(want))}
		}
		return nil
	}
}

func key(v any) string {
	if m, ok := v.(map[string]any); ok {
		for _, k := range []string{"name", "id", "authorizationId", "scheme"} {
			if s, ok := m[k].(string); ok && s != "" {
				return s
			}
		}
	}
	return ""
}

func find(h []any, we any) any {
	k := key(we)
	if k == "" {
		return nil
	}
	for _, he := range h {
		if strings.EqualFold(key(he), k) {
			return he
		}
	}
	return nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

// validateExample checks Microsoft's recorded answer itself against the
// spec (with the same exceptions as the emulator's), so the spec's defects
// that the examples expose are listed too.
func validateExample(v *validator, set *specSet, ex example, method string, u *url.URL) {
	op, params := set.find(method, u.Path, u.Query())
	if op == nil || len(ex.respBody) == 0 || string(ex.respBody) == "null" {
		return
	}
	x := &exchange{method: method, path: u.Path, query: u.Query(), reqBody: ex.body}
	if o := reroute(op, x); o != nil {
		op = o
	}
	declared := op.op.Responses.Status(ex.status)
	if declared == nil {
		return // reported as a status difference for the emulator's answer already
	}
	body := []byte(ex.respBody)
	if unwrapped, ok := unwrapList(declared, body); ok {
		body = unwrapped
	}
	req, _ := http.NewRequest(method, "https://emulator"+u.RequestURI(), nil)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params,
		Route:   &routers.Route{Spec: op.spec, Path: op.path, PathItem: op.item, Method: op.method, Operation: op.op},
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: ex.status,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body)), Options: in.Options}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		v.fail("example-spec", ex.file, "Microsoft's recorded answer: %s", flatten(err))
	}
}
