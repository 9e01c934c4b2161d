package doctor

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
)

func TestClockSkew(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		off  time.Duration
		want Status
	}{
		{0, OK}, {900 * time.Millisecond, OK}, {-30 * time.Second, OK}, {2 * time.Minute, Warn}, {-2 * time.Minute, Warn}, {6 * time.Minute, Fail}, {-10 * time.Minute, Fail},
	} {
		got := checkClock(now, now.Add(-tc.off).Format(http.TimeFormat))
		if got.Status != tc.want {
			t.Errorf("offset %s: %s %q, want %s", tc.off, got.Status, got.Message, tc.want)
		}
		if got.Status != OK && got.Fix == "" {
			t.Errorf("offset %s: no fix", tc.off)
		}
	}
	if got := checkClock(now, ""); got.Status != Skip {
		t.Errorf("no Date: %s", got.Status)
	}
	if got := checkClock(now, "yesterday"); got.Status != Skip {
		t.Errorf("bad Date: %s", got.Status)
	}
	if got := checkClock(now, now.Add(-2*time.Minute).Format(http.TimeFormat)); !strings.Contains(got.Message, "ahead") {
		t.Errorf("a fast local clock: %q", got.Message)
	}
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestProxyNeverShowsItsPassword(t *testing.T) {
	d := Deps{Env: envOf(map[string]string{"HTTPS_PROXY": "http://user:s3cret-proxy-pw@proxy.example:3128", "NO_PROXY": "login.example"}),
		Endpoints: []Endpoint{{Name: "authority", URL: "https://login.example/t"}, {Name: "devops", URL: "https://dev.example/o"}}}
	got := checkProxy(d)
	if got.Status != OK || strings.Contains(got.Message, "s3cret-proxy-pw") || !strings.Contains(got.Message, "authority: direct") || !strings.Contains(got.Message, "devops: via http://user:xxxxx@proxy.example:3128") {
		t.Fatalf("%s %q", got.Status, got.Message)
	}
	// Values Go's proxy code would misread as a host named "http" or ignore.
	for _, bad := range []string{"::bad", "http://u:pw-9f8e@proxy.example:port", "ftp://proxy.example", "http://:3128"} {
		got = checkProxy(Deps{Env: envOf(map[string]string{"https_proxy": bad}), Endpoints: d.Endpoints})
		if got.Status != Fail || got.Fix == "" || strings.Contains(got.Message, "pw-9f8e") {
			t.Fatalf("proxy %q: %s %q", bad, got.Status, got.Message)
		}
	}
}

func TestProxyHostPortAloneIsFine(t *testing.T) {
	// Go reads host:port as http://host:port, as curl does.
	got := checkProxy(Deps{Env: envOf(map[string]string{"HTTPS_PROXY": "proxy.example:3128"}), Endpoints: []Endpoint{{Name: "devops", URL: "https://dev.example/o"}}})
	if got.Status != OK || !strings.Contains(got.Message, "via http://proxy.example:3128") {
		t.Fatalf("%s %q", got.Status, got.Message)
	}
}

func TestCABundle(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := checkCABundle(Deps{CABundle: junk, Env: envOf(nil)}); got.Status != Fail || !strings.Contains(got.Message, "no PEM certificate") {
		t.Fatalf("junk: %s %q", got.Status, got.Message)
	}
	if got := checkCABundle(Deps{CABundle: filepath.Join(dir, "missing.pem"), Env: envOf(nil)}); got.Status != Fail || !strings.Contains(got.Message, "cannot be read") {
		t.Fatalf("missing: %s %q", got.Status, got.Message)
	}
	if got := checkCABundle(Deps{Env: envOf(map[string]string{"SSL_CERT_FILE": junk})}); got.Status != Fail || !strings.Contains(got.Message, "SSL_CERT_FILE") {
		t.Fatalf("SSL_CERT_FILE: %s %q", got.Status, got.Message)
	}
	if got := checkCABundle(Deps{Env: envOf(nil)}); got.Status != OK {
		t.Fatalf("none: %s", got.Status)
	}
}

func TestErrPicksTheFailureToFixFirst(t *testing.T) {
	var r Report
	r.add(Result{Check: "a", Status: OK})
	if r.Err() != nil {
		t.Fatal("no failure, yet an error")
	}
	r.add(Result{Check: "w", Status: Warn, Fix: "x"})
	if r.Err() != nil || r.Worst != Warn {
		t.Fatal("warnings alone must not fail")
	}
	r.add(failed("net", errkind.New(errkind.Transient, errors.New("reset")), "retry"))
	r.add(failed("cfg", errkind.New(errkind.Usage, errors.New("bad field")), "fix it"))
	err := r.Err()
	if errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), "cfg") || errkind.HintOf(err) != "fix it" || !strings.Contains(err.Error(), "2 of 4") {
		t.Fatalf("%v (kind %s, hint %q)", err, errkind.Of(err), errkind.HintOf(err))
	}
}

func TestReachClassifiesNetworkFailures(t *testing.T) {
	d := Deps{HTTP: &http.Client{Timeout: 2 * time.Second}}
	got, _ := checkReach(context.Background(), d, Endpoint{Name: "devops", URL: "https://127.0.0.1:1/o?sig=topsecret"})
	if got.Status != Fail || got.kind != errkind.Transient || strings.Contains(got.Message, "topsecret") {
		t.Fatalf("%s %s %q", got.Status, got.kind, got.Message)
	}
	if got, _ := checkReach(context.Background(), Deps{}, Endpoint{Name: "x", URL: "https://x"}); got.Status != Skip {
		t.Fatalf("no client: %s", got.Status)
	}
}
