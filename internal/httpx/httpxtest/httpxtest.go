// Package httpxtest holds hostile HTTPS servers for tests of patrol's
// outbound clients: a Thief that records whatever reaches it, and a
// redirector that sends every request on to it. Both bind 127.0.0.1.
package httpxtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Thief is a TLS server that records every request that reaches it.
type Thief struct {
	*httptest.Server
	mu   sync.Mutex
	got  []string // "Authorization|<other headers>|body" per request
	hits int
}

// NewThief starts a Thief; it answers reply (a JSON body) to everything.
func NewThief(t testing.TB, reply string) *Thief {
	t.Helper()
	th := &Thief{}
	th.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		th.mu.Lock()
		th.hits++
		th.got = append(th.got, r.Header.Get("Authorization")+"|"+headerDump(r.Header)+"|"+string(b))
		th.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, reply)
	}))
	t.Cleanup(th.Close)
	return th
}

func headerDump(h http.Header) string {
	var s string
	for k, v := range h {
		s += k + "=" + v[0] + ";"
	}
	return s
}

// Hits is the number of requests that reached the thief.
func (th *Thief) Hits() int {
	th.mu.Lock()
	defer th.mu.Unlock()
	return th.hits
}

// Got returns what the requests carried.
func (th *Thief) Got() []string {
	th.mu.Lock()
	defer th.mu.Unlock()
	return append([]string(nil), th.got...)
}

// Redirector starts a TLS server that redirects every request with status
// to the same path and query on target.
func Redirector(t testing.TB, target string, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+r.URL.RequestURI(), status)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Echo starts a TLS server that answers every request with status and a
// body quoting everything it received: the request line, every header and
// the body, raw and as JSON fields (as proxies and error pages do).
func Echo(t testing.TB, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		dump := r.Method + " " + r.URL.RequestURI() + "\n"
		for k, vs := range r.Header {
			for _, v := range vs {
				dump += k + ": " + v + "\n"
			}
		}
		dump += "\n" + string(b)
		js, _ := json.Marshal(map[string]any{"message": dump, "error": "echo", "error_description": strings.ReplaceAll(dump, "\n", " "), "headers": r.Header, "body": string(b)})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(js)
	}))
	t.Cleanup(srv.Close)
	return srv
}
