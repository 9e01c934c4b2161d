package metrics

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx/httpxtest"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/runstate"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var at = time.Unix(1_800_000_000, 0)

func sample() *Recorder {
	st := runstate.New()
	st.Credentials = map[string]*runstate.Credential{
		"agents": {Name: "agents", LastSuccess: at, LastRotation: at.Add(-time.Hour), Rotations: 3},
		"feed":   {Name: "feed", LastSuccess: at.Add(-24 * time.Hour), Rotations: 1, Failures: map[string]uint64{"policy": 2}},
		"gone":   {Name: "gone", Rotations: 9}, // no longer configured: not exported
	}
	st.CountNotice("teams", true)
	st.CountNotice("teams", false)
	r := New()
	r.Set(Snapshot{At: at, Build: BuildInfo{Version: "v1.2.3", Revision: "abc", GoVersion: "go1.26"}, RunDuration: 1500 * time.Millisecond,
		State: st, Notifiers: []string{"teams", "slack"},
		Credentials: []rotation.CredentialStatus{
			{Credential: "agents", Kind: "pat", Organization: "contoso-labs", Identity: "labs-admin", Ready: true, ValidTo: at.Add(30 * 24 * time.Hour), DueAt: at.Add(20 * 24 * time.Hour),
				Sinks: []rotation.SinkStatus{{Name: "file:/a", Ready: true}}},
			{Credential: "feed", Kind: "pat", Ready: false, Sinks: []rotation.SinkStatus{{Name: "file:/f", Ready: false}}},
		}})
	return r
}

func TestTextfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "patrol.prom")
	if err := sample().WriteTextfile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		`patrol_build_info{goversion="go1.26",revision="abc",version="v1.2.3"} 1`,
		`patrol_last_run_timestamp_seconds 1.8e+09`,
		`patrol_last_run_success 0`,
		`patrol_credential_info{credential="agents",identity="labs-admin",kind="pat",organization="contoso-labs"} 1`,
		`patrol_credential_info{credential="feed",identity="",kind="pat",organization=""} 1`,
		`patrol_credential_ready{credential="agents"} 1`,
		`patrol_credential_ready{credential="feed"} 0`,
		`patrol_sink_ready{credential="agents",sink="file:/a"} 1`,
		`patrol_sink_ready{credential="feed",sink="file:/f"} 0`,
		`patrol_credential_expiry_timestamp_seconds{credential="agents"} 1.802592e+09`,
		`patrol_credential_seconds_to_expiry{credential="agents"} 2.592e+06`,
		`patrol_credential_due_timestamp_seconds{credential="agents"} 1.801728e+09`,
		`patrol_last_success_timestamp_seconds{credential="agents"} 1.8e+09`,
		`patrol_last_success_timestamp_seconds{credential="feed"} 1.7999136e+09`,
		`patrol_last_rotation_timestamp_seconds{credential="agents"} 1.7999964e+09`,
		`patrol_rotations_total{credential="agents"} 3`,
		`patrol_rotations_total{credential="feed"} 1`,
		`patrol_failures_total{credential="feed",reason="policy"} 2`,
		`patrol_notifications_total{notifier="teams"} 1`,
		`patrol_notification_failures_total{notifier="teams"} 1`,
		`patrol_notification_failures_total{notifier="slack"} 0`,
		`patrol_run_duration_seconds 1.5`,
	} {
		if !strings.Contains(s, want+"\n") {
			t.Errorf("textfile lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, `"gone"`) {
		t.Error("a credential that is no longer configured is exported")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

// The text passes Prometheus' own linter (naming, units, help).
func TestLint(t *testing.T) {
	problems, err := testutil.GatherAndLint(sample().Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestNames(t *testing.T) {
	names := Names()
	if len(names) != 16 {
		t.Fatalf("Names() = %v: every registered series must appear", names)
	}
}

func TestTextfileBadDir(t *testing.T) {
	err := sample().WriteTextfile(filepath.Join(t.TempDir(), "missing", "x.prom"))
	if err == nil || !strings.Contains(err.Error(), "rotation.metrics.textfile") {
		t.Fatalf("want a helpful error, got %v", err)
	}
}

func TestPush(t *testing.T) {
	var mu sync.Mutex
	var method, path, body string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		method, path, body = r.Method, r.URL.Path, string(b)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	if err := sample().Push(context.Background(), srv.URL, "patrol", srv.Client()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if method != http.MethodPut || path != "/metrics/job/patrol" {
		t.Fatalf("push: %s %s", method, path)
	}
	if !strings.Contains(body, "patrol_failures_total") {
		t.Fatal("push body lacks metrics (protobuf names are included verbatim)")
	}
}

func TestPushError(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusBadGateway)
	}))
	defer srv.Close()
	err := sample().Push(context.Background(), srv.URL, "patrol", srv.Client())
	if err == nil || !strings.Contains(err.Error(), "pushgateway") {
		t.Fatalf("want error naming the setting, got %v", err)
	}
}

// The push is never redirected (policy Pushgateway, internal/httpx).
func TestPushRefusesRedirects(t *testing.T) {
	away := httpxtest.NewThief(t, "")
	srv := httpxtest.Redirector(t, away.URL, http.StatusTemporaryRedirect)
	err := sample().Push(context.Background(), srv.URL, "patrol", srv.Client())
	if err == nil || away.Hits() != 0 || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("the push followed a redirect (%d requests to the target): %v", away.Hits(), err)
	}
}

// A Pushgateway whose certificate is not trusted says how to fix that.
func TestPushUntrustedCertificate(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	err := sample().Push(context.Background(), srv.URL, "patrol", &http.Client{})
	if err == nil || !strings.Contains(err.Error(), errkind.HintCertUntrusted) {
		t.Fatalf("want the certificate hint, got %v", err)
	}
}
