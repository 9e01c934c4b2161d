package controller

import (
	"strings"
	"sync"
	"time"

	"github.com/patrol-dev/patrol/internal/metrics"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/runstate"
	dto "github.com/prometheus/client_model/go"
)

// Metrics serves the series of docs/metrics.md live: every scrape renders
// what the reconciles recorded (each PersonalAccessToken and each
// EntraAccessToken is a credential) through internal/metrics, the code the
// CronJob's textfile and Pushgateway export use, so the two modes export
// the same series. The "run" series describe the last reconcile; counters
// count since the controller started.
type Metrics struct {
	Build metrics.BuildInfo

	mu       sync.Mutex
	state    *runstate.State
	statuses map[string]rotation.CredentialStatus // by lower-case credential
	lastAt   time.Time
	lastDur  time.Duration
}

// NewMetrics returns an empty Metrics.
func NewMetrics(b metrics.BuildInfo) *Metrics {
	return &Metrics{Build: b, state: runstate.New(), statuses: map[string]rotation.CredentialStatus{}}
}

// record adds a reconcile's report and the items observed after it.
func (m *Metrics) record(rep rotation.Report, view []rotation.Item, at time.Time, d time.Duration) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state.Record(rep, at)
	for _, it := range view {
		m.statuses[strings.ToLower(it.Credential)] = rotation.Assess(at, it, m.state.Last(it.Credential))
	}
	m.lastAt, m.lastDur = at, d
}

// recordFailure records a reconcile that failed before the engine ran
// (identity, spec): kind is the credential's (config.KindPAT,
// config.KindEntraToken), reason a patrol_failures_total reason.
func (m *Metrics) recordFailure(cred, kind, reason, msg string, at time.Time, d time.Duration) {
	if m == nil {
		return
	}
	res := rotation.Result{Credential: cred, Kind: kind, Action: rotation.ActionFail, Reason: reason, Error: msg, Err: errString(msg)}
	m.mu.Lock()
	prev, ok := m.statuses[strings.ToLower(cred)]
	m.mu.Unlock()
	it := rotation.Item{Credential: cred, Kind: kind, Action: rotation.ActionFail, Error: msg}
	if ok {
		it.Organization, it.Identity = prev.Organization, prev.Identity
	}
	m.record(rotation.Report{Results: []rotation.Result{res}}, []rotation.Item{it}, at, d)
}

type errString string

func (e errString) Error() string { return string(e) }

// forget drops a deleted credential's series.
func (m *Metrics) forget(cred string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.statuses, strings.ToLower(cred))
	delete(m.state.Credentials, strings.ToLower(cred))
}

// Gather implements prometheus.Gatherer: the series of the reconciles so far.
func (m *Metrics) Gather() ([]*dto.MetricFamily, error) {
	m.mu.Lock()
	snap := metrics.Snapshot{At: m.lastAt, Build: m.Build, RunDuration: m.lastDur, RunSuccess: m.state.LastRun == nil || m.state.LastRun.Success, State: m.state}
	for _, st := range m.statuses {
		snap.Credentials = append(snap.Credentials, st)
	}
	rec := metrics.New()
	rec.Set(snap)
	m.mu.Unlock()
	return rec.Registry.Gather()
}
