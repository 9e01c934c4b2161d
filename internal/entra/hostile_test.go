package entra

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx/httpxtest"
)

// Every token POST patrol sends itself (ROPC, device code, refresh) and
// azidentity's pipeline (client secret) refuses any redirect: the form holds
// the password, client secret, device code or refresh token.
func TestTokenEndpointsAreNeverRedirected(t *testing.T) {
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		away := httpxtest.NewThief(t, `{"token_type":"Bearer","access_token":"stolen","refresh_token":"stolen-rt","expires_in":3599}`)
		f := newFake(t, func(n int, r *http.Request, form url.Values) (int, any) { return 200, nil })
		f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
				f.serve(w, r)
				return
			}
			http.Redirect(w, r, away.URL+r.URL.Path, status)
		})
		cases := map[string]func(o Options) error{
			"ropc": func(o Options) error {
				o.Method, o.Username, o.Password, o.ClientSecret = MethodROPC, "bot@contoso.example", "hunter2-pw", "client-s3cret"
				_, err := mustNew(t, o).Token(context.Background())
				return err
			},
			"refresh": func(o Options) error {
				o.Method, o.Cache = MethodDeviceCode, &memStore{rt: "refresh-r3fresh"}
				_, err := mustNew(t, o).Token(context.Background())
				return err
			},
			"device code": func(o Options) error {
				o.Cache = &memStore{}
				_, err := DeviceCodeFlow(context.Background(), o, nil)
				return err
			},
			"client secret (azidentity)": func(o Options) error {
				o.Method, o.ClientSecret = MethodClientSecret, "client-s3cret"
				_, err := mustNew(t, o).Token(context.Background())
				return err
			},
		}
		for name, run := range cases {
			err := run(f.opts())
			if err == nil {
				t.Fatalf("%d %s: the redirected sign-in succeeded", status, name)
			}
			if away.Hits() != 0 {
				t.Fatalf("%d %s: the redirect target received %q", status, name, away.Got())
			}
			if !strings.Contains(err.Error(), f.srv.URL) || !strings.Contains(err.Error(), "redirect") {
				t.Errorf("%d %s: the error must name the redirecting URL: %v", status, name, err)
			}
			if k := errkind.Of(err); k != errkind.Usage && name != "client secret (azidentity)" {
				t.Errorf("%d %s: kind %v, want usage (fix the authority URL; retrying cannot help)", status, name, k)
			}
		}
	}
}

func mustNew(t *testing.T, o Options) TokenSource {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A token endpoint that echoes the request (form and headers) into its error
// body must not get the password or client secret into the error, in any
// encoding.
func TestEchoedSignInFormIsRedacted(t *testing.T) {
	echo := httpxtest.Echo(t, http.StatusBadRequest)
	o := Options{AuthorityHost: echo.URL + "/", TenantID: "tenant-1", ClientID: "client-1", HTTPClient: echo.Client(),
		DisableInstanceDiscovery: true, LookupEnv: func(string) (string, bool) { return "", false }, retryBase: time.Millisecond}
	o.Method, o.Username, o.Password, o.ClientSecret = MethodROPC, "bot@contoso.example", "p@ss word&=/x1", "cl1ent~s3cret/+"
	_, err := mustNew(t, o).Token(context.Background())
	if err == nil {
		t.Fatal("sign-in against an echo server succeeded")
	}
	for _, s := range []string{o.Password, url.QueryEscape(o.Password), o.ClientSecret, url.QueryEscape(o.ClientSecret)} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("the error quotes %q: %v", s, err)
		}
	}
}

// A token endpoint that answers endlessly is cut off at 1 MiB with an error
// naming the URL and the limit, and is not retried.
func TestOversizedTokenAnswerFailsNamingTheLimit(t *testing.T) {
	f := newFake(t, func(n int, r *http.Request, form url.Values) (int, any) {
		return 200, `{"access_token":"` + strings.Repeat("a", 3<<20) + `"}`
	})
	o := f.opts()
	o.Method, o.Username, o.Password = MethodROPC, "bot@contoso.example", "pw-1234"
	_, err := mustNew(t, o).Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), f.srv.URL) || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("want an error naming the URL and 1 MiB, got %v", err)
	}
	if f.count() != 1 || errkind.Of(err) != errkind.Usage {
		t.Fatalf("%d requests, kind %v: an oversized answer is not retried", f.count(), errkind.Of(err))
	}
}
