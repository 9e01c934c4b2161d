package sink_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/sink"
)

const octopusManifest = "../scheme/testdata/manifests/OctopusDeploy__OctoTFS__octopus.json"

// recorder is a third-party tool that records what it was sent.
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	header http.Header
	path   string
	body   string
	n      int
}

func newRecorder(t *testing.T) *recorder {
	rc := &recorder{}
	rc.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.header, rc.path, rc.body = r.Header.Clone(), r.URL.Path, string(b)
		rc.n++
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *recorder) last() (http.Header, string, string, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.header, rc.path, rc.body, rc.n
}

func httpParams(t *testing.T, url, endpoint string) string {
	t.Helper()
	p := `{"type":"http","url":"` + url + `/api/alm_settings/update_azure","contentType":"application/x-www-form-urlencoded",
		"body":"key=ado&personalAccessToken={{token}}","stateFile":"` + filepath.Join(t.TempDir(), "state.json") + `","endpoint":` + endpoint + `}`
	if !json.Valid([]byte(p)) {
		t.Fatalf("test params are not JSON: %s", p)
	}
	return p
}

// SonarQube's ALM setting, authenticated the way a sonarqube service
// connection is: UsernamePassword with the Sonar token as username.
func TestHTTPSinkEndpointSonarQube(t *testing.T) {
	tool := newRecorder(t)
	const sonarToken = "squ_0123456789abcdef0123456789abcdef01234567"
	t.Setenv("PATROL_TEST_SONAR_TOKEN", sonarToken)
	s := build(t, httpParams(t, tool.URL, `{"type":"sonarqube","scheme":"UsernamePassword","parameters":{"username":{"env":"PATROL_TEST_SONAR_TOKEN"}}}`),
		sink.Deps{HTTPClient: tool.Client()})
	if err := s.Write(context.Background(), secret, meta); err != nil {
		t.Fatal(err)
	}
	h, path, body, _ := tool.last()
	// The sonarqube scheme's template: Basic {{ #base64 endpoint.username ":" endpoint.password }}, password unset.
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(sonarToken+":"))
	if got := h.Get("Authorization"); got != want {
		t.Fatalf("Authorization = %q, want %q", got, want)
	}
	if path != "/api/alm_settings/update_azure" || body != "key=ado&personalAccessToken="+secret || h.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Fatalf("request: %s %q %v", path, body, h)
	}
}

// A Token-scheme type whose manifest replaces the Authorization header.
func TestHTTPSinkEndpointManifestTokenHeader(t *testing.T) {
	tool := newRecorder(t)
	keyFile := filepath.Join(t.TempDir(), "octopus-key")
	const apiKey = "API-ABCDEFGHIJKLMNOPQRSTUVWXYZ0"
	if err := os.WriteFile(keyFile, []byte(apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := build(t, httpParams(t, tool.URL, `{"manifest":"`+octopusManifest+`","type":"OctopusEndpoint","scheme":"Token","parameters":{"apitoken":{"file":"`+keyFile+`"}}}`),
		sink.Deps{HTTPClient: tool.Client()})
	if err := s.Write(context.Background(), secret, meta); err != nil {
		t.Fatal(err)
	}
	h, _, _, _ := tool.last()
	if got := h.Get("X-Octopus-ApiKey"); got != apiKey {
		t.Fatalf("X-Octopus-ApiKey = %q, want the key from the file", got)
	}
	if got := h.Get("Authorization"); got != apiKey {
		t.Fatalf("type headers merge with the Token default by name, so the default Authorization is sent too; got %q", got)
	}
}

// Generic = plain Basic; a non-confidential username may be inline.
func TestHTTPSinkEndpointGenericInlineUsername(t *testing.T) {
	tool := newRecorder(t)
	t.Setenv("PATROL_TEST_PW", "pa:ss&word")
	s := build(t, httpParams(t, tool.URL, `{"type":"Generic","parameters":{"username":{"value":"admin"},"password":{"env":"PATROL_TEST_PW"}}}`),
		sink.Deps{HTTPClient: tool.Client()})
	if err := s.Write(context.Background(), secret, meta); err != nil {
		t.Fatal(err)
	}
	h, _, _, _ := tool.last()
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:pa:ss&word")); h.Get("Authorization") != want {
		t.Fatalf("Authorization = %q, want %q", h.Get("Authorization"), want)
	}
}

func TestHTTPSinkEndpointRefusals(t *testing.T) {
	const inline = "inline-secret-value-0123"
	for name, tc := range map[string]struct{ endpoint, want string }{
		"inline confidential": {`{"type":"sonarqube","parameters":{"username":{"value":"` + inline + `"}}}`, "endpoint.parameters.username"},
		"inline unknown key":  {`{"scheme":"Token","parameters":{"apitoken":{"env":"X"},"extra":{"value":"` + inline + `"}}}`, "endpoint.parameters.extra"},
		"two sources":         {`{"type":"sonarqube","parameters":{"username":{"env":"A","file":"/b"}}}`, "exactly one of value, env or file"},
		"required missing":    {`{"type":"sonarqube"}`, "Token (username): required"},
		"unknown type":        {`{"type":"nosuchtype","scheme":"Token"}`, `"nosuchtype" is not a built-in endpoint type`},
		"scheme not declared": {`{"type":"sonarqube","scheme":"Token"}`, `does not declare scheme "Token"`},
		"several schemes":     {`{"type":"externaltfs","parameters":{"apitoken":{"env":"X"}}}`, "choose one of"},
		"no type nor scheme":  {`{"parameters":{"apitoken":{"env":"X"}}}`, "needs type or scheme"},
		"manifest type":       {`{"manifest":"` + octopusManifest + `","type":"sonarqube"}`, "not declared in manifest"},
		"manifest missing":    {`{"manifest":"/nonexistent/vss-extension.json","type":"x"}`, "endpoint.manifest"},
	} {
		t.Run(name, func(t *testing.T) {
			params := `{"type":"http","url":"https://sonar.example/api","stateFile":"/s","endpoint":` + tc.endpoint + `}`
			err := sink.Validate(sink.Spec{Type: "http", Params: json.RawMessage(params), Where: "credentials[0].sinks[0]"})
			if err == nil || !strings.Contains(err.Error(), tc.want) || errkind.Of(err) != errkind.Usage {
				t.Fatalf("got %v, want an usage error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), inline) {
				t.Fatalf("the error repeats the inline secret: %v", err)
			}
			if strings.HasPrefix(name, "inline") && (!strings.Contains(err.Error(), "env") || !strings.Contains(err.Error(), "file")) {
				t.Fatalf("the refusal must say how to fix it: %v", err)
			}
		})
	}
	both := `{"type":"http","url":"https://x/a","stateFile":"/s","auth":{"type":"bearer","tokenEnv":"T"},"endpoint":{"scheme":"Token","parameters":{"apitoken":{"env":"T"}}}}`
	if err := sink.Validate(sink.Spec{Type: "http", Params: json.RawMessage(both)}); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("auth and endpoint: %v", err)
	}
}

func TestHTTPSinkEndpointWriteTimeErrors(t *testing.T) {
	tool := newRecorder(t)
	s := build(t, httpParams(t, tool.URL, `{"type":"sonarqube","parameters":{"username":{"env":"PATROL_TEST_UNSET_VARIABLE"}}}`), sink.Deps{HTTPClient: tool.Client()})
	err := s.Write(context.Background(), secret, meta)
	if err == nil || !strings.Contains(err.Error(), "endpoint.parameters.username") || !strings.Contains(err.Error(), "PATROL_TEST_UNSET_VARIABLE") || errkind.Of(err) != errkind.Usage {
		t.Fatalf("unset env: %v", err)
	}
	if _, _, _, n := tool.last(); n != 0 {
		t.Fatal("a request was sent without credentials")
	}
	// A value that breaks the type's validation is refused before any request, without quoting it.
	const long = "0123456789012345678901234567890123456789-too-long"
	t.Setenv("PATROL_TEST_LONG_KEY", long)
	s = build(t, httpParams(t, tool.URL, `{"manifest":"`+octopusManifest+`","type":"OctopusEndpoint","parameters":{"apitoken":{"env":"PATROL_TEST_LONG_KEY"}}}`), sink.Deps{HTTPClient: tool.Client()})
	err = s.Write(context.Background(), secret, meta)
	if err == nil || strings.Contains(err.Error(), long) || !strings.Contains(err.Error(), "apitoken") {
		t.Fatalf("invalid value: %v", err)
	}
	if _, _, _, n := tool.last(); n != 0 {
		t.Fatal("a request was sent with an invalid credential")
	}
}

// Bitbucket's Token scheme mixes a type-level input (data.username) with the
// scheme's confidential apitoken in one Basic header.
func TestHTTPSinkEndpointTypeData(t *testing.T) {
	tool := newRecorder(t)
	t.Setenv("PATROL_TEST_BB_TOKEN", "bb-app-password-0123")
	const manifest = "../scheme/testdata/manifests/microsoft__azure-pipelines-extensions__bitbucket.json"
	s := build(t, httpParams(t, tool.URL, `{"manifest":"`+manifest+`","type":"bitbucket","scheme":"Token","data":{"username":"build-bot"},"parameters":{"apitoken":{"env":"PATROL_TEST_BB_TOKEN"}}}`),
		sink.Deps{HTTPClient: tool.Client()})
	if err := s.Write(context.Background(), secret, meta); err != nil {
		t.Fatal(err)
	}
	h, _, _, _ := tool.last()
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("build-bot:bb-app-password-0123")); h.Get("Authorization") != want {
		t.Fatalf("Authorization = %q, want %q", h.Get("Authorization"), want)
	}
}

// FuzzHTTPSinkValidate: any parameters decode to an error or a sink, never a
// panic, and an inline value is never echoed in an error.
func FuzzHTTPSinkValidate(f *testing.F) {
	f.Add(`{"type":"sonarqube","parameters":{"username":{"value":"INLINE-SECRET"}}}`)
	f.Add(`{"scheme":"Token","parameters":{"apitoken":{"env":"X"}}}`)
	f.Add(`{"type":"Generic","parameters":{"username":{"value":"INLINE-SECRET"},"password":{"file":"/nonexistent"}}}`)
	f.Add(`{"scheme":"JWT","url":"https://issuer.example/","parameters":{"Issuer":{"value":"i"},"Audience":{"value":"INLINE-SECRET"}}}`)
	f.Fuzz(func(t *testing.T, endpoint string) {
		params := `{"type":"http","url":"https://tool.example/api","stateFile":"/s","endpoint":` + endpoint + `}`
		err := sink.Validate(sink.Spec{Type: "http", Params: json.RawMessage(params)})
		if err == nil {
			return
		}
		// Only what is given as an inline value is secret: a scheme or type
		// name that patrol does not know is quoted back on purpose — also
		// when it spells an inline value too (then the quote is the name's).
		values, others := inlineValues(endpoint)
	values:
		for _, v := range values {
			for _, o := range others {
				if strings.Contains(o, v) {
					continue values
				}
			}
			if strings.Contains(v, "INLINE-SECRET") && strings.Contains(err.Error(), v) {
				t.Fatalf("inline value %q echoed: %v", v, err)
			}
		}
	})
}

// inlineValues returns every string given under a "value" key (matched as
// encoding/json matches keys, ignoring case) anywhere in doc, and every other
// string of doc (keys, other values), which an error may quote.
func inlineValues(doc string) (values, others []string) {
	var root any
	if json.Unmarshal([]byte(doc), &root) != nil {
		return nil, nil
	}
	var walk func(any)
	walk = func(n any) {
		switch n := n.(type) {
		case map[string]any:
			for k, v := range n {
				others = append(others, k)
				if s, ok := v.(string); ok {
					if strings.EqualFold(k, "value") {
						values = append(values, s)
					} else {
						others = append(others, s)
					}
				}
				walk(v)
			}
		case []any:
			for _, v := range n {
				if s, ok := v.(string); ok {
					others = append(others, s)
				}
				walk(v)
			}
		}
	}
	walk(root)
	return values, others
}
