package graph

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
)

func TestNewRefusesPlainHTTP(t *testing.T) {
	ts := entra.TokenSourceFunc(func(context.Context) (entra.Token, error) { return entra.Token{}, nil })
	for _, u := range []string{"http://graph.microsoft.com", "graph.microsoft.com", "https://"} {
		if _, err := New(Options{BaseURL: u, Token: ts}); err == nil || errkind.Of(err) != errkind.Usage {
			t.Errorf("New(%q) = %v, want a usage error", u, err)
		}
	}
	if _, err := New(Options{Token: ts}); err != nil {
		t.Errorf("default URL: %v", err)
	}
}

// A redirect is never followed (the request carries the bearer token, an
// addPassword answer the new secret).
func TestRedirectRefused(t *testing.T) {
	var reached atomic.Bool
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Store(true) }))
	defer other.Close()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	ts := entra.TokenSourceFunc(func(context.Context) (entra.Token, error) { return entra.Token{AccessToken: "tok"}, nil })
	c, err := New(Options{BaseURL: srv.URL, Token: ts, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddAppPassword(context.Background(), AppRef{AppID: "a"}, "n", time.Now().Add(time.Hour)); err == nil || reached.Load() {
		t.Fatalf("redirect followed (reached %v): %v", reached.Load(), err)
	}
}
