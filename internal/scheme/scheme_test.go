package scheme

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sp(s string) *string { return &s }

func TestBuiltinClosedSet(t *testing.T) {
	want := []string{"UsernamePassword", "Token", "Certificate", "None", "JWT", "OAuth2", "ServicePrincipal",
		"WorkloadIdentityFederation", "ManagedServiceIdentity", "Kubernetes", "PersonalAccessToken", "OAuth"}
	if got := Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, tc := range []struct{ ref, name string }{
		{"UsernamePassword", "UsernamePassword"},
		{"usernamepassword", "UsernamePassword"},
		{"ms.vss-endpoint.endpoint-auth-scheme-basic", "UsernamePassword"},
		{"endpoint-auth-scheme-basic", "UsernamePassword"},
		{"ms.vss-endpoint.endpoint-auth-scheme-JWT", "JWT"},
		{"ms.vss-endpoint.endpoint-auth-scheme-jwt", "JWT"},
		{"MS.VSS-ENDPOINT.ENDPOINT-AUTH-SCHEME-CERT", "Certificate"},
		{"ms.vss-endpoint.endpoint-auth-scheme-workload-identity-federation", "WorkloadIdentityFederation"},
		{" token ", "Token"},
	} {
		s, err := Lookup(tc.ref)
		if err != nil {
			t.Errorf("Lookup(%q): %v", tc.ref, err)
			continue
		}
		if s.Name != tc.name {
			t.Errorf("Lookup(%q).Name = %q, want %q", tc.ref, s.Name, tc.name)
		}
	}
	basic, _ := Lookup("basic")
	if len(basic.Headers) != 1 || basic.Headers[0].Value != `Basic {{ #base64 endpoint.username ":" endpoint.password }}` {
		t.Errorf("basic header = %+v", basic.Headers)
	}
	tok, _ := Lookup("Token")
	if len(tok.Headers) != 1 || tok.Headers[0].Name != "Authorization" || tok.Headers[0].Value != "{{endpoint.apitoken}}" {
		t.Errorf("token header = %+v", tok.Headers)
	}
	if d, ok := tok.Input("APITOKEN"); !ok || !bool(d.IsConfidential) || d.Validation.MaxLength == nil || *d.Validation.MaxLength != 300 {
		t.Errorf("token apitoken descriptor = %+v", d)
	}
	jwt, _ := Lookup("JWT")
	pk, ok := jwt.Input("PrivateKey")
	if !ok || *pk.Validation.MaxLength != 2000 || !bool(pk.IsConfidential) {
		t.Errorf("JWT PrivateKey = %+v", pk)
	}
	if jwt.ID != "ms.vss-endpoint.endpoint-auth-scheme-JWT" {
		t.Errorf("JWT id = %q", jwt.ID)
	}
	// Lookup returns copies: mutating one must not change the set.
	jwt.InputDescriptors[0].ID = "mutated"
	again, _ := Lookup("JWT")
	if again.InputDescriptors[0].ID != "Issuer" {
		t.Fatal("Lookup leaked shared state")
	}
}

func TestLookupUnknownListsClosedSet(t *testing.T) {
	_, err := Lookup("Kerberos")
	var ue *UnknownSchemeError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v", err)
	}
	if errkind.Of(err) != errkind.Usage {
		t.Errorf("kind = %v", errkind.Of(err))
	}
	for _, n := range Names() {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error does not list %s: %v", n, err)
		}
	}
}

func manifestPaths(t testing.TB) []string {
	paths, err := filepath.Glob("testdata/manifests/*.json")
	if err != nil || len(paths) != 14 {
		t.Fatalf("want 14 manifests in testdata/manifests, got %d (%v)", len(paths), err)
	}
	sort.Strings(paths)
	return paths
}

type typeSummary struct {
	File        string              `json:"file"`
	Name        string              `json:"name"`
	URL         string              `json:"url,omitempty"`
	Inputs      []string            `json:"inputs,omitempty"`
	Schemes     []schemeSummary     `json:"schemes"`
	DataSources map[string]string   `json:"dataSources,omitempty"`
	Bindings    map[string][]string `json:"bindings,omitempty"`
}

type schemeSummary struct {
	Name    string   `json:"name"`
	ID      string   `json:"id"`
	Display string   `json:"displayName"`
	Headers []string `json:"headers,omitempty"`
	Inputs  []string `json:"inputs"`
}

func summarize(file string, ts []EndpointType) []typeSummary {
	var out []typeSummary
	for _, et := range ts {
		s := typeSummary{File: file, Name: et.Name, URL: et.URL.Value}
		for _, d := range et.InputDescriptors {
			s.Inputs = append(s.Inputs, d.ID)
		}
		for _, sc := range et.AuthenticationSchemes {
			ss := schemeSummary{Name: sc.Name, ID: sc.ID, Display: sc.DisplayName}
			for _, h := range sc.Headers {
				ss.Headers = append(ss.Headers, h.Name+": "+h.Value)
			}
			for _, d := range sc.InputDescriptors {
				flag := ""
				if d.Required() {
					flag += "!"
				}
				if d.IsConfidential {
					flag += "*"
				}
				ss.Inputs = append(ss.Inputs, d.ID+flag)
			}
			for _, b := range sc.DataSourceBindings {
				if s.Bindings == nil {
					s.Bindings = map[string][]string{}
				}
				s.Bindings[sc.Name] = append(s.Bindings[sc.Name], b.Target+"<-"+b.DataSourceName)
			}
			s.Schemes = append(s.Schemes, ss)
		}
		for _, d := range et.DataSources {
			if s.DataSources == nil {
				s.DataSources = map[string]string{}
			}
			s.DataSources[d.Name] = d.ResultSelector
		}
		out = append(out, s)
	}
	return out
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s missing (run go test -update): %v", path, err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from golden (run go test -run %s -update and review the diff)\n--- got ---\n%s", path, t.Name(), got)
	}
}

func TestEveryManifestLoads(t *testing.T) {
	var all []typeSummary
	total := 0
	for _, p := range manifestPaths(t) {
		ts, err := LoadManifestFile(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		total += len(ts)
		all = append(all, summarize(filepath.Base(p), ts)...)
	}
	if total != 20 {
		t.Errorf("loaded %d endpoint types, want 20", total)
	}
	b, _ := json.MarshalIndent(all, "", "  ")
	golden(t, "manifests.json", append(b, '\n'))
}

func loadType(t testing.TB, file, name string) *EndpointType {
	t.Helper()
	ts, err := LoadManifestFile(filepath.Join("testdata", "manifests", file))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ts {
		if ts[i].Name == name {
			return &ts[i]
		}
	}
	t.Fatalf("type %s not in %s", name, file)
	return nil
}

func TestManifestMerging(t *testing.T) {
	oct := loadType(t, "OctopusDeploy__OctoTFS__octopus.json", "OctopusEndpoint")
	tok, _ := oct.Scheme("token")
	if len(tok.Headers) != 2 || tok.Headers[0].Name != "Authorization" || tok.Headers[1].Name != "X-Octopus-ApiKey" {
		t.Errorf("octopus headers = %+v; want the default Authorization kept and X-Octopus-ApiKey added", tok.Headers)
	}
	if d, _ := tok.Input("apitoken"); *d.Validation.MaxLength != 36 || d.Mode() != "passwordBox" {
		t.Errorf("octopus apitoken = %+v", d)
	}
	gcp := loadType(t, "microsoft__azure-pipelines-terraform__terraform.json", "GoogleCloudServiceEndpoint")
	jwt, _ := gcp.Scheme("JWT")
	if ids := inputIDs(jwt); strings.Join(ids, ",") != "Issuer,Audience,Scope,PrivateKey" {
		t.Errorf("GCP JWT inputs = %v", ids)
	}
	if d, _ := jwt.Input("issuer"); d.DisplayName() != "Client email" {
		t.Errorf("GCP Issuer not overridden: %+v", d)
	}
	if gcp.URL.Value != "https://www.googleapis.com/" || gcp.URL.IsVisible == nil || bool(*gcp.URL.IsVisible) {
		t.Errorf("GCP url = %+v", gcp.URL)
	}
	oci := loadType(t, "microsoft__azure-pipelines-terraform__terraform.json", "OracleCloudInfrastructureServiceEndpoint")
	if s := oci.AuthenticationSchemes[0]; s.Name != "None" || s.DisplayName != "OCI No authentication for PAR url" {
		t.Errorf("OCI contribution-shaped scheme = %+v", s)
	}
	ga := loadType(t, "microsoft__azure-pipelines-extensions__google-analytics.json", "googleanalytics")
	if ga.URL.Value != "https://www.googleapis.com/analytics/v3" {
		t.Errorf("string url = %q", ga.URL.Value)
	}
	sn := loadType(t, "microsoft__azure-pipelines-extensions__servicenow.json", "ServiceNow")
	o2, _ := sn.Scheme("OAuth2")
	if o2.Headers[0].Value != "Bearer {{{endpoint.AccessToken}}}" || !strings.Contains(o2.AuthorizationURL, "oauth_auth.do") || len(o2.DataSourceBindings) == 0 {
		t.Errorf("servicenow oauth2 = %+v", o2)
	}
}

func TestCleanJSON(t *testing.T) {
	in := "\xEF\xBB\xBF{ // comment\n \"a\": \"http://x/*y*/\", /* block\n */ \"b\": [1,2,],\n}"
	out, err := CleanJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("cleaned JSON invalid: %v\n%s", err, out)
	}
	if v["a"] != "http://x/*y*/" {
		t.Errorf("string content changed: %v", v["a"])
	}
	if _, err := CleanJSON([]byte(`{"a": "unterminated`)); err == nil {
		t.Error("unterminated string accepted")
	}
	if _, err := CleanJSON([]byte(`{"a": 1 /* open`)); err == nil {
		t.Error("unterminated comment accepted")
	}
}

func TestLoadManifestErrors(t *testing.T) {
	_, err := LoadManifest([]byte(`{"contributions":[{"type":"ms.vss-web.hub","id":"x"}]}`), "m.json")
	if err == nil || !strings.Contains(err.Error(), "no contribution of type ms.vss-endpoint.service-endpoint-type") {
		t.Errorf("err = %v", err)
	}
	_, err = LoadManifest([]byte(`{"contributions":[{"type":"ms.vss-endpoint.service-endpoint-type","id":"x","properties":{"name":"n","authenticationSchemes":[{"type":"ms.vss-endpoint.endpoint-auth-scheme-kerberos"}]}}]}`), "m.json")
	if errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), "contribution x") || !strings.Contains(err.Error(), "no usable authenticationSchemes") {
		t.Errorf("err = %v", err)
	}
	_, err = LoadManifest([]byte("{\n\"contributions\": [\n}"), "bad.json")
	if err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("err = %v", err)
	}
}

func TestBuiltinTypes(t *testing.T) {
	names := map[string]bool{}
	for _, bt := range BuiltinTypes() {
		names[bt.Name] = true
	}
	for _, n := range []string{"Generic", "externaltfs", "dockerregistry", "jenkins", "kubernetes", "vsmobilecenter", "azurerm"} {
		if !names[n] {
			t.Errorf("builtin type %s missing", n)
		}
	}
	dr, _ := BuiltinType("DockerRegistry")
	s, _ := dr.Scheme("UsernamePassword")
	if !strings.Contains(s.Headers[0].Value, "#getTokenUsingBasicAuth") {
		t.Errorf("dockerregistry header = %v", s.Headers)
	}
}

func sonarType() *EndpointType {
	basic, _ := Lookup("basic")
	return &EndpointType{Name: "sonarqube", AuthenticationSchemes: []Scheme{basic}}
}

func TestValidateSchemeNotDeclared(t *testing.T) {
	ep := &api.ServiceEndpoint{Name: "SonarQube@sonarqube.server", Type: "Sonarqube", URL: "http://sonarqube.server/",
		Authorization: &api.EndpointAuthorization{Scheme: "Token", Parameters: map[string]*string{"apitoken": sp("s3cr3t-token")}}}
	_, err := Validate(ep, sonarType())
	var nd *SchemeNotDeclaredError
	if !errors.As(err, &nd) {
		t.Fatalf("err = %v", err)
	}
	if !strings.HasPrefix(err.Error(), "Authentication scheme couldn't be recognized 'Token'\r\nParameter name: endpoint.Authorization.Scheme") {
		t.Errorf("message = %q", err.Error())
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Error("secret leaked")
	}
}

func TestValidateInputs(t *testing.T) {
	et := &EndpointType{Name: "custom", InputDescriptors: []InputDescriptor{
		{ID: "port", Name: "Port", Validation: &InputValidation{IsRequired: true, DataType: "number", MinValue: "1", MaxValue: "65535"}},
		{ID: "project", Name: "Project id", Validation: &InputValidation{DataType: "guid"}},
		{ID: "flag", Name: "Flag", Validation: &InputValidation{DataType: "boolean"}},
		{ID: "home", Name: "Home", Validation: &InputValidation{DataType: "uri"}},
		{ID: "region", Name: "Region", Validation: &InputValidation{Pattern: "^[a-z]+-[a-z]+-[0-9]$", PatternMismatchErrorMessage: "use a region like eu-west-1"}},
		{ID: "tier", Name: "Tier", Values: &InputValues{IsLimitedToPossibleValues: true, PossibleValues: []PossibleValue{{Value: "free"}, {Value: "paid"}}}},
		{ID: "code", Name: "Code", Validation: &InputValidation{MinLength: ptrInt(3), MaxLength: ptrInt(5)}},
	}}
	basic, _ := Lookup("basic")
	et.AuthenticationSchemes = []Scheme{basic}
	good := &api.ServiceEndpoint{Type: "custom", URL: "https://svc.example/",
		Data: map[string]string{"PORT": "443", "project": "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "flag": "True",
			"home": "https://x", "region": "eu-west-1", "tier": "paid", "code": "abcd"},
		Authorization: &api.EndpointAuthorization{Scheme: "usernamepassword", Parameters: map[string]*string{"UserName": sp("u"), "PASSWORD": sp("p")}}}
	if ps, err := Validate(good, et); err != nil {
		t.Fatalf("good endpoint rejected: %v (%v)", err, ps)
	}
	long := strings.Repeat("x", 301)
	bad := &api.ServiceEndpoint{Type: "custom", URL: "not a url",
		Data: map[string]string{"port": "70000", "project": "nope", "flag": "yes", "home": "relative/path",
			"region": "moon", "tier": "gold", "code": "ab"},
		Authorization: &api.EndpointAuthorization{Scheme: "UsernamePassword", Parameters: map[string]*string{"username": sp("u"), "password": sp(long)}}}
	ps, err := Validate(bad, et)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"url: not an absolute URL",
		"Port (port): above the maximum 65535",
		"Project id (project): must be a GUID",
		"Flag (flag): must be true or false",
		"Home (home): must be an absolute URI",
		"Region (region): use a region like eu-west-1",
		"Tier (tier): must be one of: free, paid",
		"Code (code): too short: 2 characters, at least 3 required",
		"Password (password): too long: 301 characters, at most 300 allowed",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in\n%s", want, msg)
		}
	}
	if strings.Contains(msg, long) {
		t.Error("confidential value appears in the error")
	}
	if len(ps) < 9 {
		t.Errorf("problems = %d", len(ps))
	}
	missing := &api.ServiceEndpoint{Type: "custom", URL: "https://svc/", Data: map[string]string{"port": "1"},
		Authorization: &api.EndpointAuthorization{Scheme: "UsernamePassword", Parameters: map[string]*string{"username": sp("u")}}}
	_, err = Validate(missing, et)
	if err == nil || !strings.Contains(err.Error(), "Password (password): required") {
		t.Errorf("err = %v", err)
	}
	// Wire null keeps the stored secret: not an error.
	missing.Authorization.Parameters["password"] = nil
	if _, err := Validate(missing, et); err != nil {
		t.Errorf("null password rejected: %v", err)
	}
}

func ptrInt(n int) *FlexInt { v := FlexInt(n); return &v }

func TestValidateJWTNeedsAllFour(t *testing.T) {
	jwt, _ := Lookup("JWT")
	et := &EndpointType{Name: "gcp", AuthenticationSchemes: []Scheme{jwt}}
	ep := &api.ServiceEndpoint{Type: "gcp", URL: "https://www.googleapis.com/",
		Authorization: &api.EndpointAuthorization{Scheme: "jwt", Parameters: map[string]*string{
			"audience": sp("https://oauth2.example/token"), "privatekey": sp("-----BEGIN PRIVATE KEY-----x")}}}
	_, err := Validate(ep, et)
	if err == nil || !strings.Contains(err.Error(), "Issuer (Issuer): required") || !strings.Contains(err.Error(), "Scope (Scope): required") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "BEGIN PRIVATE") {
		t.Error("key leaked")
	}
}

func TestRedacted(t *testing.T) {
	basic, _ := Lookup("basic")
	ep := &api.ServiceEndpoint{Authorization: &api.EndpointAuthorization{Scheme: "UsernamePassword",
		Parameters: map[string]*string{"username": sp("bob"), "Password": sp("hunter2"), "extraSecret": sp("x1"), "nulled": nil}}}
	r := Redacted(ep, nil, &basic)
	p := r.Authorization.Parameters
	if *p["username"] != "bob" || *p["Password"] != Mask || *p["extraSecret"] != Mask || p["nulled"] != nil {
		t.Errorf("redacted = %v %v %v %v", *p["username"], *p["Password"], *p["extraSecret"], p["nulled"])
	}
	if *ep.Authorization.Parameters["Password"] != "hunter2" {
		t.Error("Redacted modified its input")
	}
}

func FuzzLoadManifest(f *testing.F) {
	// Small seeds: the fuzzing engine crawls on the 20-35 KB real manifests
	// (TestEveryManifestLoads covers those).
	f.Add([]byte(`{"contributions":[{"id":"t","type":"ms.vss-endpoint.service-endpoint-type","properties":{"name":"oct","url":{"value":"https://x","isVisible":"false"},` +
		`"inputDescriptors":[{"id":"a","validation":{"maxLength":"36","isRequired":"true"},"values":{"defaultValue":true}}],` +
		`"authenticationSchemes":[{"type":"ms.vss-endpoint.endpoint-auth-scheme-token","headers":[{"name":"X","value":"{{endpoint.apitoken}}"}],"inputDescriptors":[{"id":"apitoken","isConfidential":true}]},` +
		`{"id":"n","type":"ms.vss-endpoint.endpoint-auth-scheme-none","properties":{"name":"None","displayName":"d"}}],` +
		`"dataSources":[{"name":"TestConnection","endpointUrl":"$(endpoint.url)/api","resultSelector":"jsonpath:$.[*]"}]}}]}`))
	f.Add([]byte("\xEF\xBB\xBF{\"contributions\":[]}"))
	f.Add([]byte(`{"contributions":[{"type":"ms.vss-endpoint.service-endpoint-type","properties":{"name":"x","url":"u","authenticationSchemes":[{"type":"basic","headers":[{"name":"a","value":"b"}]}]}}]}`))
	f.Add([]byte("// c\n{/* */}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := LoadManifest(b, "fuzz")
		if err == nil {
			for _, et := range ts {
				if et.Name == "" || len(et.AuthenticationSchemes) == 0 {
					t.Fatalf("accepted type without name or schemes: %+v", et)
				}
			}
		}
	})
}
