package devops

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
)

func TestNewValidates(t *testing.T) {
	good := Options{Organization: "contoso"}
	if _, err := New(good); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cases := map[string]Options{
		"empty org":       {},
		"org with slash":  {Organization: "a/b"},
		"leading hyphen":  {Organization: "-abc"},
		"trailing hyphen": {Organization: "abc-"},
		"too long":        {Organization: strings.Repeat("a", 51)},
		"http vssps":      {Organization: "contoso", VSSPSURL: "http://127.0.0.1:1234"},
		"http devops":     {Organization: "contoso", DevOpsURL: "http://localhost"},
		"relative url":    {Organization: "contoso", DevOpsURL: "dev.azure.com"},
		"query in url":    {Organization: "contoso", DevOpsURL: "https://dev.azure.com/?x=1"},
		"bad version":     {Organization: "contoso", APIVersion: "latest"},
		"negative tries":  {Organization: "contoso", MaxAttempts: -1},
	}
	for name, o := range cases {
		_, err := New(o)
		if err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
			continue
		}
		if errkind.Of(err) != errkind.Usage {
			t.Errorf("%s: kind %v, want usage", name, errkind.Of(err))
		}
	}
}

func TestRequestHeadersAndNoRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	var sawHeaders atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) })
	mux.HandleFunc("/vssps/contoso/_apis/tokens/pats", func(w http.ResponseWriter, r *http.Request) {
		ok := strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") &&
			r.Header.Get("X-TFS-FedAuthRedirect") == "Suppress" &&
			r.Header.Get("Accept") == "application/json" &&
			r.URL.Query().Get("api-version") == api.DefaultPATAPIVersion &&
			r.Header.Get("User-Agent") == "patrol-test"
		sawHeaders.Store(ok)
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(http.StatusFound)
	})
	env := newEnv(t, mux)
	_, err := env.c.GetPAT(context.Background(), "4ab5764f-4193-4f1d-b995-64144880b7d7")
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("302: got %v, want *AuthError", err)
	}
	if errkind.Of(err) != errkind.Auth {
		t.Errorf("kind %v", errkind.Of(err))
	}
	if !sawHeaders.Load() {
		t.Error("server did not see Bearer, X-TFS-FedAuthRedirect, Accept, api-version and User-Agent")
	}
	if elsewhere.Load() != 0 {
		t.Error("redirect was followed")
	}
	if env.c.Stats().Requests != 1 {
		t.Errorf("auth failures must not be retried: %d requests", env.c.Stats().Requests)
	}
}

func TestSignInPages(t *testing.T) {
	cases := []struct {
		name   string
		status int
		ctype  string
		kind   entra.IdentityKind
		hint   string
	}{
		{"203 html", http.StatusNonAuthoritativeInfo, "text/html; charset=utf-8", entra.IdentityUser, "missing, expired"},
		{"200 html", http.StatusOK, "text/html", entra.IdentityUser, "missing, expired"},
		{"203 sp token", http.StatusNonAuthoritativeInfo, "text/html", entra.IdentityServicePrincipal, "service principal"},
		{"203 mi token", http.StatusNonAuthoritativeInfo, "text/html", entra.IdentityManagedIdentity, "managed identities cannot own PATs"},
		{"301", http.StatusMovedPermanently, "text/html", entra.IdentityUser, "missing, expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				if tc.status/100 == 3 {
					w.Header().Set("Location", "https://example.invalid/_signin")
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte("<html><body>Sign in</body></html>"))
			}), withKind(tc.kind))
			var n int
			for _, err := range env.c.ListPATs(context.Background(), ListOptions{}) {
				n++
				var ae *AuthError
				if !errors.As(err, &ae) {
					t.Fatalf("got %v, want *AuthError", err)
				}
				if !strings.Contains(ae.Error(), tc.hint) {
					t.Errorf("error %q lacks hint %q", ae.Error(), tc.hint)
				}
			}
			if n != 1 {
				t.Errorf("iterator yielded %d times, want exactly one error", n)
			}
		})
	}
}

func Test401TenantMismatch(t *testing.T) {
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri=https://login.microsoftonline.com/`+otherTenant+`, Basic realm="https://tfsprodweu5.visualstudio.com/"`)
		w.Header().Set("X-VSS-ResourceTenant", otherTenant)
		writeJSON(w, http.StatusUnauthorized, api.VSSError{Message: "TF400813: The user is not authorized to access this resource."})
	}))
	_, err := env.c.GetPAT(context.Background(), "4ab5764f-4193-4f1d-b995-64144880b7d7")
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v", err)
	}
	if ae.ResourceTenant != otherTenant || ae.TokenTenant != testTenant {
		t.Errorf("tenants: resource %q token %q", ae.ResourceTenant, ae.TokenTenant)
	}
	if !strings.Contains(err.Error(), "set AZURE_TENANT_ID="+otherTenant) || !strings.Contains(err.Error(), "TF400813") {
		t.Errorf("message: %v", err)
	}
}

func TestResourceTenantParsing(t *testing.T) {
	h := http.Header{}
	h.Set("X-VSS-ResourceTenant", zeroGUID)
	if got := resourceTenant(h); got != zeroGUID {
		t.Errorf("MSA org: %q", got)
	}
	h.Set("X-VSS-ResourceTenant", zeroGUID+", "+strings.ToUpper(otherTenant))
	if got := resourceTenant(h); got != otherTenant {
		t.Errorf("first non-zero: %q", got)
	}
	if got := resourceTenant(http.Header{}); got != "" {
		t.Errorf("none: %q", got)
	}
	if tokenTenant("not-a-jwt") != "" || tokenTenant(fakeJWT(testTenant)) != testTenant {
		t.Error("tokenTenant")
	}
}

func TestStatusMapping(t *testing.T) {
	cases := []struct {
		status int
		kind   errkind.Kind
	}{
		{400, errkind.Usage}, {403, errkind.Permission}, {404, errkind.NotFound}, {409, errkind.Conflict},
		{500, errkind.Transient}, {503, errkind.Transient}, {429, errkind.Transient},
	}
	for _, tc := range cases {
		env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, tc.status, api.VSSError{Message: "TF12345: something about the thing", TypeKey: "SomeException"})
		}), withAttempts(2))
		err := env.c.RevokePAT(context.Background(), "4ab5764f-4193-4f1d-b995-64144880b7d7")
		var ae *APIError
		if !errors.As(err, &ae) {
			t.Fatalf("%d: got %v", tc.status, err)
		}
		if ae.Kind() != tc.kind || ae.Status != tc.status || ae.Message != "TF12345: something about the thing" || ae.TypeKey != "SomeException" {
			t.Errorf("%d: %+v kind %v", tc.status, ae, ae.Kind())
		}
		wantReq := int64(1)
		if tc.kind == errkind.Transient {
			wantReq = 2
		}
		if got := env.c.Stats().Requests; got != wantReq {
			t.Errorf("%d: %d requests, want %d", tc.status, got, wantReq)
		}
	}
}

func TestTransientRetriedThenSucceeds(t *testing.T) {
	var n atomic.Int32
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			writeJSON(w, http.StatusServiceUnavailable, api.VSSError{Message: "busy"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	if err := env.c.RevokePAT(context.Background(), "4ab5764f-4193-4f1d-b995-64144880b7d7"); err != nil {
		t.Fatal(err)
	}
	st := env.c.Stats()
	if st.Requests != 3 || st.Retries != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestNetworkErrorRetried(t *testing.T) {
	var n atomic.Int32
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}), withAttempts(3))
	_, err := env.c.GetPAT(context.Background(), "4ab5764f-4193-4f1d-b995-64144880b7d7")
	var ne *NetworkError
	if !errors.As(err, &ne) || errkind.Of(err) != errkind.Transient {
		t.Fatalf("got %v", err)
	}
	if n.Load() != 3 {
		t.Errorf("server saw %d attempts, want 3 (MaxAttempts)", n.Load())
	}
}

func TestContextDeadlineBoundsRetries(t *testing.T) {
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 500, api.VSSError{Message: "down"})
	}), withAttempts(1000))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // long enough for one HTTPS round trip under -race
	defer cancel()
	_, err := env.c.GetPAT(ctx, "4ab5764f-4193-4f1d-b995-64144880b7d7")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the last error wrapped with the deadline", err)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 500 {
		t.Errorf("last HTTP error lost: %v", err)
	}
}

func Test429RetryAfterHonoured(t *testing.T) {
	var mu sync.Mutex
	var sent429 time.Time
	var retryAt time.Time
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if sent429.IsZero() {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusTooManyRequests, api.VSSError{Message: "TF400733: The request has been canceled"})
			sent429 = time.Now()
			return
		}
		retryAt = time.Now()
		w.WriteHeader(http.StatusNoContent)
	}))
	if err := env.c.RevokePAT(context.Background(), "4ab5764f-4193-4f1d-b995-64144880b7d7"); err != nil {
		t.Fatal(err)
	}
	if retryAt.Sub(sent429) < 900*time.Millisecond {
		t.Errorf("retry arrived %v after the 429, before Retry-After elapsed", retryAt.Sub(sent429))
	}
	if st := env.c.Stats(); st.Throttled != 1 || st.Retries != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRetryAfterBeyondDeadlineFailsFast(t *testing.T) {
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		writeJSON(w, http.StatusTooManyRequests, api.VSSError{Message: "TF400733"})
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := env.c.RevokePAT(ctx, "4ab5764f-4193-4f1d-b995-64144880b7d7")
	if errkind.Of(err) != errkind.Transient || !strings.Contains(err.Error(), "Retry-After") {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("waited for a Retry-After that exceeds the deadline")
	}
}

// TestGlobalGate: a Retry-After on a 200 closes the gate for every goroutine
// sharing the client.
func TestGlobalGate(t *testing.T) {
	var mu sync.Mutex
	var first time.Time
	var later []time.Time
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if first.IsZero() {
			w.Header().Set("Retry-After", "1")
			first = time.Now()
		} else {
			later = append(later, time.Now())
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	ctx := context.Background()
	const id = "4ab5764f-4193-4f1d-b995-64144880b7d7"
	if err := env.c.RevokePAT(ctx, id); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if err := env.c.RevokePAT(ctx, id); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(later) != 6 {
		t.Fatalf("server saw %d later requests", len(later))
	}
	for _, at := range later {
		if at.Sub(first) < 900*time.Millisecond {
			t.Errorf("a request arrived %v after Retry-After: 1", at.Sub(first))
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"5":                             5 * time.Second,
		" 2.5 ":                         2500 * time.Millisecond,
		"Fri, 01 May 2026 12:00:30 GMT": 30 * time.Second,
	}
	for in, want := range cases {
		got, ok := parseRetryAfter(in, now)
		if !ok || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "0", "-3", "soon", "Fri, 01 May 2026 11:00:00 GMT"} {
		if _, ok := parseRetryAfter(in, now); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestRedactURL(t *testing.T) {
	got := redactURL("https://u:p@h/x?api-version=1&client_secret=s3&continuationToken=abc&access_token=t0k")
	for _, bad := range []string{"s3", "t0k", "u:p"} {
		if strings.Contains(got, bad) {
			t.Errorf("%q leaks %q", got, bad)
		}
	}
	if !strings.Contains(got, "continuationToken=abc") {
		t.Errorf("continuation token should stay visible: %q", got)
	}
}
