package entra

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
)

func TestROPCForm(t *testing.T) {
	for _, withSecret := range []bool{true, false} {
		name := "public"
		if withSecret {
			name = "confidential"
		}
		t.Run(name, func(t *testing.T) {
			var gotCT string
			f := newFake(t, func(n int, r *http.Request, form url.Values) (int, any) {
				gotCT = r.Header.Get("Content-Type")
				return 200, tokenBody("access-1", "", 3599)
			})
			o := f.opts()
			o.Method = MethodROPC
			o.Username, o.Password = "bot@contoso.example", "p@ss word&="
			if withSecret {
				o.ClientSecret = "s3cret"
			}
			now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
			o.Now = func() time.Time { return now }
			src, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := src.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "access-1" || tok.Kind != IdentityUser || !tok.ExpiresOn.Equal(now.Add(3599*time.Second)) {
				t.Fatalf("token %v", tok)
			}
			if f.path(0) != "/tenant-1/oauth2/v2.0/token" {
				t.Fatalf("path %s", f.path(0))
			}
			if gotCT != "application/x-www-form-urlencoded" {
				t.Fatalf("content type %q", gotCT)
			}
			form := f.form(0)
			want := map[string]string{"grant_type": "password", "client_id": "client-1", "username": "bot@contoso.example",
				"password": "p@ss word&=", "scope": api.Scope}
			if withSecret {
				want["client_secret"] = "s3cret"
			}
			for k, v := range want {
				if form.Get(k) != v {
					t.Errorf("form %s = %q, want %q", k, form.Get(k), v)
				}
			}
			if _, ok := form["client_secret"]; ok != withSecret {
				t.Errorf("client_secret present = %v, want %v", ok, withSecret)
			}
			if len(form) != len(want) {
				t.Errorf("form has %d fields, want %d: %v", len(form), len(want), keys(form))
			}
		})
	}
}

func keys(v url.Values) []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	return out
}

func ropcOpts(f *fakeAuthority) Options {
	o := f.opts()
	o.Method = MethodROPC
	o.Username, o.Password = "bot@contoso.example", "hunter2-password"
	return o
}

func TestROPCErrorNotRetried(t *testing.T) {
	f := newFake(t, func(n int, r *http.Request, form url.Values) (int, any) {
		return 400, errBody("invalid_grant", 50076, "AADSTS50076: Due to a configuration change made by your administrator, you must use multi-factor authentication.")
	})
	src, _ := New(ropcOpts(f))
	_, err := src.Token(context.Background())
	var se *SignInError
	if !errors.As(err, &se) {
		t.Fatalf("want *SignInError, got %T %v", err, err)
	}
	if se.AADSTS != 50076 || se.Status != 400 || se.Method != MethodROPC || !strings.Contains(se.Hint, "patrol login") {
		t.Fatalf("error %+v", se)
	}
	if errkind.Of(err) != errkind.Auth {
		t.Fatalf("kind %v", errkind.Of(err))
	}
	if f.count() != 1 {
		t.Fatalf("4xx was retried: %d requests", f.count())
	}
	if strings.Contains(err.Error(), "hunter2-password") {
		t.Fatal("password leaked")
	}
}

func TestROPCRetriesTransient(t *testing.T) {
	f := newFake(t, func(n int, r *http.Request, form url.Values) (int, any) {
		switch n {
		case 0:
			return 503, "<html>busy</html>"
		case 1:
			return 429, errBody("temporarily_unavailable", 0, "slow down")
		}
		return 200, tokenBody("ok", "", 3599)
	})
	src, _ := New(ropcOpts(f))
	tok, err := src.Token(context.Background())
	if err != nil || tok.AccessToken != "ok" {
		t.Fatalf("tok %v err %v", tok, err)
	}
	if f.count() != 3 {
		t.Fatalf("requests = %d, want 3", f.count())
	}
}

func TestROPCRetriesBounded(t *testing.T) {
	f := newFake(t, func(n int, r *http.Request, form url.Values) (int, any) {
		return 500, errBody("server_error", 0, "boom")
	})
	src, _ := New(ropcOpts(f))
	_, err := src.Token(context.Background())
	var se *SignInError
	if !errors.As(err, &se) || se.Status != 500 || !se.Retryable() || errkind.Of(err) != errkind.Transient {
		t.Fatalf("err %v", err)
	}
	if f.count() != maxTries {
		t.Fatalf("requests = %d, want %d", f.count(), maxTries)
	}
}

func TestROPCNetworkError(t *testing.T) {
	f := newFake(t, nil)
	o := ropcOpts(f)
	f.srv.Close()
	src, _ := New(o)
	_, err := src.Token(context.Background())
	var se *SignInError
	if !errors.As(err, &se) || !se.Retryable() || errkind.Of(err) != errkind.Transient {
		t.Fatalf("err %T %v", err, err)
	}
}

func TestROPCBadSuccessBody(t *testing.T) {
	f := newFake(t, func(n int, r *http.Request, form url.Values) (int, any) {
		return 200, "<html>sign in</html>"
	})
	src, _ := New(ropcOpts(f))
	_, err := src.Token(context.Background())
	var se *SignInError
	if !errors.As(err, &se) || se.Code != "invalid_response" {
		t.Fatalf("err %v", err)
	}
	f2 := newFake(t, func(n int, r *http.Request, form url.Values) (int, any) {
		return 203, "<html>sign in</html>"
	})
	src, _ = New(ropcOpts(f2))
	if _, err := src.Token(context.Background()); err == nil || errkind.Of(err) != errkind.Auth {
		t.Fatalf("203 page: %v", err)
	}
}

func TestNewReusesToken(t *testing.T) {
	f := newFake(t, nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := now
	o := ropcOpts(f)
	o.Now = func() time.Time { return clock }
	src, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := src.Token(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if f.count() != 1 {
		t.Fatalf("sign-ins = %d, want 1", f.count())
	}
	clock = now.Add(3599*time.Second - DefaultRefreshMargin + time.Second) // inside the margin
	if _, err := src.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.count() != 2 {
		t.Fatalf("token not refreshed early: sign-ins = %d", f.count())
	}
}

func BenchmarkReuseTokenSourceFake(b *testing.B) {
	f := newFake(b, nil)
	src, err := New(ropcOpts(f))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := src.Token(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := src.Token(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if f.count() != 1 {
		b.Fatalf("sign-ins = %d, want 1", f.count())
	}
}

func TestLogsNeverContainSecrets(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	f := newFake(t, func(n int, r *http.Request, form url.Values) (int, any) {
		if n == 0 {
			return 503, "busy"
		}
		return 200, tokenBody("access-token-value", "refresh-token-value", 3599)
	})
	o := ropcOpts(f)
	o.ClientSecret = "client-secret-value"
	o.Logger = slog.New(slog.NewTextHandler(lockedWriter{&buf, &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src, _ := New(o)
	if _, err := src.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, bad := range []string{"hunter2-password", "client-secret-value", "access-token-value", "refresh-token-value"} {
		if strings.Contains(out, bad) {
			t.Fatalf("log contains %q:\n%s", bad, out)
		}
	}
	for _, want := range []string{"retrying", "signed in", "method=ropc", "tenant=tenant-1", "client=client-1", "kind=user", "expires="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

type lockedWriter struct {
	w  *strings.Builder
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestROPCHonoursRetryAfter(t *testing.T) {
	f := newFake(t, nil)
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		n := len(f.forms)
		f.forms = append(f.forms, nil)
		f.mu.Unlock()
		if n == 0 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		writeJSON(w, 200, tokenBody("ok", "", 3599))
	})
	o := ropcOpts(f)
	o.retryBase = time.Second // the exponential delay would be ≥ 0.5s; Retry-After says 0
	var waits []time.Duration
	o.waitHook = func(d time.Duration) { waits = append(waits, d) }
	src, _ := New(o)
	if _, err := src.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 1 || waits[0] != 0 {
		t.Fatalf("waits %v, want [0s] from Retry-After", waits)
	}
}

// A token response whose expires_in is negative or absurd (past any Entra
// token's lifetime, or one that overflows a time.Duration) is refused with
// an error naming the field; the token is not used.
func TestTokenResponseBadExpiresInRefused(t *testing.T) {
	for _, v := range []any{-3600, -1, "-5", int64(1) << 40, "9223372036854775807", 400 * 24 * 3600} {
		f := newFake(t, func(n int, r *http.Request, form url.Values) (int, any) {
			return 200, map[string]any{"token_type": "Bearer", "access_token": "at-0123456789", "expires_in": v}
		})
		src, _ := New(ropcOpts(f))
		tok, err := src.Token(context.Background())
		var se *SignInError
		if !errors.As(err, &se) || se.Code != "invalid_response" || !strings.Contains(err.Error(), "expires_in") {
			t.Errorf("expires_in %v: token %+v, err %v; want invalid_response naming expires_in", v, tok, err)
		}
	}
	// Missing stays the documented one-hour default.
	f := newFake(t, func(n int, r *http.Request, form url.Values) (int, any) {
		return 200, map[string]any{"token_type": "Bearer", "access_token": "at-0123456789"}
	})
	src, _ := New(ropcOpts(f))
	if _, err := src.Token(context.Background()); err != nil {
		t.Fatalf("missing expires_in: %v", err)
	}
}
