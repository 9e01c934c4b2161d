package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/lock"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
	"github.com/spf13/cobra"
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
	e, _, err := a.buildEngineTolerant(ctx, f, creds, nil, log)
	return e, err
}

// buildRunEngine builds the engine of a rotation run with every configured
// credential; a credential outside the selection whose sinks cannot be
// built is left out (returned in unbuilt) instead of failing the run.
func (a *app) buildRunEngine(ctx context.Context, f *config.File, selected []config.Credential, log *slog.Logger) (*rotation.Engine, map[string]error, error) {
	sel := map[string]bool{}
	for _, c := range selected {
		sel[strings.ToLower(c.Name)] = true
	}
	return a.buildEngineTolerant(ctx, f, f.Credentials, func(name string) bool { return !sel[strings.ToLower(name)] }, log)
}

func (a *app) buildEngineTolerant(ctx context.Context, f *config.File, creds []config.Credential, tolerate func(string) bool, log *slog.Logger) (*rotation.Engine, map[string]error, error) {
	conn, err := a.connection()
	if err != nil {
		return nil, nil, err
	}
	hc, err := a.httpClient()
	if err != nil {
		return nil, nil, err
	}
	e := &rotation.Engine{Now: a.now, Logger: log, Concurrency: f.Rotation.Concurrency, OrphanAge: f.Rotation.OrphanAge.D()}
	if conn.Organization != "" || len(creds) == 0 {
		// The default account (credentials without organization:).
		dc, err := a.devops(ctx)
		if err != nil {
			return nil, nil, err
		}
		e.PATs = dc
	}
	unbuilt := map[string]error{}
	for _, c := range creds {
		t, err := a.buildAccountTarget(ctx, f, e, c, sink.Deps{Logger: log, HTTPClient: hc, Now: a.now})
		if err != nil {
			if tolerate != nil && tolerate(c.Name) {
				log.Warn("credential not observed: its sinks cannot be built", slog.String("name", c.Name), slog.String("error", err.Error()))
				unbuilt[c.Name] = err
				// Its sinks may still hold PATs: the engine's sink check
				// counts them as unreadable, so no revocation touches them.
				e.Watch = append(e.Watch, rotation.Target{Credential: c, Sinks: []sink.Sink{unbuiltSink{name: c.Name + " (sinks not built)", err: err}}})
				continue
			}
			return nil, nil, err
		}
		e.Targets = append(e.Targets, t)
	}
	return e, unbuilt, nil
}

// buildAccountTarget builds c's target in its account (organisation and
// identity): the account's client and token source join e, and its sinks
// that talk to Azure DevOps use the account's client.
func (a *app) buildAccountTarget(ctx context.Context, f *config.File, e *rotation.Engine, c config.Credential, deps sink.Deps) (rotation.Target, error) {
	if c.Kind == config.KindEntraAppSecret {
		return a.buildAppSecretTarget(ctx, f, e, c, deps)
	}
	acct, err := a.accountOf(c)
	if err != nil {
		return rotation.Target{}, err
	}
	dc, err := a.devopsFor(ctx, f, acct)
	if err != nil {
		return rotation.Target{}, err
	}
	if e.Accounts == nil {
		e.Accounts = map[rotation.Account]rotation.PATClient{}
	}
	e.Accounts[acct] = dc
	if c.Kind == config.KindEntraToken && acct.Identity != "" {
		ts, err := a.identityTokens(ctx, f, acct.Identity)
		if err != nil {
			return rotation.Target{}, err
		}
		if e.IdentityTokens == nil {
			e.IdentityTokens = map[string]entra.TokenSource{}
		}
		e.IdentityTokens[acct.Identity] = ts
	}
	deps.DevOps = dc
	return a.buildTargetIn(ctx, f, e, c, deps, acct)
}

// buildTargetIn builds c's sinks (Azure SDK sinks signed in as c's
// identity) into a target of account acct.
func (a *app) buildTargetIn(ctx context.Context, f *config.File, e *rotation.Engine, c config.Credential, deps sink.Deps, acct rotation.Account) (rotation.Target, error) {
	if err := a.azureSinkCredential(f, c, &deps); err != nil {
		return rotation.Target{}, err
	}
	t, err := a.buildTarget(ctx, e, c, deps)
	t.Account = acct
	return t, err
}

func (a *app) buildTarget(ctx context.Context, e *rotation.Engine, c config.Credential, deps sink.Deps) (rotation.Target, error) {
	if c.Kind == config.KindEntraToken && e.Tokens == nil && c.Identity == "" {
		ts, err := a.tokenSource(ctx)
		if err != nil {
			return rotation.Target{}, err
		}
		e.Tokens = ts
	}
	t := rotation.Target{Credential: c}
	for _, s := range c.Sinks {
		sk, err := sink.Build(s.Spec(), deps)
		if err != nil {
			return rotation.Target{}, err
		}
		t.Sinks = append(t.Sinks, sk)
	}
	return t, nil
}

// unbuiltSink stands for a watched sink that could not be built: reading it
// fails with the build error.
type unbuiltSink struct {
	name string
	err  error
}

func (u unbuiltSink) Name() string                            { return u.name }
func (u unbuiltSink) Read(context.Context) (sink.Held, error) { return sink.Held{}, u.err }
func (u unbuiltSink) Write(context.Context, string, sink.Meta) error {
	return u.err
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
		cs, err := sink.NewKubeClientset(cfg)
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
		return lock.NewLease(lock.LeaseOptions{Client: cs, Namespace: ns, Name: l.LeaseName, Identity: id, Duration: l.LeaseDuration.D(), Logger: a.logger(), Accounts: a.accountNames(f)}), nil
	default:
		p := l.Path
		if p == "" {
			p = config.DefaultLockPath()
		}
		return lock.NewFile(lock.FileOptions{Path: p, Identity: l.Identity, Wait: l.Wait.D(), Now: a.now, Accounts: a.accountNames(f)}), nil
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
	// Through progressWriter: a log line never lands on the progress line.
	l, err := output.NewLogger(progressWriter{a}, format, level, slog.LevelInfo)
	if err != nil {
		return a.logger()
	}
	return l
}

type rotateOpts struct {
	dryRun       bool
	detailedExit bool
	force        bool
	only         []string
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
failure kind when all failed (e.g. 4 policy, 7 lock held).
--dry-run --detailed-exitcode (as terraform plan): 0 the plan changes nothing,
10 it would create, renew, refresh or revoke something, 11 some credential
cannot be planned (a sink could not be read); other failures keep their codes.`,
		Args: noArgs,
		PreRunE: func(*cobra.Command, []string) error {
			a.configFile = a.rotationConfigPath()
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runRotate(cmd.Context(), o) },
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.dryRun, "dry-run", false, "print the plan and stop")
	fl.BoolVar(&o.detailedExit, "detailed-exitcode", false, fmt.Sprintf("with --dry-run: exit %d when the plan has changes, %d when a credential cannot be planned, 0 when nothing changes", exitPlanChanges, exitPlanFailures))
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

// Exit codes of rotate --dry-run --detailed-exitcode, above errkind's 1-8 and
// below 130 (interrupted).
const (
	exitPlanChanges  = 10
	exitPlanFailures = 11
)

// planExit is the --detailed-exitcode verdict on a plan: nil when it
// changes nothing.
func planExit(plan rotation.Plan) error {
	for _, it := range plan.Items {
		if it.Action == rotation.ActionFail {
			return exitCode(exitPlanFailures)
		}
	}
	if plan.Changes() {
		return exitCode(exitPlanChanges)
	}
	return nil
}

func (a *app) runRotate(ctx context.Context, o rotateOpts) error {
	if o.detailedExit && !o.dryRun {
		return usageErrorf("--detailed-exitcode needs --dry-run: it reports on the plan (rotate without --dry-run exits 0, 8 or the failure's code)")
	}
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
	// Every configured credential is observed (metrics export all of them,
	// and clean-up must see every sink); only the selected ones are applied.
	eng, unbuilt, err := a.buildRunEngine(ctx, f, creds, log)
	if err != nil {
		return err
	}
	r := a.newRunReport(ctx, f, log, start)
	eng.Reverify = r.state.Reverify()
	// On a terminal (stderr): what the run is doing, and throttling.
	prog := a.progress()
	defer prog.done()
	prog.show("reading %d credential(s)' sinks and listing PATs…", len(f.Credentials))
	in, err := eng.Observe(ctx)
	prog.clear()
	if err != nil {
		if !o.dryRun {
			r.finish(ctx, eng, listFailure(creds, err), in, err, unbuilt)
		}
		return err
	}
	plan := selectedPlan(in, creds, o.force)
	p := a.printer()
	// On a terminal the result table is the report: the run log does not
	// repeat each credential's error (it does at --log-level debug).
	eng.ResultsShown = !p.Machine() && output.IsTerminal(a.stderr) && output.IsTerminal(a.stdout)
	if o.dryRun {
		doc := any(planTable{plan})
		if p.Machine() {
			doc = rotateOutput{DryRun: true, Plan: plan}
		}
		if err := p.Print(doc); err != nil || !o.detailedExit {
			return err
		}
		return planExit(plan)
	}
	if !p.Machine() {
		if err := p.Print(planTable{plan}); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout)
	}
	var doneN, failedN atomic.Int64
	total := len(plan.Items)
	showDone := func() {
		msg := fmt.Sprintf("rotating: %d of %d credential(s) done", doneN.Load(), total)
		if n := failedN.Load(); n > 0 {
			msg += fmt.Sprintf(", %d failed", n)
		}
		prog.show("%s…", msg)
	}
	eng.OnResult = func(res rotation.Result) {
		doneN.Add(1)
		if res.Err != nil {
			failedN.Add(1)
		}
		showDone()
	}
	showDone()
	rep := eng.Apply(ctx, plan)
	prog.done()
	if p.Machine() {
		if err := p.Print(rotateOutput{Plan: plan, Results: rep.Results}); err != nil {
			return err
		}
	} else if err := p.Print(resultTable{rep}); err != nil {
		return err
	}
	r.finish(ctx, eng, rep, in, nil, unbuilt)
	return runError(rep)
}

// runError is the run's error with a summary naming the failed credentials
// only: their errors are in the report printed above (and the run log), so
// the final line does not repeat them.
func runError(rep rotation.Report) error {
	err := rep.Err()
	if err == nil {
		return nil
	}
	var failed []string
	for _, res := range rep.Results {
		if res.Err != nil {
			failed = append(failed, res.Credential)
		}
	}
	return errkind.WithSummary(err, fmt.Sprintf("rotation failed for %d of %d credential(s): %s; the report above says why", len(failed), len(rep.Results), strings.Join(failed, ", ")))
}

// selectedPlan plans the selected credentials from an observation of all.
func selectedPlan(in rotation.Input, creds []config.Credential, force bool) rotation.Plan {
	keep := map[string]bool{}
	for _, c := range creds {
		keep[strings.ToLower(c.Name)] = true
	}
	var sel []config.Credential
	for _, c := range in.Credentials {
		if keep[strings.ToLower(c.Name)] {
			sel = append(sel, c)
		}
	}
	in.Credentials, in.Force = sel, force
	return rotation.MakePlan(in)
}

// listFailure is the report of a run that could not list the PATs: every
// selected credential failed with reason list.
func listFailure(creds []config.Credential, err error) rotation.Report {
	var rep rotation.Report
	for _, c := range creds {
		rep.Results = append(rep.Results, rotation.Result{Credential: c.Name, Kind: c.Kind, Action: rotation.ActionFail, Err: err, Error: redact.Error(err), Reason: "list"})
	}
	return rep
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
