package scheme

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/httpx/httpxtest"
)

// A two-hop auth server (Basic credentials) and a JWT token endpoint (a
// signed assertion) are token endpoints: a redirect is an error naming the
// URL, and nothing reaches the target, whatever the caller's client does.
func TestTokenRequestsOfSchemesAreNeverRedirected(t *testing.T) {
	away := httpxtest.NewThief(t, `{"data":{"token":"stolen"},"access_token":"stolen","expires_in":3600}`)
	srv := httpxtest.Redirector(t, away.URL, http.StatusTemporaryRedirect)
	twoHop := endpoint("fortify", srv.URL+"/ssc", "UsernamePassword", map[string]string{"username": "ci", "password": "s3cret-pw"}, nil)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	jwtS, _ := Lookup("JWT")
	jwtType := &EndpointType{Name: "j", AuthenticationSchemes: []Scheme{jwtS}}
	jwtEp := endpoint("j", srv.URL, "JWT", map[string]string{"Issuer": "iss", "Audience": srv.URL + "/token", "Scope": "sc",
		"PrivateKey": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))}, nil)
	for name, c := range map[string]struct {
		a func() (*EndpointAuthorizer, error)
	}{
		"two-hop": {a: func() (*EndpointAuthorizer, error) {
			return New(twoHop, fortifyType(), Options{HTTPClient: srv.Client()})
		}},
		"jwt": {a: func() (*EndpointAuthorizer, error) { return New(jwtEp, jwtType, Options{HTTPClient: srv.Client()}) }},
	} {
		a, err := c.a()
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Headers(context.Background(), "GET", srv.URL+"/api")
		if away.Hits() != 0 {
			t.Fatalf("%s: the redirect target received %q", name, away.Got())
		}
		var re *httpx.RedirectError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), srv.URL) {
			t.Fatalf("%s: want a redirect error naming the URL, got %v", name, err)
		}
	}
}
