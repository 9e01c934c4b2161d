package datasource

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/httpx/httpxtest"
	"github.com/patrol-dev/patrol/internal/scheme"
)

// A data-source request carries the endpoint's credentials (Authorization,
// or a custom header such as X-Octopus-ApiKey). A redirect to another host
// is refused before anything reaches it, whatever the base client's policy;
// a same-origin redirect is followed.
func TestDataSourceRedirectsStayOnTheEndpointsOrigin(t *testing.T) {
	away := httpxtest.NewThief(t, `{"Items":[]}`)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/moved/") {
			io.WriteString(w, `{"project":[{"id":"P1","name":"One"}],"Items":[{"Id":"S1","Name":"one"}]}`)
			return
		}
		if r.URL.Query().Get("same") != "" || strings.Contains(r.URL.Path, "/same/") {
			http.Redirect(w, r, "/moved"+r.URL.Path, http.StatusFound)
			return
		}
		http.Redirect(w, r, away.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	tc := loadType(t, "microsoft__azure-pipelines-extensions__teamcity.json", "teamcity")
	oct := loadType(t, "OctopusDeploy__OctoTFS__octopus.json", "OctopusEndpoint")
	basic, _ := scheme.Lookup("basic")
	generic := &scheme.EndpointType{Name: "h", AuthenticationSchemes: []scheme.Scheme{basic}}
	cases := map[string]Request{
		"basic (TeamCity)":         {Endpoint: ep("teamcity", srv.URL+"/tc/", "UsernamePassword", map[string]string{"username": "u", "password": "hunter2-pw"}, nil), Type: tc, DataSource: "projects"},
		"api key header (Octopus)": {Endpoint: ep("OctopusEndpoint", srv.URL+"/oct/", "Token", map[string]string{"apitoken": "API-K3Y"}, nil), Type: oct, DataSource: "OctopusAllSpaces"},
		"data-source Authorization header": {Endpoint: ep("h", srv.URL, "UsernamePassword", map[string]string{"username": "u", "password": "hunter2-pw"}, nil), Type: generic,
			Source: &scheme.DataSource{Name: "h", EndpointURL: "{{{endpoint.url}}}/h", Headers: []scheme.Header{{Name: "Authorization", Value: "Token {{{endpoint.password}}}"}}}},
	}
	for name, req := range cases {
		// srv.Client() follows redirects with Go's default policy: the
		// data-source policy must apply anyway.
		_, err := Run(context.Background(), req, Options{HTTPClient: srv.Client()})
		if away.Hits() != 0 {
			t.Fatalf("%s: the other host received credentials %q", name, away.Got())
		}
		var re *httpx.RedirectError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), away.URL) {
			t.Fatalf("%s: want an error naming both URLs, got %v", name, err)
		}
		if errkind.Of(err) != errkind.Usage {
			t.Errorf("%s: kind %v, want usage", name, errkind.Of(err))
		}
	}
	same := cases["basic (TeamCity)"]
	same.Endpoint = ep("teamcity", srv.URL+"/same/", "UsernamePassword", map[string]string{"username": "u", "password": "hunter2-pw"}, nil)
	res, err := Run(context.Background(), same, Options{HTTPClient: srv.Client()})
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("a same-origin redirect must be followed: %v %v", res, err)
	}
}

// A data-source server that echoes the request into its error body must
// not get the endpoint's credentials into the error.
func TestEchoedDataSourceRequestIsRedacted(t *testing.T) {
	echo := httpxtest.Echo(t, http.StatusUnauthorized)
	tc := loadType(t, "microsoft__azure-pipelines-extensions__teamcity.json", "teamcity")
	oct := loadType(t, "OctopusDeploy__OctoTFS__octopus.json", "OctopusEndpoint")
	for name, req := range map[string]Request{
		"basic":   {Endpoint: ep("teamcity", echo.URL+"/tc/", "UsernamePassword", map[string]string{"username": "u", "password": "hunter2-pw"}, nil), Type: tc, DataSource: "projects"},
		"api key": {Endpoint: ep("OctopusEndpoint", echo.URL+"/oct/", "Token", map[string]string{"apitoken": "API-K3Y-123456"}, nil), Type: oct, DataSource: "OctopusAllSpaces"},
	} {
		_, err := Run(context.Background(), req, Options{HTTPClient: echo.Client()})
		if err == nil {
			t.Fatalf("%s: no error from a 401", name)
		}
		for _, s := range []string{"hunter2-pw", "dTpodW50ZXIyLXB3", "API-K3Y-123456"} {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("%s: the error quotes %q: %v", name, s, err)
			}
		}
	}
}
