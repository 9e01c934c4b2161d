// Package metrics exports what a rotation run found and did, in Prometheus
// format, on a registry of its own (no global state): written atomically to a
// text file (node-exporter textfile collector) and/or pushed to a
// Pushgateway. A CronJob has no long-lived endpoint to scrape.
//
// Metrics:
//
//	patrol_credential_seconds_to_expiry{credential}     seconds from the end of the run until the credential in the sinks expires
//	patrol_credential_expiry_timestamp_seconds{credential} Unix time the credential in the sinks expires (alert on it - time())
//	patrol_last_success_timestamp_seconds{credential}   Unix time of the last successful run for it
//	patrol_rotations_total{credential}                  rotations (create/renew/refresh) done by this run
//	patrol_failures_total{credential,reason}            failures by reason (create, policy, verify, sink, revoke, read, token, list, config, crash)
//	patrol_run_duration_seconds                         wall time of the run
//
// Counters count events of this run; the Pushgateway (or the textfile) keeps
// the latest push, so use them with changes()/resets() in alerts, or
// alert on patrol_last_success_timestamp_seconds instead.
package metrics

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/patrol-dev/patrol/internal/atomicfile"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"
)

// Recorder holds the metrics of one run.
type Recorder struct {
	Registry    *prometheus.Registry
	expiry      *prometheus.GaugeVec
	toExpiry    *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	rotations   *prometheus.CounterVec
	failures    *prometheus.CounterVec
	duration    prometheus.Gauge
}

// New returns a Recorder with its own registry.
func New() *Recorder {
	r := &Recorder{
		Registry: prometheus.NewRegistry(),
		expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "patrol_credential_expiry_timestamp_seconds",
			Help: "Unix time at which the credential held by the sinks expires."}, []string{"credential"}),
		toExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "patrol_credential_seconds_to_expiry",
			Help: "Seconds from the end of the run until the credential held by the sinks expires (negative: expired)."}, []string{"credential"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "patrol_last_success_timestamp_seconds",
			Help: "Unix time of the last run that handled the credential without error."}, []string{"credential"}),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patrol_rotations_total",
			Help: "Rotations (new PAT or token delivered) performed."}, []string{"credential"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patrol_failures_total",
			Help: "Failed credential runs by reason."}, []string{"credential", "reason"}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "patrol_run_duration_seconds",
			Help: "Wall time of the last rotation run."}),
	}
	r.Registry.MustRegister(r.expiry, r.toExpiry, r.lastSuccess, r.rotations, r.failures, r.duration)
	return r
}

// Outcome is what the recorder needs to know about one credential.
type Outcome struct {
	Credential string
	// ValidTo of what the sinks hold after the run (zero: unknown).
	ValidTo time.Time
	// Rotated is true when a new credential was delivered.
	Rotated bool
	// Failed with Reason.
	Failed bool
	Reason string
	// At is when the run ended.
	At time.Time
}

// Observe records one credential outcome.
func (r *Recorder) Observe(o Outcome) {
	if !o.ValidTo.IsZero() {
		r.expiry.WithLabelValues(o.Credential).Set(float64(o.ValidTo.Unix()))
		r.toExpiry.WithLabelValues(o.Credential).Set(o.ValidTo.Sub(o.At).Seconds())
	}
	r.rotations.WithLabelValues(o.Credential).Add(0)
	if o.Rotated {
		r.rotations.WithLabelValues(o.Credential).Inc()
	}
	if o.Failed {
		reason := o.Reason
		if reason == "" {
			reason = "unknown"
		}
		r.failures.WithLabelValues(o.Credential, reason).Inc()
		return
	}
	r.lastSuccess.WithLabelValues(o.Credential).Set(float64(o.At.Unix()))
}

// RunDuration records the run's wall time.
func (r *Recorder) RunDuration(d time.Duration) { r.duration.Set(d.Seconds()) }

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

// Push sends the metrics to a Pushgateway (PUT: replaces the job's group).
func (r *Recorder) Push(ctx context.Context, url, job string, client *http.Client) error {
	p := push.New(url, job).Gatherer(r.Registry)
	if client != nil {
		p = p.Client(client)
	}
	if err := p.PushContext(ctx); err != nil {
		return fmt.Errorf("metrics: push to %s (job %s): %w; check rotation.metrics.pushgateway", url, job, err)
	}
	return nil
}
