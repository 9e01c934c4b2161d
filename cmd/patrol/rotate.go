package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/lock"
	"github.com/patrol-dev/patrol/internal/metrics"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
)

// rotationConfigPath is --config, else PATROL_CONFIG, else ./patrol.yaml.
func (a *app) rotationConfigPath() string {
	if a.configFile != "" {
		return a.configFile
	}
	if a.env != nil {
		if v, ok := a.env(config.EnvConfig); ok && v != "" {
			return v
		}
	}
	return "patrol.yaml"
}

// scopeCheck validates scopes with devops.ParseScopes.
func scopeCheck(scopes []string, full bool) error {
	opts := []devops.ScopeOption{}
	if full {
		opts = append(opts, devops.AllowFullAccess())
	}
	_, err := devops.ParseScopes(scopes, opts...)
	return err
}

// loadRotationFile reads and validates patrol.yaml.
func (a *app) loadRotationFile() (*config.File, error) {
	return config.LoadFile(a.rotationConfigPath(), config.ValidateOptions{Scopes: scopeCheck, Now: a.now})
}

// selectCredentials applies --only.
func selectCredentials(f *config.File, only []string) ([]config.Credential, error) {
	if len(only) == 0 {
		return f.Credentials, nil
	}
	var out []config.Credential
	for _, n := range only {
		c, ok := f.Credential(n)
		if !ok {
			var names []string
			for _, c := range f.Credentials {
				names = append(names, c.Name)
			}
			return nil, usageErrorf("--only %q: no credential of that name in %s; known: %s", n, f.Path, strings.Join(names, ", "))
		}
		out = append(out, *c)
	}
	return out, nil
}

// buildEngine builds the engine with every sink of creds.
func (a *app) buildEngine(ctx context.Context, f *config.File, creds []config.Credential, log *slog.Logger) (*rotation.Engine, error) {
	dc, err := a.devops(ctx)
	if err != nil {
		return nil, err
	}
	hc, err := a.httpClient()
	if err != nil {
		return nil, err
	}
	e := &rotation.Engine{PATs: dc, Now: a.now, Logger: log, Concurrency: f.Rotation.Concurrency, OrphanAge: f.Rotation.OrphanAge.D()}
	for _, c := range creds {
		if c.Kind == config.KindEntraToken && e.Tokens == nil {
			ts, err := a.tokenSource(ctx)
			if err != nil {
				return nil, err
			}
			e.Tokens = ts
		}
		t := rotation.Target{Credential: c}
		for _, s := range c.Sinks {
			sk, err := sink.Build(s.Spec(), sink.Deps{Logger: log, HTTPClient: hc, DevOps: dc, Now: a.now})
			if err != nil {
				return nil, err
			}
			t.Sinks = append(t.Sinks, sk)
		}
		e.Targets = append(e.Targets, t)
	}
	return e, nil
}

// locker builds the configured run lock.
func (a *app) locker(f *config.File) (lock.Locker, error) {
	l := f.Rotation.Lock
	switch l.Type {
	case config.LockNone:
		return lock.None(), nil
	case config.LockLease:
		cfg, ns, err := sink.KubeClientConfig("", "")
		if err != nil {
			return nil, err
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, errkind.New(errkind.Usage, fmt.Errorf("rotation.lock: kubernetes client: %w", err))
		}
		if l.LeaseNamespace != "" {
			ns = l.LeaseNamespace
		}
		id := l.Identity
		if id == "" {
			host, _ := os.Hostname()
			id = fmt.Sprintf("%s/%d", host, os.Getpid())
		}
		return lock.NewLease(lock.LeaseOptions{Client: cs, Namespace: ns, Name: l.LeaseName, Identity: id, Duration: l.LeaseDuration.D(), Logger: a.logger()}), nil
	default:
		p := l.Path
		if p == "" {
			p = config.DefaultLockPath()
		}
		return lock.NewFile(lock.FileOptions{Path: p, Identity: l.Identity, Wait: l.Wait.D(), Now: a.now}), nil
	}
}

// runLogger is the logger of unattended runs: JSON inside Kubernetes unless
// a format was chosen explicitly; info level by default.
func (a *app) runLogger() *slog.Logger {
	format, level := a.flags.LogFormat, a.flags.LogLevel
	if c, err := a.connection(); err == nil {
		format, level = c.Log.Format, c.Log.Level
	}
	if format == "" {
		if v, ok := a.env("KUBERNETES_SERVICE_HOST"); ok && v != "" {
			format = "json"
		}
	}
	l, err := output.NewLogger(a.stderr, format, level, slog.LevelInfo)
	if err != nil {
		return a.logger()
	}
	return l
}

type rotateOpts struct {
	dryRun bool
	force  bool
	only   []string
}

func newRotateCmd(a *app) *cobra.Command {
	var o rotateOpts
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Rotate the credentials of patrol.yaml that are due (plan, then apply)",
		Long: `rotate reads patrol.yaml (--config, PATROL_CONFIG or ./patrol.yaml), takes the
run lock, looks at what every sink holds and at the managed PATs (one listing),
prints the plan and applies it: create the new PAT → check it authenticates →
write every sink → verify sinks that can → revoke the PAT it replaced.
A PAT is never revoked while a sink holds it. --dry-run stops after the plan.

Exit codes: 0 all credentials ok, 8 some failed, otherwise the code of the
failure kind when all failed (e.g. 4 policy, 7 lock held).`,
		Args: noArgs,
		PreRunE: func(*cobra.Command, []string) error {
			a.configFile = a.rotationConfigPath()
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runRotate(cmd.Context(), o) },
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.dryRun, "dry-run", false, "print the plan and stop")
	fl.BoolVar(&o.force, "force", false, "renew every selected credential even if not due")
	fl.StringSliceVar(&o.only, "only", nil, "rotate only these credentials (repeatable or comma-separated)")
	return cmd
}

// rotateOutput is the -o json document of rotate.
type rotateOutput struct {
	DryRun  bool              `json:"dryRun"`
	Plan    rotation.Plan     `json:"plan"`
	Results []rotation.Result `json:"results,omitempty"`
}

func (a *app) runRotate(ctx context.Context, o rotateOpts) error {
	start := time.Now()
	f, err := a.loadRotationFile()
	if err != nil {
		return err
	}
	if len(f.Credentials) == 0 {
		return usageErrorf("%s lists no credentials; add at least one under credentials: (see deploy/patrol.example.yaml)", f.Path)
	}
	creds, err := selectCredentials(f, o.only)
	if err != nil {
		return err
	}
	log := a.runLogger()
	rec := metrics.New()
	var lk lock.Locker = lock.None()
	if !o.dryRun {
		if lk, err = a.locker(f); err != nil {
			return err
		}
	}
	release, err := lk.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := release(rctx); err != nil {
			log.Warn("release run lock", slog.String("error", err.Error()))
		}
	}()
	eng, err := a.buildEngine(ctx, f, creds, log)
	if err != nil {
		return err
	}
	plan, err := eng.Plan(ctx, o.force)
	if err != nil {
		a.exportMetrics(ctx, f, rec, nil, err, start, log)
		return err
	}
	p := a.printer()
	if o.dryRun {
		if p.Machine() {
			return p.Print(rotateOutput{DryRun: true, Plan: plan})
		}
		return p.Print(planTable{plan})
	}
	if !p.Machine() {
		if err := p.Print(planTable{plan}); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout)
	}
	rep := eng.Apply(ctx, plan)
	if p.Machine() {
		if err := p.Print(rotateOutput{Plan: plan, Results: rep.Results}); err != nil {
			return err
		}
	} else if err := p.Print(resultTable{rep}); err != nil {
		return err
	}
	a.exportMetrics(ctx, f, rec, &rep, nil, start, log)
	return rep.Err()
}

// exportMetrics records the run and writes/pushes metrics. Export failures
// are logged, never fatal: the credentials matter more than their metrics.
func (a *app) exportMetrics(ctx context.Context, f *config.File, rec *metrics.Recorder, rep *rotation.Report, runErr error, start time.Time, log *slog.Logger) {
	m := f.Rotation.Metrics
	if m.Textfile == "" && m.Pushgateway == "" {
		return
	}
	now := a.now()
	if rep != nil {
		for i, r := range rep.Results {
			validTo := r.ValidTo
			if r.Err != nil && (r.Action == rotation.ActionCreate || r.Action == rotation.ActionRenew) {
				// The sinks (mostly) still hold the previous credential.
				validTo = time.Time{}
				if cur := rep.Plan.Items[i].Current; cur != nil {
					validTo = cur.ValidTo
				}
			}
			rec.Observe(metrics.Outcome{Credential: r.Credential, ValidTo: validTo, Rotated: r.Err == nil && (r.Action == rotation.ActionCreate || r.Action == rotation.ActionRenew || r.Action == rotation.ActionRefresh), Failed: r.Err != nil, Reason: r.Reason, At: now})
		}
	} else if runErr != nil {
		for _, c := range f.Credentials {
			rec.Observe(metrics.Outcome{Credential: c.Name, Failed: true, Reason: "list", At: now})
		}
	}
	rec.RunDuration(time.Since(start))
	if m.Textfile != "" {
		if err := rec.WriteTextfile(m.Textfile); err != nil {
			log.Warn("metrics textfile", slog.String("error", err.Error()))
		}
	}
	if m.Pushgateway != "" {
		hc, err := a.httpClient()
		if err == nil {
			err = rec.Push(ctx, m.Pushgateway, m.Job, hc)
		}
		if err != nil {
			log.Warn("metrics push", slog.String("error", err.Error()))
		}
	}
}

type planTable struct{ p rotation.Plan }

func (t planTable) Table() output.TableData {
	td := output.TableData{Header: []string{"CREDENTIAL", "ACTION", "CURRENT", "VALID TO", "DUE AT", "SINKS", "REVOKE", "WHY"}}
	for _, it := range t.p.Items {
		cur, validTo, due := "", "", ""
		if it.Current != nil {
			cur = it.Current.AuthorizationID
			validTo = it.Current.ValidTo.UTC().Format(time.RFC3339)
		}
		if !it.DueAt.IsZero() {
			due = it.DueAt.UTC().Format(time.RFC3339)
		}
		var sinks []string
		for _, s := range it.Sinks {
			sinks = append(sinks, s.Name+"="+s.Status)
		}
		var rev []string
		for _, r := range it.Revoke {
			rev = append(rev, r.AuthorizationID)
		}
		why := strings.Join(it.Reasons, "; ")
		if it.Error != "" {
			why = it.Error
		}
		td.Rows = append(td.Rows, []string{it.Credential, string(it.Action), cur, validTo, due, strings.Join(sinks, ", "), strings.Join(rev, ", "), why})
	}
	return td
}

type resultTable struct{ r rotation.Report }

func (t resultTable) Table() output.TableData {
	td := output.TableData{Header: []string{"CREDENTIAL", "ACTION", "RESULT", "AUTHORIZATION ID", "VALID TO", "REVOKED", "KEPT", "DURATION", "ERROR"}}
	for _, r := range t.r.Results {
		res := "ok"
		if r.Err != nil {
			res = "failed"
		}
		validTo := ""
		if !r.ValidTo.IsZero() {
			validTo = r.ValidTo.UTC().Format(time.RFC3339)
		}
		if r.Clamped {
			validTo += " (clamped)"
		}
		td.Rows = append(td.Rows, []string{r.Credential, string(r.Action), res, r.AuthorizationID, validTo,
			strings.Join(r.Revoked, ", "), strings.Join(r.Kept, ", "), r.Duration.Round(time.Millisecond).String(), r.Error})
	}
	return td
}

// sortedNames is used by status for stable output.
func sortedNames(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
