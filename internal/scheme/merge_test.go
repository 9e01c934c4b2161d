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
	var names []string
	for _, hd := range o2.Headers {
		names = append(names, hd.Name)
	}
	if strings.Join(names, ",") != "authorization,Accept" {
		t.Errorf("oauth2 merged headers = %v; want the override in the default's place, then new ones", names)
	}
}
