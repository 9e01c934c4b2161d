package scheme

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// headerMergeManifest declares, per Azure DevOps' rule, header overrides
// that must merge with the scheme contribution's defaults by name.
const headerMergeManifest = `{"contributions":[{"id":"merge","type":"ms.vss-endpoint.service-endpoint-type","properties":{
 "name":"merge","url":"https://merge.example/",
 "inputDescriptors":[{"id":"x","name":"X"}],
 "authenticationSchemes":[
  {"type":"ms.vss-endpoint.endpoint-auth-scheme-basic","headers":[{"name":"X-Something","value":"{{endpoint.x}}"}]},
  {"type":"ms.vss-endpoint.endpoint-auth-scheme-token","headers":[{"name":"X-Api-Token","value":"{{{endpoint.apitoken}}}"}]},
  {"type":"ms.vss-endpoint.endpoint-auth-scheme-oauth2","headers":[{"name":"authorization","value":"Token {{{endpoint.AccessToken}}}"},{"name":"Accept","value":"application/json"}]}
 ]}}]}`

func TestHeadersMergeByName(t *testing.T) {
	ts, err := LoadManifest([]byte(headerMergeManifest), "merge.json")
	if err != nil {
		t.Fatal(err)
	}
	et := &ts[0]
	render := func(scheme string, params map[string]string) http.Header {
		t.Helper()
		a, err := New(endpoint("merge", "https://merge.example/", scheme, params, map[string]string{"x": "ex"}), et, Options{})
		if err != nil {
			t.Fatal(err)
		}
		h, err := a.Headers(context.Background(), "GET", "https://merge.example/api")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h := render("UsernamePassword", map[string]string{"username": "u", "password": "p"})
	if got := h["Authorization"]; len(got) != 1 || got[0] != "Basic dTpw" {
		t.Errorf("basic: Authorization = %q; the default must survive an override of another header (all: %v)", got, h)
	}
	if got := h["X-Something"]; len(got) != 1 || got[0] != "ex" {
		t.Errorf("basic: X-Something = %q", got)
	}
	h = render("Token", map[string]string{"apitoken": "tok"})
	if h.Get("Authorization") != "tok" || h.Get("X-Api-Token") != "tok" {
		t.Errorf("token: headers = %v; want the default Authorization and X-Api-Token", h)
	}
	h = render("OAuth2", map[string]string{"AccessToken": "at", "ConfigurationId": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"})
	if got := h["Authorization"]; len(got) != 1 || got[0] != "Token at" {
		t.Errorf("oauth2: Authorization = %q; a case-insensitive name overrides the default in place", got)
	}
	o2, _ := et.Scheme("OAuth2")
	if names := headerNames(o2); strings.Join(names, ",") != "authorization,Accept" {
		t.Errorf("oauth2 merged headers = %v; want the override in the default's place, then new ones", names)
	}
}

const unknownSchemeManifest = `{"contributions":[{"id":"odd","type":"ms.vss-endpoint.service-endpoint-type","properties":{
 "name":"odd","url":"https://odd.example/",
 "authenticationSchemes":[
  {"type":"ms.vss-endpoint.endpoint-auth-scheme-kerberos"},
  {"type":"ms.vss-endpoint.endpoint-auth-scheme-token","inputDescriptors":[{"id":"ApiToken","name":"Other token","isConfidential":true}]}
 ]}}]}`

// Azure DevOps skips a scheme entry whose type it does not know; patrol
// warns (naming the type and the closed set) and keeps the rest.
func TestUnknownSchemeTypeSkippedWithWarning(t *testing.T) {
	ts, err := LoadManifest([]byte(unknownSchemeManifest), "odd.json")
	if err != nil {
		t.Fatalf("manifest with one unknown scheme type refused: %v", err)
	}
	et := ts[0]
	if strings.Join(et.SchemeNames(), ",") != "Token" {
		t.Errorf("schemes = %v; want only Token", et.SchemeNames())
	}
	if len(et.Warnings) != 1 || !strings.Contains(et.Warnings[0], "ms.vss-endpoint.endpoint-auth-scheme-kerberos") ||
		!strings.Contains(et.Warnings[0], "ms.vss-endpoint.endpoint-auth-scheme-basic") || !strings.Contains(et.Warnings[0], "authenticationSchemes[0]") {
		t.Errorf("warnings = %q; want one naming the type, where it is and the closed set", et.Warnings)
	}
	// Input ids merge case-sensitively: ApiToken is a new input next to apitoken.
	tok, _ := et.Scheme("Token")
	if ids := inputIDs(tok); strings.Join(ids, ",") != "apitoken,ApiToken" {
		t.Errorf("token inputs = %v; want apitoken kept and ApiToken appended", ids)
	}
	// Only unknown types: nothing is left, which is an error naming what was skipped.
	_, err = LoadManifest([]byte(`{"contributions":[{"id":"x","type":"ms.vss-endpoint.service-endpoint-type","properties":{"name":"n","authenticationSchemes":[{"type":"ms.vss-endpoint.endpoint-auth-scheme-kerberos"}]}}]}`), "m.json")
	if err == nil || !strings.Contains(err.Error(), "kerberos") {
		t.Errorf("all schemes unknown: %v", err)
	}
}

func headerNames(s *Scheme) []string {
	var out []string
	for _, h := range s.Headers {
		out = append(out, h.Name)
	}
	return out
}

func inputIDs(s *Scheme) []string {
	var out []string
	for _, d := range s.InputDescriptors {
		out = append(out, d.ID)
	}
	return out
}
