package entra

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAuthority is a tiny TLS Entra for unit tests. Each request's form is
// recorded; reply decides the answer per request (nil → a default token).
type fakeAuthority struct {
	srv *httptest.Server

	mu    sync.Mutex
	forms []url.Values
	paths []string
	reply func(n int, r *http.Request, form url.Values) (int, any)
}

func newFake(t testing.TB, reply func(n int, r *http.Request, form url.Values) (int, any)) *fakeAuthority {
	t.Helper()
	f := &fakeAuthority{reply: reply}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAuthority) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
		tenant := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")[0]
		base := f.srv.URL + "/" + tenant
		writeJSON(w, 200, map[string]string{
			"issuer":                 base + "/v2.0",
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
		})
		return
	}
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	n := len(f.forms)
	f.forms = append(f.forms, form)
	f.paths = append(f.paths, r.URL.Path)
	reply := f.reply
	f.mu.Unlock()
	status, v := 200, any(tokenBody("at-"+fmt.Sprint(n), "", 3599))
	if reply != nil {
		status, v = reply(n, r, form)
	}
	if s, ok := v.(string); ok {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, s)
		return
	}
	writeJSON(w, status, v)
}

func (f *fakeAuthority) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.forms)
}

func (f *fakeAuthority) form(i int) url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forms[i]
}

func (f *fakeAuthority) path(i int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.paths[i]
}

func (f *fakeAuthority) opts() Options {
	return Options{
		AuthorityHost:            f.srv.URL + "/",
		TenantID:                 "tenant-1",
		ClientID:                 "client-1",
		HTTPClient:               f.srv.Client(),
		DisableInstanceDiscovery: true,
		Logger:                   slog.New(slog.DiscardHandler),
		LookupEnv:                func(string) (string, bool) { return "", false },
		pollUnit:                 time.Millisecond,
		retryBase:                time.Millisecond,
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func tokenBody(at, rt string, expiresIn int) map[string]any {
	m := map[string]any{"token_type": "Bearer", "access_token": at, "expires_in": expiresIn}
	if rt != "" {
		m["refresh_token"] = rt
	}
	return m
}

func errBody(code string, aadsts int, desc string) map[string]any {
	m := map[string]any{"error": code, "error_description": desc, "trace_id": "trace-1", "correlation_id": "corr-1"}
	if aadsts != 0 {
		m["error_codes"] = []int{aadsts}
	}
	return m
}

// fakeJWT builds an unsigned JWT with the given claims.
func fakeJWT(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + ".sig"
}

// signIn builds the source for o and returns it with its first token,
// failing the test on any error.
func signIn(t *testing.T, o Options) (TokenSource, Token) {
	t.Helper()
	src, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return src, tok
}
