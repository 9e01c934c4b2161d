package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/emulator"
)

func runEP(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEndpointSchemesCLI(t *testing.T) {
	code, out, errs := runEP(t, map[string]string{}, "", "endpoint", "schemes", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 12 {
		t.Fatalf("schemes json: %v (%d)", err, len(list))
	}
	code, _, errs = runEP(t, map[string]string{}, "", "endpoint", "schemes", "Kerberos")
	if code != 2 || !strings.Contains(errs, "UsernamePassword") {
		t.Errorf("unknown scheme: exit %d %s", code, errs)
	}
}

func TestEndpointValidateCLI(t *testing.T) {
	ep := writeFile(t, "sonar.json", `{"name":"SonarQube@sonarqube.server","type":"Sonarqube","url":"http://sonarqube.server/","authorization":{"scheme":"Token","parameters":{"apitoken":"sq-secret-1"}}}`)
	code, _, errs := runEP(t, map[string]string{}, "", "endpoint", "validate", "--endpoint", ep, "-o", "json")
	if code != 2 || !strings.Contains(errs, "Authentication scheme couldn't be recognized 'Token'") || strings.Contains(errs, "sq-secret-1") {
		t.Errorf("exit %d stderr %s", code, errs)
	}
	ok := writeFile(t, "sonar-ok.json", `{"name":"s","type":"sonarqube","url":"http://sonarqube.server/","authorization":{"scheme":"UsernamePassword","parameters":{"username":"sq-secret-1"}}}`)
	code, out, errs := runEP(t, map[string]string{}, "", "endpoint", "validate", "--endpoint", ok, "-o", "json")
	if code != 0 || !strings.Contains(out, `"valid": true`) {
		t.Errorf("exit %d out %s err %s", code, out, errs)
	}
	m := writeFile(t, "m.json", `{"name":"x","type":"OctopusEndpoint","url":"https://octo.example","authorization":{"scheme":"Token","parameters":{"apitoken":"`+strings.Repeat("k", 40)+`"}}}`)
	code, out, _ = runEP(t, map[string]string{}, "", "endpoint", "validate", "--endpoint", m, "--manifest", "../../internal/scheme/testdata/manifests/OctopusDeploy__OctoTFS__octopus.json", "-o", "json")
	if code != 2 || !strings.Contains(out, `"input": "API Key (apitoken)"`) || !strings.Contains(out, "too long: 40 characters, at most 36 allowed") || strings.Contains(out, "kkkk") {
		t.Errorf("octopus: exit %d %s", code, out)
	}
}

func TestEndpointHeaderCLIMasks(t *testing.T) {
	ep := writeFile(t, "j.json", `{"type":"jenkins","url":"https://jenkins.example/","authorization":{"scheme":"UsernamePassword","parameters":{"username":"bob","password":"hunter2hunter2"}}}`)
	code, out, errs := runEP(t, map[string]string{}, "", "endpoint", "header", "--endpoint", ep, "-o", "json")
	if code != 0 || !strings.Contains(out, `"Basic ********"`) || strings.Contains(out, "Ym9i") {
		t.Errorf("masked: exit %d %s %s", code, out, errs)
	}
	code, out, _ = runEP(t, map[string]string{}, "", "endpoint", "header", "--endpoint", ep, "--reveal", "-o", "json")
	if code != 0 || !strings.Contains(out, "Basic Ym9iOmh1bnRlcjJodW50ZXIy") {
		t.Errorf("reveal: exit %d %s", code, out)
	}
}

func TestEndpointRequestAndTestCLI(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" {
			w.WriteHeader(401)
			return
		}
		w.Write([]byte(`{"project":[{"id":"_Root"},{"id":"P1","name":"One"}],"buildType":[{"id":"B1"}]}`))
	}))
	defer srv.Close()
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	env := map[string]string{"PATROL_CA_BUNDLE": ca}
	manifest := "../../internal/scheme/testdata/manifests/microsoft__azure-pipelines-extensions__teamcity.json"
	ep := writeFile(t, "tc.json", `{"type":"teamcity","url":"`+srv.URL+`/","authorization":{"scheme":"UsernamePassword","parameters":{"username":"u","password":"p"}}}`)
	code, out, errs := runEP(t, env, "", "endpoint", "request", "--manifest", manifest, "--endpoint", ep, "--data-source", "BuildConfigurations", "--param", "project=P1", "-o", "json")
	if code != 0 || !strings.Contains(out, `{\"id\":\"B1\"}`) {
		t.Errorf("request: exit %d %s %s", code, out, errs)
	}
	code, out, errs = runEP(t, env, "", "endpoint", "test", "--manifest", manifest, "--endpoint", ep, "-o", "json")
	if code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Errorf("test: exit %d %s %s", code, out, errs)
	}
	bad := writeFile(t, "bad.json", `{"type":"teamcity","url":"`+srv.URL+`/","authorization":{"scheme":"UsernamePassword","parameters":{"username":"u","password":"wrong"}}}`)
	code, _, errs = runEP(t, env, "", "endpoint", "test", "--manifest", manifest, "--endpoint", bad, "-o", "json")
	if code != 3 || strings.Contains(errs, "wrong") {
		t.Errorf("bad credentials: exit %d %s", code, errs)
	}
}

func TestEndpointCreateSetCredentialEmulator(t *testing.T) {
	e, env := emuEnv(t)
	env["PATROL_PROJECT"] = emulator.DefaultProject
	ep := writeFile(t, "g.json", `{"name":"sonar-it","type":"sonarqube","url":"https://sonar.example/","authorization":{"scheme":"UsernamePassword","parameters":{"username":"old-token-1234"}}}`)
	code, out, errs := runEP(t, env, "", "endpoint", "create", "--endpoint", ep, "-o", "json")
	if code != 0 {
		t.Fatalf("create: exit %d %s %s", code, out, errs)
	}
	var created []map[string]any
	if err := json.Unmarshal([]byte(out), &created); err != nil || len(created) != 1 {
		t.Fatalf("create output: %v %s", err, out)
	}
	id := created[0]["id"].(string)
	if strings.Contains(out, "old-token-1234") {
		t.Error("secret echoed by create")
	}
	code, out, errs = runEP(t, env, "new-token-5678\n", "endpoint", "set-credential", "sonar-it", "--key", "username", "-o", "json")
	if code != 0 || strings.Contains(out+errs, "new-token-5678") || !strings.Contains(out, `"ready": true`) {
		t.Fatalf("set-credential: exit %d %s %s", code, out, errs)
	}
	if v, ok := e.ServiceEndpointSecret(emulator.DefaultOrg, id, "username"); !ok || v != "new-token-5678" {
		t.Errorf("stored secret = %q, %v", v, ok)
	}
	env["NEWSECRET"] = "from-env-9999"
	code, _, errs = runEP(t, env, "", "endpoint", "set-credential", id, "--key", "username", "--secret-env", "NEWSECRET")
	if code != 0 {
		t.Fatalf("set-credential env: %d %s", code, errs)
	}
	if v, _ := e.ServiceEndpointSecret(emulator.DefaultOrg, id, "username"); v != "from-env-9999" {
		t.Errorf("stored secret after env = %q", v)
	}
	code, out, _ = runEP(t, env, "", "endpoint", "list", "-o", "json")
	if code != 0 || !strings.Contains(out, "sonar-it") || strings.Contains(out, "from-env-9999") {
		t.Errorf("list: %d %s", code, out)
	}
	code, _, errs = runEP(t, env, "", "endpoint", "set-credential", "no-such-endpoint", "--secret-env", "NEWSECRET")
	if code != 5 {
		t.Errorf("missing endpoint: exit %d %s", code, errs)
	}
	// Readiness: the emulator reports InProgress once, patrol waits.
	e.SetEndpointBehavior(emulator.EndpointBehavior{InProgressPolls: 1})
	code, out, errs = runEP(t, env, "third-token\n", "endpoint", "set-credential", id, "--key", "username", "-o", "json")
	if code != 0 || !strings.Contains(out, `"ready": true`) {
		t.Errorf("in-progress: exit %d %s %s", code, out, errs)
	}
	if v, _ := e.ServiceEndpointSecret(emulator.DefaultOrg, id, "username"); v != "third-token" {
		t.Errorf("stored = %q", v)
	}
	e.SetEndpointBehavior(emulator.EndpointBehavior{Fail: true})
	code, _, errs = runEP(t, env, "fourth-token\n", "endpoint", "set-credential", id, "--key", "username")
	if code == 0 || strings.Contains(errs, "fourth-token") {
		t.Errorf("failed endpoint: exit %d %s", code, errs)
	}
	e.SetEndpointBehavior(emulator.EndpointBehavior{})
	// Validation against the server's types list.
	tokEP := writeFile(t, "tok.json", `{"name":"s","type":"sonarqube","url":"https://sonar.example/","authorization":{"scheme":"Token","parameters":{"apitoken":"zzz-secret"}}}`)
	code, _, errs = runEP(t, env, "", "endpoint", "validate", "--server-types", "--endpoint", tokEP)
	if code != 2 || !strings.Contains(errs, "Authentication scheme couldn't be recognized 'Token'") || strings.Contains(errs, "zzz-secret") {
		t.Errorf("server-types validate: exit %d %s", code, errs)
	}
}

func TestEndpointRequestBindingCLI(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		json.NewDecoder(r.Body).Decode(&m)
		if m["client_secret"] != "cs-1" || m["code"] != "c0de" {
			w.Write([]byte(`{"error":"bad"}`))
			return
		}
		w.Write([]byte(`{"access_token":"at-1"}`))
	}))
	defer srv.Close()
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	conf := writeFile(t, "conf.json", `{"Url":"`+srv.URL+`","ClientId":"cid","ClientSecret":"cs-1","AuthorizationCode":"c0de"}`)
	ep := writeFile(t, "k.json", `{"type":"kangaroo","authorization":{"scheme":"OAuth2","parameters":{"ConfigurationId":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","AccessToken":"x"}}}`)
	code, out, errs := runEP(t, map[string]string{"PATROL_CA_BUNDLE": ca}, "", "endpoint", "request", "--manifest", "../../internal/scheme/testdata/manifests/microsoft__azure-pipelines-extensions__kangaroo-l2.json",
		"--endpoint", ep, "--binding", "AccessToken", "--configuration-file", conf, "-o", "json")
	if code != 0 || !strings.Contains(out, `\"AccessToken\" : \"at-1\"`) {
		t.Errorf("exit %d out %s err %s", code, out, errs)
	}
}

func TestEndpointValidateStrictUnknownScheme(t *testing.T) {
	m := writeFile(t, "odd.json", `{"contributions":[{"id":"odd","type":"ms.vss-endpoint.service-endpoint-type","properties":{"name":"odd","url":"https://odd.example/",
 "authenticationSchemes":[{"type":"ms.vss-endpoint.endpoint-auth-scheme-kerberos"},{"type":"ms.vss-endpoint.endpoint-auth-scheme-token"}]}}]}`)
	ep := writeFile(t, "e.json", `{"type":"odd","url":"https://odd.example/","authorization":{"scheme":"Token","parameters":{"apitoken":"t"}}}`)
	code, _, errs := runEP(t, map[string]string{}, "", "endpoint", "validate", "--manifest", m, "--endpoint", ep, "-o", "json")
	if code != 0 || !strings.Contains(errs, "warning:") || !strings.Contains(errs, "endpoint-auth-scheme-kerberos") {
		t.Errorf("lenient: exit %d\n%s", code, errs)
	}
	code, out, errs := runEP(t, map[string]string{}, "", "endpoint", "validate", "--manifest", m, "--endpoint", ep, "--strict", "-o", "json")
	if code != 2 || !strings.Contains(errs, "--strict") || !strings.Contains(out, `"valid": false`) {
		t.Errorf("strict: exit %d\n%s\n%s", code, out, errs)
	}
}

func TestEndpointJavaScriptManifestCLI(t *testing.T) {
	m := writeFile(t, "vss-extension.js", `module.exports = (env) => ({contributions: [{id: "t", type: "ms.vss-endpoint.service-endpoint-type",
  properties: {name: "js-" + env.mode, url: "https://js.example/", authenticationSchemes: [{type: "ms.vss-endpoint.endpoint-auth-scheme-basic"}]}}]});`)
	code, out, errs := runEP(t, map[string]string{}, "", "endpoint", "types", "--manifest", m, "--manifest-env", "mode=dev", "-o", "json")
	if code != 0 || !strings.Contains(out, `"name": "js-dev"`) {
		t.Errorf("exit %d\n%s\n%s", code, out, errs)
	}
	bad := writeFile(t, "manifest.js", `require("child_process").execSync("id"); module.exports = {};`)
	code, _, errs = runEP(t, map[string]string{}, "", "endpoint", "types", "--manifest", bad)
	if code != 2 || !strings.Contains(errs, `require("child_process") is not available`) {
		t.Errorf("require: exit %d\n%s", code, errs)
	}
}

func TestEndpointLintCLI(t *testing.T) {
	code, out, errs := runEP(t, map[string]string{}, "", "endpoint", "lint", "--manifest", "../../internal/endpointlint/testdata/mistakes.json", "-o", "json")
	var rep struct {
		Errors   int `json:"errors"`
		Findings []struct {
			Severity, Rule, Contribution, Path, Message, Fix string
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 2 || rep.Errors == 0 || !strings.Contains(errs, "error(s)") {
		t.Fatalf("mistakes: exit %d, %v\n%s\n%s", code, err, out, errs)
	}
	for _, f := range rep.Findings {
		if f.Contribution == "" || !strings.HasPrefix(f.Path, "$.contributions[") || f.Fix == "" {
			t.Errorf("finding lacks contribution, path or fix: %+v", f)
		}
	}
	clean := "../../internal/scheme/testdata/manifests/microsoft__azure-pipelines-extensions__bitbucket.json"
	if code, out, errs := runEP(t, map[string]string{}, "", "endpoint", "lint", "--manifest", clean); code != 0 {
		t.Errorf("clean manifest: exit %d\n%s\n%s", code, out, errs)
	}
	warned := "../../internal/scheme/testdata/manifests/snyk__snyk-azure-pipelines-task__snyk.json"
	if code, _, _ := runEP(t, map[string]string{}, "", "endpoint", "lint", "--manifest", warned); code != 0 {
		t.Errorf("warnings only: exit %d, want 0", code)
	}
	if code, _, _ := runEP(t, map[string]string{}, "", "endpoint", "lint", "--manifest", warned, "--strict"); code != 2 {
		t.Errorf("warnings with --strict: exit %d, want 2", code)
	}
	js := writeFile(t, "vss-extension.js", `module.exports = {contributions: [{id: "js", type: "ms.vss-endpoint.service-endpoint-type",
  properties: {name: "js", authenticationSchemes: [{type: "ms.vss-endpoint.endpoint-auth-scheme-token"}],
  dataSources: [{name: "TestConnection", endpointUrl: "api/ping", resultSelector: "json:$"}]}}]};`)
	code, out, _ = runEP(t, map[string]string{}, "", "endpoint", "lint", "--manifest", js, "-o", "json")
	if code != 2 || !strings.Contains(out, "result-selector") {
		t.Errorf("js manifest: exit %d\n%s", code, out)
	}
	if code, _, _ := runEP(t, map[string]string{}, "", "endpoint", "lint"); code != 2 {
		t.Errorf("no --manifest: exit %d", code)
	}
}
