package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The previous push of this job's group gives back the last success, the
// last rotation and the counters; other jobs' series are ignored.
func TestPushedState(t *testing.T) {
	// What a Pushgateway serves after sample() was pushed for job patrol:
	// the pushed series with job (and instance) labels, plus its own.
	text, err := sample().Text()
	if err != nil {
		t.Fatal(err)
	}
	var served strings.Builder
	for _, line := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(line, "patrol_") {
			if i := strings.Index(line, "{"); i > 0 {
				line = line[:i+1] + `instance="",job="patrol",` + line[i+1:]
			} else {
				sp := strings.Index(line, " ")
				line = line[:sp] + `{instance="",job="patrol"}` + line[sp:]
			}
		}
		served.WriteString(line + "\n")
	}
	served.WriteString(`patrol_rotations_total{credential="agents",instance="",job="other"} 99` + "\n")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(served.String()))
	}))
	defer srv.Close()
	st, err := PushedState(context.Background(), srv.URL, "patrol", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	a := st.Credential("agents")
	if a == nil || a.Rotations != 3 || !a.LastSuccess.Equal(at) || !a.LastRotation.Equal(at.Add(-3600e9)) {
		t.Fatalf("agents: %+v", a)
	}
	if f := st.Credential("feed"); f == nil || f.Failures["policy"] != 2 || f.Rotations != 1 {
		t.Fatalf("feed: %+v", f)
	}
	if d := st.Notifications["teams"]; d == nil || d.Sent != 1 || d.Failed != 1 {
		t.Fatalf("notifications: %+v", st.Notifications)
	}
	if _, err := PushedState(context.Background(), srv.URL+"/nope", "patrol", srv.Client()); err == nil || !strings.Contains(err.Error(), "rotation.metrics.pushgateway") {
		t.Fatalf("a failing Pushgateway: %v", err)
	}
}
