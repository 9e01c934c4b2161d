package devops

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/entra"
)

const (
	testOrg       = "contoso"
	testTenant    = "11111111-2222-3333-4444-555555555555"
	otherTenant   = "99999999-8888-7777-6666-555555555555"
	testSignature = "c2lnbmF0dXJlLXNlY3JldC1kby1ub3QtbG9n" // part of the fake access token
)

// fakeJWT builds an unsigned-looking JWT carrying tid; the signature part is a
// recognisable marker so tests can assert it never leaks.
func fakeJWT(tid string) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	p := base64.RawURLEncoding.EncodeToString([]byte(`{"tid":"` + tid + `","idtyp":"user"}`))
	return h + "." + p + "." + testSignature
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testEnv struct {
	srv  *httptest.Server
	c    *Client
	logs *syncBuffer
}

type envOpt func(*Options)

func withKind(k entra.IdentityKind) envOpt {
	return func(o *Options) {
		o.Token = entra.TokenSourceFunc(func(context.Context) (entra.Token, error) {
			return entra.Token{AccessToken: fakeJWT(testTenant), ExpiresOn: time.Now().Add(time.Hour), Kind: k}, nil
		})
	}
}

func withAttempts(n int) envOpt { return func(o *Options) { o.MaxAttempts = n } }

// newEnv starts a TLS server with h and a Client pointing at it. Backoff is
// shortened so retry tests stay fast.
func newEnv(t testing.TB, h http.Handler, opts ...envOpt) *testEnv {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	logs := &syncBuffer{}
	o := Options{
		Organization: testOrg,
		VSSPSURL:     srv.URL + "/vssps",
		DevOpsURL:    srv.URL + "/devops",
		HTTPClient:   srv.Client(),
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		UserAgent:    "patrol-test",
	}
	withKind(entra.IdentityUser)(&o)
	for _, f := range opts {
		f(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = func() backoff.BackOff {
		b := backoff.NewExponentialBackOff()
		b.InitialInterval = time.Millisecond
		b.MaxInterval = 5 * time.Millisecond
		return b
	}
	t.Cleanup(func() {
		// No test may leak the access token's signature into logs.
		if strings.Contains(logs.String(), testSignature) {
			t.Errorf("logs contain the access token:\n%s", logs.String())
		}
	})
	return &testEnv{srv: srv, c: c, logs: logs}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fakePATs is an in-memory PAT API with fault hooks.
type fakePATs struct {
	mu        sync.Mutex
	pats      []api.PatToken
	queries   []string // raw query of every list request
	posts     int
	lists     int
	faultPost func(n int) (commit bool, status int) // status 0 = normal; -1 = drop connection
	now       func() time.Time
}

func (f *fakePATs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(strings.ToLower(r.URL.Path), "/vssps/contoso/_apis/tokens/pats") {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now().UTC()
	if f.now != nil {
		now = f.now()
	}
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		if id := q.Get("authorizationId"); id != "" {
			for _, p := range f.pats {
				if p.AuthorizationID == id {
					p.Token = nil
					writeJSON(w, 200, api.PatTokenResult{PatToken: &p, PatTokenError: api.ErrNone})
					return
				}
			}
			writeJSON(w, 200, api.PatTokenResult{PatTokenError: api.ErrAuthorizationNotFound})
			return
		}
		f.lists++
		f.queries = append(f.queries, queryWithout(q, "continuationToken"))
		top, _ := strconv.Atoi(q.Get("$top"))
		if top <= 0 || top > 100 {
			top = 100
		}
		start, _ := strconv.Atoi(q.Get("continuationToken"))
		end := min(start+top, len(f.pats))
		pg := api.PagedPatTokens{PatTokens: []api.PatToken{}}
		for _, p := range f.pats[start:end] {
			p.Token = nil
			pg.PatTokens = append(pg.PatTokens, p)
		}
		if end < len(f.pats) {
			pg.ContinuationToken = strconv.Itoa(end)
		}
		writeJSON(w, 200, pg)
	case http.MethodPost:
		f.posts++
		var req api.PatTokenCreateRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, 400, api.VSSError{Message: "TF400898: bad body", TypeKey: "JsonReaderException"})
			return
		}
		commit, status := true, 0
		if f.faultPost != nil {
			commit, status = f.faultPost(f.posts)
		}
		secret := "pat-secret-" + uuid.NewString()
		p := api.PatToken{AuthorizationID: uuid.NewString(), DisplayName: req.DisplayName, Scope: req.Scope,
			TargetAccounts: []string{"38aaa865-2c70-4bf7-a308-0c6539c38c1a"}, ValidFrom: now, ValidTo: req.ValidTo.Round(10 * time.Millisecond), Token: &secret}
		if commit {
			f.pats = append(f.pats, p)
		}
		switch status {
		case 0:
			writeJSON(w, 200, api.PatTokenResult{PatToken: &p, PatTokenError: api.ErrNone})
		case -1:
			hj, ok := w.(http.Hijacker)
			if !ok {
				panic("no hijacker")
			}
			conn, _, _ := hj.Hijack()
			_ = conn.Close()
		default:
			writeJSON(w, status, api.VSSError{Message: "internal error"})
		}
	case http.MethodDelete:
		id := q.Get("authorizationId")
		for i, p := range f.pats {
			if p.AuthorizationID == id {
				f.pats = append(f.pats[:i], f.pats[i+1:]...)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func queryWithout(q map[string][]string, drop string) string {
	var parts []string
	for k, v := range q {
		if k == drop {
			continue
		}
		parts = append(parts, k+"="+strings.Join(v, ","))
	}
	slices.Sort(parts)
	return strings.Join(parts, "&")
}

func seedPATs(n int, prefix string) []api.PatToken {
	out := make([]api.PatToken, n)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		out[i] = api.PatToken{AuthorizationID: uuid.NewString(), DisplayName: prefix + strconv.Itoa(i), Scope: "vso.code",
			ValidFrom: base, ValidTo: base.Add(24 * time.Hour)}
	}
	return out
}
