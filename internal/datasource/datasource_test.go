package datasource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/scheme"
)

const manifests = "../scheme/testdata/manifests/"

func loadType(t *testing.T, file, name string) *scheme.EndpointType {
	t.Helper()
	ts, err := scheme.LoadManifestFile(manifests + file)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ts {
		if ts[i].Name == name {
			return &ts[i]
		}
	}
	t.Fatalf("no type %s", name)
	return nil
}

func ep(typ, url, sch string, params map[string]string, data map[string]string) *api.ServiceEndpoint {
	p := map[string]*string{}
	for k, v := range params {
		v := v
		p[k] = &v
	}
	return &api.ServiceEndpoint{Name: "ep", Type: typ, URL: url, Data: data, Authorization: &api.EndpointAuthorization{Scheme: sch, Parameters: p}}
}

func TestTeamCityProjectsWithFilterSelector(t *testing.T) {
	var auth atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		if r.URL.Path != "/tc/httpAuth/app/rest/projects" {
			w.WriteHeader(404)
			return
		}
		w.Write([]byte(`{"project":[{"id":"_Root","name":"root"},{"id":"P1","name":"One"},{"id":"P2","name":"Two"},{"id":"P1","name":"One"}]}`))
	}))
	defer srv.Close()
	tc := loadType(t, "microsoft__azure-pipelines-extensions__teamcity.json", "teamcity")
	e := ep("teamcity", srv.URL+"/tc/", "UsernamePassword", map[string]string{"username": "u", "password": "p"}, nil)
	res, err := Run(context.Background(), Request{Endpoint: e, Type: tc, DataSource: "projects", ResultTemplate: `{ "Value" : "{{{id}}}", "DisplayValue" : "{{{name}}}" }`},
		Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{ "Value" : "P1", "DisplayValue" : "One" }`, `{ "Value" : "P2", "DisplayValue" : "Two" }`}
	if strings.Join(res.Items, "|") != strings.Join(want, "|") || res.Calls != 1 {
		t.Errorf("items = %q (calls %d)", res.Items, res.Calls)
	}
	if auth.Load() != "Basic dTpw" {
		t.Errorf("auth = %v", auth.Load())
	}
	code, err := Test(context.Background(), Request{Endpoint: e, Type: tc}, Options{HTTPClient: srv.Client()})
	if err != nil || code != 200 {
		t.Errorf("TestConnection = %d, %v", code, err)
	}
	e.URL = srv.URL + "/wrong/"
	code, err = Test(context.Background(), Request{Endpoint: e, Type: tc}, Options{HTTPClient: srv.Client()})
	if code != 404 || errkind.Of(err) != errkind.NotFound {
		t.Errorf("TestConnection on wrong URL = %d, %v", code, err)
	}
}

func TestServiceNowPagingFallback(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		q := r.URL.Query().Get("sysparm_query")
		if strings.Contains(q, "name=change_request") {
			w.Write([]byte(`{"result":[]}`))
			return
		}
		if strings.Contains(q, "name=task") {
			w.Write([]byte(`{"result":[{"label":"1 - Critical","value":"1"},{"label":"2 - High","value":"2"}]}`))
			return
		}
		w.WriteHeader(400)
	}))
	defer srv.Close()
	sn := loadType(t, "microsoft__azure-pipelines-extensions__servicenow.json", "ServiceNow")
	e := ep("ServiceNow", srv.URL, "UsernamePassword", map[string]string{"username": "u", "password": "p"}, nil)
	res, err := Run(context.Background(), Request{Endpoint: e, Type: sn, DataSource: "Priority", ResultTemplate: "{{{value}}}={{{label}}}"}, Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls != 2 || strings.Join(res.Items, ",") != "1=1 - Critical,2=2 - High" {
		t.Errorf("res = %+v", res)
	}
}

func pagingType(required, context string) *scheme.EndpointType {
	basic, _ := scheme.Lookup("basic")
	return &scheme.EndpointType{Name: "pager", AuthenticationSchemes: []scheme.Scheme{basic}, DataSources: []scheme.DataSource{{
		Name: "Items", EndpointURL: "{{{endpoint.url}}}/items?skip={{skip}}", ResultSelector: "jsonpath:$.value[*]",
		InitialContextTemplate: `{"skip": "0"}`, CallbackRequiredTemplate: required, CallbackContextTemplate: context}}}
}

func TestSkipTopPagingAndCallLimit(t *testing.T) {
	const total = 23
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
		var vals []string
		for i := skip; i < skip+5 && i < total; i++ {
			vals = append(vals, fmt.Sprintf(`"i%d"`, i))
		}
		fmt.Fprintf(w, `{"value":[%s]}`, strings.Join(vals, ","))
	}))
	defer srv.Close()
	et := pagingType("{{isEqualNumber result.count 5}}", `{"skip": "{{add skip 5}}"}`)
	e := ep("pager", srv.URL, "UsernamePassword", map[string]string{"username": "u", "password": "p"}, nil)
	res, err := Run(context.Background(), Request{Endpoint: e, Type: et, DataSource: "items"}, Options{HTTPClient: srv.Client(), MaxCalls: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != total || res.Calls != 5 || res.MoreAvailable {
		t.Errorf("items %d calls %d more %v", len(res.Items), res.Calls, res.MoreAvailable)
	}
	res, err = Run(context.Background(), Request{Endpoint: e, Type: et, DataSource: "items"}, Options{HTTPClient: srv.Client(), MaxCalls: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 10 || res.Calls != 2 || !res.MoreAvailable {
		t.Errorf("limited: items %d calls %d more %v", len(res.Items), res.Calls, res.MoreAvailable)
	}
}

func TestContinuationTokenPaging(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("continuationToken") {
		case "":
			w.Header().Set("X-MS-ContinuationToken", "c2")
			w.Write([]byte(`{"value":[{"name":"a"}]}`))
		case "c2":
			w.Write([]byte(`{"value":[{"name":"b"}]}`))
		default:
			w.WriteHeader(400)
		}
	}))
	defer srv.Close()
	basic, _ := scheme.Lookup("basic")
	et := &scheme.EndpointType{Name: "ct", AuthenticationSchemes: []scheme.Scheme{basic}, DataSources: []scheme.DataSource{{
		Name: "Items", EndpointURL: "{{{endpoint.url}}}/x?continuationToken={{{continuationToken}}}", ResultSelector: "jsonpath:$.value[*].name",
		InitialContextTemplate:   `{"continuationToken": ""}`,
		CallbackContextTemplate:  `{"continuationToken" : "{{{headers.x-ms-continuationtoken}}}"}`,
		CallbackRequiredTemplate: `{{#headers.x-ms-continuationtoken}}true{{/headers.x-ms-continuationtoken}}`}}}
	e := ep("ct", srv.URL, "UsernamePassword", map[string]string{"username": "u", "password": "p"}, nil)
	res, err := Run(context.Background(), Request{Endpoint: e, Type: et, DataSource: "Items"}, Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Items, ",") != "a,b" || res.Calls != 2 {
		t.Errorf("res = %+v", res)
	}
}

func TestSecretsNotVisibleInURLAndMacros(t *testing.T) {
	var gotPath atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath.Store(r.URL.RequestURI())
		w.Write([]byte(`[{"Id":"Spaces-1"}]`))
	}))
	defer srv.Close()
	oct := loadType(t, "OctopusDeploy__OctoTFS__octopus.json", "OctopusEndpoint")
	e := ep("OctopusEndpoint", srv.URL, "Token", map[string]string{"apitoken": "API-SECRET"}, nil)
	res, err := Run(context.Background(), Request{Endpoint: e, Type: oct, DataSource: "OctopusAllProjectGroupsInSpace", Parameters: map[string]string{"SpaceId": "Spaces-1"}}, Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if gotPath.Load() != "/api/Spaces-1/projectgroups/all" || len(res.Items) != 1 {
		t.Errorf("path %v items %v", gotPath.Load(), res.Items)
	}
	_, err = Run(context.Background(), Request{Endpoint: e, Type: oct, DataSource: "OctopusAllProjectGroupsInSpace"}, Options{HTTPClient: srv.Client()})
	if err == nil || !strings.Contains(err.Error(), "$(SpaceId)") || errkind.Of(err) != errkind.Usage {
		t.Errorf("missing macro: %v", err)
	}
	leak := &scheme.DataSource{Name: "leak", EndpointURL: "{{{endpoint.url}}}/x?k={{{endpoint.apitoken}}}"}
	_, err = Run(context.Background(), Request{Endpoint: e, Type: oct, Source: leak}, Options{HTTPClient: srv.Client()})
	if err == nil || strings.Contains(err.Error(), "API-SECRET") {
		t.Errorf("secret visible in URL context: %v", err)
	}
	leak2 := &scheme.DataSource{Name: "leak2", EndpointURL: "$(endpoint.url)/x?k=$(endpoint.apitoken)"}
	if _, err = Run(context.Background(), Request{Endpoint: e, Type: oct, Source: leak2}, Options{HTTPClient: srv.Client()}); err == nil {
		t.Error("secret visible to $(endpoint.apitoken)")
	}
}

func TestSelectors(t *testing.T) {
	xmlBody := []byte(`<?xml version="1.0"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner><Buckets><Bucket><Name>alpha</Name></Bucket><Bucket><Name>beta</Name></Bucket></Buckets></ListAllMyBucketsResult>`)
	_, items, err := Select(xmlBody, "xpath://ListAllMyBucketsResult/Buckets/Bucket/Name")
	if err != nil || fmt.Sprint(items) != "[alpha beta]" {
		t.Errorf("xpath = %v %v", items, err)
	}
	_, items, _ = Select(xmlBody, "xpath://Name/text()")
	if fmt.Sprint(items) != "[alpha beta]" {
		t.Errorf("//Name = %v", items)
	}
	if _, _, err := Select(xmlBody, "xpath://Bucket[1]/Name"); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("predicate: %v", err)
	}
	_, items, _ = Select([]byte("hello"), "plaintext")
	if fmt.Sprint(items) != "[hello]" {
		t.Errorf("plaintext = %v", items)
	}
	_, items, _ = Select([]byte(`{"a":1}`), "none")
	if len(items) != 1 {
		t.Errorf("none = %v", items)
	}
	_, items, err = Select([]byte(`{"value":[{"state":"wellFormed","n":1},{"state":"new","n":2}]}`), "jsonpath:$.value[?(@.state=='wellFormed')]")
	if err != nil || len(items) != 1 {
		t.Errorf("filter = %v %v", items, err)
	}
	if _, _, err := Select([]byte(`{}`), "regex:x"); err == nil {
		t.Error("unknown selector accepted")
	}
}

func TestPrimitiveResultTemplateAndLimit(t *testing.T) {
	big := strings.Repeat("x", 100)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write([]byte(`"` + big + `"`))
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"names": []string{"a", "b", "a"}})
	}))
	defer srv.Close()
	none, _ := scheme.Lookup("none")
	et := &scheme.EndpointType{Name: "n", AuthenticationSchemes: []scheme.Scheme{none}}
	e := ep("n", srv.URL, "None", nil, nil)
	res, err := Run(context.Background(), Request{Endpoint: e, Type: et, Source: &scheme.DataSource{Name: "x", EndpointURL: "{{{endpoint.url}}}/n", ResultSelector: "jsonpath:$.names[*]", ResultTemplate: "<{{defaultResultKey}}>"}},
		Options{HTTPClient: srv.Client()})
	if err != nil || strings.Join(res.Items, ",") != "&lt;a&gt;,&lt;b&gt;" && strings.Join(res.Items, ",") != "<a>,<b>" {
		t.Errorf("items %v %v", res, err)
	}
	_, err = Run(context.Background(), Request{Endpoint: e, Type: et, Source: &scheme.DataSource{Name: "big", EndpointURL: "{{{endpoint.url}}}/big"}},
		Options{HTTPClient: srv.Client(), MaxResponseBytes: 50})
	var de *Error
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "larger than 50 bytes") {
		t.Errorf("limit: %v", err)
	}
	_, err = Run(context.Background(), Request{Endpoint: e, Type: et, DataSource: "nope"}, Options{})
	if errkind.Of(err) != errkind.NotFound {
		t.Errorf("unknown data source: %v", err)
	}
}

func TestDataSourceAuthorizationHeaderWins(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization") + "|" + r.Header.Get("X-Extra"))
		w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	basic, _ := scheme.Lookup("basic")
	et := &scheme.EndpointType{Name: "h", AuthenticationSchemes: []scheme.Scheme{basic}}
	e := ep("h", srv.URL, "UsernamePassword", map[string]string{"username": "u", "password": "p"}, nil)
	ds := &scheme.DataSource{Name: "h", EndpointURL: "{{{endpoint.url}}}/", Headers: []scheme.Header{{Name: "Authorization", Value: "Token {{{endpoint.password}}}"}, {Name: "X-Extra", Value: "{{endpoint.username}}"}}}
	if _, err := Run(context.Background(), Request{Endpoint: e, Type: et, Source: ds}, Options{HTTPClient: srv.Client()}); err != nil {
		t.Fatal(err)
	}
	if got.Load() != "Token p|u" {
		t.Errorf("headers = %v", got.Load())
	}
	ds.Headers = []scheme.Header{{Name: "X-Extra", Value: "x"}}
	if _, err := Run(context.Background(), Request{Endpoint: e, Type: et, Source: ds}, Options{HTTPClient: srv.Client()}); err != nil {
		t.Fatal(err)
	}
	if got.Load() != "Basic dTpw|x" {
		t.Errorf("headers = %v", got.Load())
	}
}

func TestKangarooInlineBinding(t *testing.T) {
	var body atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		json.NewDecoder(r.Body).Decode(&m)
		body.Store(m)
		if r.Method != http.MethodPost || m["code"] != "authcode-1" {
			w.Write([]byte(`{"error":"bad_verification_code","error_description":"bad code"}`))
			return
		}
		w.Write([]byte(`{"access_token":"gho_new","token_type":"bearer"}`))
	}))
	defer srv.Close()
	k := loadType(t, "microsoft__azure-pipelines-extensions__kangaroo-l2.json", "kangaroo")
	e := ep("kangaroo", "", "OAuth2", map[string]string{"ConfigurationId": "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "AccessToken": "old"}, nil)
	b, err := FindBinding(e, k, "accesstoken")
	if err != nil {
		t.Fatal(err)
	}
	req, err := BindingRequest(e, k, b)
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{"Url": srv.URL, "ClientId": "cid", "ClientSecret": "csecret", "AuthorizationCode": "authcode-1"}
	res, err := Run(context.Background(), req, Options{HTTPClient: srv.Client(), Configuration: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 || !strings.Contains(res.Items[0], `"AccessToken" : "gho_new"`) {
		t.Errorf("items = %q", res.Items)
	}
	if m := body.Load().(map[string]string); m["client_secret"] != "csecret" {
		t.Errorf("body = %v", m)
	}
	if _, err := FindBinding(e, k, "RefreshToken"); errkind.Of(err) != errkind.NotFound {
		t.Errorf("missing binding: %v", err)
	}
}

func FuzzSelect(f *testing.F) {
	f.Add([]byte(`<a><b>x</b><b>y</b></a>`), "xpath://a/b")
	f.Add([]byte(`{"value":[{"n":1}]}`), "jsonpath:$.value[*].n")
	f.Add([]byte(`plain`), "plaintext")
	f.Fuzz(func(t *testing.T, body []byte, sel string) {
		if len(sel) > 256 {
			return
		}
		_, items, err := Select(body, sel)
		if err == nil && strings.EqualFold(strings.TrimSpace(sel), "plaintext") && len(items) != 1 {
			t.Fatalf("plaintext gave %d items", len(items))
		}
	})
}
