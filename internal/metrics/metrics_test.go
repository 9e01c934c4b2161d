package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func sample() *Recorder {
	r := New()
	at := time.Unix(1_800_000_000, 0)
	r.Observe(Outcome{Credential: "agents", ValidTo: at.Add(30 * 24 * time.Hour), Rotated: true, At: at})
	r.Observe(Outcome{Credential: "feed", Failed: true, Reason: "policy", At: at})
	r.RunDuration(1500 * time.Millisecond)
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
		`patrol_credential_expiry_timestamp_seconds{credential="agents"} 1.802592e+09`,
		`patrol_credential_seconds_to_expiry{credential="agents"} 2.592e+06`,
		`patrol_last_success_timestamp_seconds{credential="agents"} 1.8e+09`,
		`patrol_rotations_total{credential="agents"} 1`,
		`patrol_rotations_total{credential="feed"} 0`,
		`patrol_failures_total{credential="feed",reason="policy"} 1`,
		`patrol_run_duration_seconds 1.5`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("textfile lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, `patrol_last_success_timestamp_seconds{credential="feed"}`) {
		t.Error("failed credential got a last-success timestamp")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
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
