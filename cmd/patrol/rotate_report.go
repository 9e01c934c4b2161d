package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/metrics"
	"github.com/patrol-dev/patrol/internal/notify"
	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/runstate"
)

// runReport turns a run's report into everything derived from it: the
// remembered state, the credentials' status, notices, the target Secrets'
// Events and annotations, and the metrics — in that order, so they agree.
// Nothing here fails the run: the credentials matter more than their reports.
type runReport struct {
	a         *app
	f         *config.File
	log       *slog.Logger
	start     time.Time
	statePath string
	state     *runstate.State
}

// statePath is rotation.stateFile, else runstate.DefaultPath.
func (a *app) statePath(f *config.File) string {
	if f.Rotation.StateFile != "" {
		return f.Rotation.StateFile
	}
	return runstate.DefaultPath(f.Rotation.Metrics.Textfile, f.Path, runstate.Lookup(a.env))
}

// loadState reads the remembered state; problems are logged, never fatal.
func (a *app) loadState(f *config.File, log *slog.Logger) (string, *runstate.State) {
	path := a.statePath(f)
	if path == "" {
		return "", runstate.New()
	}
	st, err := runstate.Load(path)
	if err != nil {
		log.Warn("run state", slog.String("error", err.Error()))
	}
	return path, st
}

func (a *app) newRunReport(ctx context.Context, f *config.File, log *slog.Logger, start time.Time) *runReport {
	path, st := a.loadState(f, log)
	if m := f.Rotation.Metrics; path == "" && m.Pushgateway != "" {
		// No state file (a CronJob's Pod): the last push keeps the
		// timestamps and counters.
		hc, err := a.httpClient()
		if err == nil {
			var pushed *runstate.State
			if pushed, err = metrics.PushedState(ctx, m.Pushgateway, m.Job, httpx.ForLimit(hc, httpx.Pushgateway, 32<<20)); err == nil {
				st = pushed
			}
		}
		if err != nil {
			log.Warn("run state from the Pushgateway (counters restart, last success unknown)", slog.String("error", err.Error()))
		}
	}
	return &runReport{a: a, f: f, log: log, start: start, statePath: path, state: st}
}

// changed reports whether applying rep may have changed what a sink holds
// or which PATs exist.
func changed(rep rotation.Report) bool {
	for _, r := range rep.Results {
		if r.Action != rotation.ActionNone || len(r.Revoked) > 0 || r.Err != nil {
			return true
		}
	}
	return false
}

// statuses assesses every configured credential: observed after the run
// (in: the observation before it, re-read when the run changed something),
// with the outcomes just recorded.
func (r *runReport) statuses(ctx context.Context, eng *rotation.Engine, rep rotation.Report, in rotation.Input, listErr error, unbuilt map[string]error, now time.Time) []rotation.CredentialStatus {
	var view rotation.Plan
	switch {
	case listErr != nil:
		view = rotation.PlanUnlisted(in, listErr)
	default:
		if changed(rep) {
			if after, err := eng.Observe(ctx); err != nil {
				r.log.Warn("observe after the run (metrics and notices use the observation before it)", slog.String("error", err.Error()))
			} else {
				in = after
			}
		}
		in.Force = false
		view = rotation.MakePlan(in)
	}
	byName := map[string]rotation.Item{}
	for _, it := range view.Items {
		byName[it.Credential] = it
	}
	var out []rotation.CredentialStatus
	for _, c := range r.f.Credentials {
		it, ok := byName[c.Name]
		if !ok {
			msg := "not observed"
			if err := unbuilt[c.Name]; err != nil {
				msg = "its sinks cannot be built: " + redact.Error(err)
			}
			it = rotation.Item{Credential: c.Name, Kind: c.Kind, Action: rotation.ActionFail, Error: msg}
		}
		out = append(out, rotation.Assess(now, it, r.state.Last(c.Name)))
	}
	return out
}

// finish records rep and exports what derives from it.
func (r *runReport) finish(ctx context.Context, eng *rotation.Engine, rep rotation.Report, in rotation.Input, listErr error, unbuilt map[string]error) {
	now := r.a.now()
	r.state.Record(rep, now)
	sts := r.statuses(ctx, eng, rep, in, listErr, unbuilt, now)
	r.notify(ctx, rep, sts, now)
	for _, err := range eng.ReportOutcomes(ctx, rep, now) {
		r.log.Warn("outcome not recorded on the sink", slog.String("error", redact.Error(err)))
	}
	r.exportMetrics(ctx, sts, now)
	if r.statePath != "" {
		if err := r.state.Save(r.statePath); err != nil {
			r.log.Warn("run state", slog.String("error", err.Error()))
		}
	}
}

// notify sends the run's notices; a notice that cannot be delivered is
// logged and counted (patrol_notification_failures_total), never fatal.
func (r *runReport) notify(ctx context.Context, rep rotation.Report, sts []rotation.CredentialStatus, now time.Time) {
	if len(r.f.Notify) == 0 {
		return
	}
	hc, err := r.a.httpClient()
	if err != nil {
		r.log.Warn("notify: no HTTP client", slog.String("error", err.Error()))
		return
	}
	notices := notify.Notices(rep, sts, now)
	for _, cfg := range r.f.Notify {
		n := notify.New(cfg, httpx.For(hc, httpx.Notify), r.a.env)
		for _, no := range notices {
			if !n.Wants(no, now) {
				continue
			}
			err := n.Send(ctx, no)
			r.state.CountNotice(n.Name(), err == nil)
			if err != nil {
				r.log.Warn("notice not delivered", slog.String("notifier", n.Name()), slog.String("event", no.Event),
					slog.String("name", no.Credential), slog.String("error", err.Error()))
			}
		}
	}
}

// exportMetrics writes/pushes the metrics. Export failures are logged.
func (r *runReport) exportMetrics(ctx context.Context, sts []rotation.CredentialStatus, now time.Time) {
	m := r.f.Rotation.Metrics
	if m.Textfile == "" && m.Pushgateway == "" {
		return
	}
	vi := versionInfo()
	rec := metrics.New()
	rec.Set(metrics.Snapshot{At: now, Build: metrics.BuildInfo{Version: vi.Version, Revision: vi.Commit, GoVersion: vi.GoVersion},
		RunDuration: time.Since(r.start), RunSuccess: r.state.LastRun != nil && r.state.LastRun.Success, Credentials: sts, State: r.state, Notifiers: r.notifierNames()})
	if m.Textfile != "" {
		if err := rec.WriteTextfile(m.Textfile); err != nil {
			r.log.Warn("metrics textfile", slog.String("error", err.Error()))
		}
	}
	if m.Pushgateway != "" {
		hc, err := r.a.httpClient()
		if err == nil {
			err = rec.Push(ctx, m.Pushgateway, m.Job, hc)
		}
		if err != nil {
			r.log.Warn("metrics push", slog.String("error", err.Error()))
		}
	}
}

func (r *runReport) notifierNames() []string {
	var out []string
	for _, n := range r.f.Notify {
		out = append(out, n.Name)
	}
	return out
}
