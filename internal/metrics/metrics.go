// Package metrics exports the state of every configured credential after a
// rotation run, in Prometheus format, on a registry of its own (no global
// state): written atomically to a text file (node-exporter textfile
// collector) and/or pushed to a Pushgateway. A CronJob has no long-lived
// endpoint to scrape.
//
// Every run exports every configured credential's series (also those a run
// with --only did not touch), computed from what the run observed (the sinks
// and Azure DevOps, after applying) and the run state (internal/runstate):
// the last success survives a failed run and counters count over all runs.
// Health comes from rotation.Assess, the verdict `patrol status` prints.
// The series are documented in docs/rotation.md (Operations → Metrics).
package metrics

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/patrol-dev/patrol/internal/atomicfile"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/runstate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"
)

// Recorder holds the metrics of one run.
type Recorder struct {
	Registry       *prometheus.Registry
	build          *prometheus.GaugeVec
	lastRun        prometheus.Gauge
	lastRunSuccess prometheus.Gauge
	duration       prometheus.Gauge
	info           *prometheus.GaugeVec
	ready          *prometheus.GaugeVec
	sinkReady      *prometheus.GaugeVec
	expiry         *prometheus.GaugeVec
	toExpiry       *prometheus.GaugeVec
	due            *prometheus.GaugeVec
	lastSuccess    *prometheus.GaugeVec
	lastRotation   *prometheus.GaugeVec
	rotations      *prometheus.CounterVec
	failures       *prometheus.CounterVec
	notices        *prometheus.CounterVec
	noticeFailures *prometheus.CounterVec
}

func gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
}

func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// New returns a Recorder with its own registry.
func New() *Recorder {
	r := &Recorder{
		Registry: prometheus.NewRegistry(),
		build:    gauge("patrol_build_info", "Always 1; the labels name the patrol build that ran.", "version", "revision", "goversion"),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "patrol_last_run_timestamp_seconds",
			Help: "Unix time at which the last rotation run ended."}),
		lastRunSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "patrol_last_run_success",
			Help: "1 when every credential the last run handled succeeded, else 0."}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "patrol_run_duration_seconds",
			Help: "Wall time of the last rotation run."}),
		info:      gauge("patrol_credential_info", "Always 1; kind is pat or entra-token; organization is the Azure DevOps organisation of its PATs, identity the identities: entry that signs in for it (\"\" = the top-level auth:). Join on credential to group other series by them.", "credential", "kind", "organization", "identity"),
		ready:     gauge("patrol_credential_ready", "1 when the credential is healthy (patrol status: ok or due), else 0.", "credential"),
		sinkReady: gauge("patrol_sink_ready", "1 when the sink holds the credential's current, usable credential, else 0 (missing, behind, stale, unknown, unreadable, failed).", "credential", "sink"),
		expiry:    gauge("patrol_credential_expiry_timestamp_seconds", "Unix time at which the credential held by the sinks expires (the earliest sink's, when they disagree).", "credential"),
		toExpiry:  gauge("patrol_credential_seconds_to_expiry", "Seconds from the end of the run until the credential held by the sinks expires (negative: expired). Prefer patrol_credential_expiry_timestamp_seconds - time() in alerts.", "credential"),
		due:       gauge("patrol_credential_due_timestamp_seconds", "Unix time from which the credential is due for rotation (validTo - renewBefore).", "credential"),
		lastSuccess: gauge("patrol_last_success_timestamp_seconds",
			"Unix time of the last run that handled the credential without error (kept across failed runs).", "credential"),
		lastRotation: gauge("patrol_last_rotation_timestamp_seconds",
			"Unix time of the last run that delivered a new credential.", "credential"),
		rotations:      counter("patrol_rotations_total", "Rotations (new PAT or token delivered), over all runs.", "credential"),
		failures:       counter("patrol_failures_total", "Failed credential runs by reason, over all runs.", "credential", "reason"),
		notices:        counter("patrol_notifications_total", "Notices delivered, over all runs.", "notifier"),
		noticeFailures: counter("patrol_notification_failures_total", "Notices that could not be delivered (after retries), over all runs.", "notifier"),
	}
	r.Registry.MustRegister(r.build, r.lastRun, r.lastRunSuccess, r.duration, r.info, r.ready, r.sinkReady, r.expiry,
		r.toExpiry, r.due, r.lastSuccess, r.lastRotation, r.rotations, r.failures, r.notices, r.noticeFailures)
	return r
}

// BuildInfo labels patrol_build_info.
type BuildInfo struct{ Version, Revision, GoVersion string }

// Snapshot is what one run exports.
type Snapshot struct {
	// At is when the run ended.
	At    time.Time
	Build BuildInfo
	// RunDuration is the run's wall time.
	RunDuration time.Duration
	// RunSuccess: every credential the run handled succeeded.
	RunSuccess bool
	// Credentials are every configured credential's status
	// (rotation.Assess of what the run observed).
	Credentials []rotation.CredentialStatus
	// State supplies the last success and rotation and the counters (nil: none).
	State *runstate.State
	// Notifiers are the configured notifiers (their counters start at 0).
	Notifiers []string
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// Set records s (call once per Recorder).
func (r *Recorder) Set(s Snapshot) {
	r.build.WithLabelValues(s.Build.Version, s.Build.Revision, s.Build.GoVersion).Set(1)
	r.lastRun.Set(unix(s.At))
	r.lastRunSuccess.Set(bool01(s.RunSuccess))
	r.duration.Set(s.RunDuration.Seconds())
	for _, c := range s.Credentials {
		name := c.Credential
		r.info.WithLabelValues(name, c.Kind, c.Organization, c.Identity).Set(1)
		r.ready.WithLabelValues(name).Set(bool01(c.Ready))
		for _, sk := range c.Sinks {
			r.sinkReady.WithLabelValues(name, sk.Name).Set(bool01(sk.Ready))
		}
		if !c.ValidTo.IsZero() {
			r.expiry.WithLabelValues(name).Set(unix(c.ValidTo))
			r.toExpiry.WithLabelValues(name).Set(c.ValidTo.Sub(s.At).Seconds())
		}
		if !c.DueAt.IsZero() {
			r.due.WithLabelValues(name).Set(unix(c.DueAt))
		}
		r.rotations.WithLabelValues(name).Add(0)
		st := s.State.Credential(name)
		if st == nil {
			continue
		}
		if !st.LastSuccess.IsZero() {
			r.lastSuccess.WithLabelValues(name).Set(unix(st.LastSuccess))
		}
		if !st.LastRotation.IsZero() {
			r.lastRotation.WithLabelValues(name).Set(unix(st.LastRotation))
		}
		r.rotations.WithLabelValues(name).Add(float64(st.Rotations))
		for reason, n := range st.Failures {
			r.failures.WithLabelValues(name, reason).Add(float64(n))
		}
	}
	for _, n := range s.Notifiers {
		r.notices.WithLabelValues(n).Add(0)
		r.noticeFailures.WithLabelValues(n).Add(0)
		if s.State == nil || s.State.Notifications[n] == nil {
			continue
		}
		d := s.State.Notifications[n]
		r.notices.WithLabelValues(n).Add(float64(d.Sent))
		r.noticeFailures.WithLabelValues(n).Add(float64(d.Failed))
	}
}

// Names are the metric names patrol exports (for dashboards and rules).
func Names() []string {
	r := New()
	at := time.Unix(1_800_000_000, 0)
	st := runstate.New()
	st.Credentials = map[string]*runstate.Credential{"c": {Name: "c", LastSuccess: at, LastRotation: at, Rotations: 1, Failures: map[string]uint64{"sink": 1}}}
	st.CountNotice("n", false)
	r.Set(Snapshot{At: at, Notifiers: []string{"n"}, State: st, Credentials: []rotation.CredentialStatus{{Credential: "c", Kind: "pat",
		ValidTo: at, DueAt: at, Sinks: []rotation.SinkStatus{{Name: "s"}}}}})
	mfs, _ := r.Registry.Gather()
	var out []string
	for _, mf := range mfs {
		out = append(out, mf.GetName())
	}
	sort.Strings(out)
	return out
}

// Text renders the registry in the Prometheus text format.
func (r *Recorder) Text() ([]byte, error) {
	mfs, err := r.Registry.Gather()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// WriteTextfile writes the metrics to path atomically (temp file in the same
// directory, fsync, rename), mode 0644: metrics are not secret.
func (r *Recorder) WriteTextfile(path string) error {
	b, err := r.Text()
	if err != nil {
		return fmt.Errorf("metrics: render: %w", err)
	}
	// The directory must exist: it is usually node-exporter's textfile
	// directory, whose owner and mode are not patrol's to choose.
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("metrics: directory %s of rotation.metrics.textfile does not exist: create it (readable by the metrics collector) or fix the path", dir)
	}
	if err := atomicfile.Write(path, b, 0o644); err != nil {
		return fmt.Errorf("metrics: %w; check rotation.metrics.textfile", err)
	}
	return nil
}

// Push sends the metrics to a Pushgateway (PUT: replaces the job's group;
// every run exports every credential, so nothing is lost).
func (r *Recorder) Push(ctx context.Context, url, job string, client *http.Client) error {
	// Never redirected, answer bounded: internal/httpx, purpose Pushgateway.
	p := push.New(url, job).Gatherer(r.Registry).Client(httpx.For(client, httpx.Pushgateway))
	if err := p.PushContext(ctx); err != nil {
		if hint, ok := errkind.Certificate(err); ok {
			return fmt.Errorf("metrics: push to %s (job %s): %w; %s (rotation.metrics.pushgateway)", url, job, err, hint)
		}
		return fmt.Errorf("metrics: push to %s (job %s): %w; check rotation.metrics.pushgateway", url, job, err)
	}
	return nil
}
