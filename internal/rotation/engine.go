package rotation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/sink"
)

// PATClient is what the engine needs from *devops.Client (which satisfies it).
type PATClient interface {
	ListPATs(ctx context.Context, opts devops.ListOptions) iter.Seq2[api.PatToken, error]
	CreatePAT(ctx context.Context, req api.PatTokenCreateRequest) (api.PatToken, error)
	RevokePAT(ctx context.Context, authorizationID string) error
	VerifyPAT(ctx context.Context, secret string) (api.ConnectionData, error)
}

// Target is a credential and its built sinks.
type Target struct {
	Credential config.Credential
	Sinks      []sink.Sink
	// Account is where the credential's PATs live (zero: the default).
	Account Account
}

// Step names a point in Apply where a test hook runs.
type Step string

// Steps, in order.
const (
	StepCreated     Step = "created"      // after the new PAT exists
	StepVerified    Step = "verified"     // after the new PAT authenticated
	StepSinkWritten Step = "sink-written" // after each sink write (Index = sink)
	StepDelivered   Step = "delivered"    // after every sink write and sink verification
	StepRevoked     Step = "revoked"      // after each revocation
)

// HookEvent is passed to Hooks.
type HookEvent struct {
	Credential string
	Step       Step
	Index      int    // sink index for StepSinkWritten
	ID         string // authorizationId concerned
}

// ErrCrash returned by a hook stops Apply for that credential at once,
// without compensating actions, like a killed process (tests).
var ErrCrash = errors.New("simulated crash")

// Engine plans and applies rotations.
type Engine struct {
	// ResultsShown: the caller shows every result itself (a table on a
	// terminal), so each credential's result is logged at debug only and
	// its error is not printed twice.
	ResultsShown bool
	// PATs is the Azure DevOps client (share one: it holds the 429 gate).
	PATs PATClient
	// Tokens supplies access tokens for entra-token credentials.
	Tokens entra.TokenSource
	// Accounts are the clients of the accounts other than the default
	// (Target.Account); a missing one is PATs.
	Accounts map[Account]PATClient
	// IdentityTokens are the token sources of named identities; a missing
	// one is Tokens.
	IdentityTokens map[string]entra.TokenSource
	// Targets in config order.
	Targets []Target
	// Watch are the credentials this run does not handle (not selected by
	// --only): their sinks are read when the run starts, only so that no
	// revocation touches a PAT they hold or may hold.
	Watch []Target
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// Logger gets one summary line per credential (nil = discard).
	Logger *slog.Logger
	// Concurrency bounds credentials processed at once (default config.DefaultConcurrency, 32).
	Concurrency int
	// OrphanAge (default config.DefaultOrphanAge).
	OrphanAge time.Duration
	// Hook, when set, runs after each step; returning ErrCrash (or any error)
	// aborts that credential there with no clean-up.
	Hook func(HookEvent) error
	// Reverify names credentials (lower case) whose last run failed
	// verification: when such a credential is not due, its sink verifiers
	// run again against the PAT the sinks hold, so a consumer that still
	// refuses it keeps the credential failed (and one that accepts it now
	// clears the failure).
	Reverify map[string]bool
	// OnResult, when set, is told each credential's result as Apply
	// finishes it (from the worker goroutines, concurrently): progress.
	OnResult func(Result)

	tokMu sync.Mutex
	fresh map[string]entra.Token // per identity: last token signed in for freshness (see accessToken)

	obsMu sync.Mutex
	obs   *observation // every sink as observed when the run started (see holder)
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) log() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (e *Engine) conc() int {
	if e.Concurrency > 0 {
		return e.Concurrency
	}
	return config.DefaultConcurrency
}

// each runs f for i in [0,n) with at most conc at once.
func each(ctx context.Context, n, conc int, f func(i int)) {
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			// Still run f so it records the cancellation.
			sem <- struct{}{}
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// ListError is a failure to list the user's PATs; nothing can be planned.
type ListError struct {
	Err error
	// Account whose listing failed (zero: the default).
	Account Account
	// Alone: other accounts were listed and go on; only this account's
	// credentials fail.
	Alone bool
}

func (e *ListError) Error() string {
	if e.Account.Application != "" {
		return fmt.Sprintf("list the passwords of %s: %v; its credentials were neither rotated nor cleaned up (patrol needs the listing to find their managed secrets)", e.Account, e.Err)
	}
	where := ""
	if e.Account != (Account{}) {
		where = " of " + e.Account.String()
	}
	// The devops client's errors already start with the operation ("list PATs:
	// GET … returned 401"): name it once.
	msg := strings.TrimPrefix(e.Err.Error(), "list PATs: ")
	if e.Alone {
		return fmt.Sprintf("list PATs%s: %s; its credentials were neither rotated nor cleaned up (patrol needs the listing to find managed PATs), the other accounts' go on", where, msg)
	}
	return fmt.Sprintf("list PATs%s: %s; nothing was rotated (patrol needs the listing to find managed PATs)", where, msg)
}
func (e *ListError) Unwrap() error { return e.Err }

// Kind is the underlying kind (Transient when unknown).
func (e *ListError) Kind() errkind.Kind {
	if k := errkind.Of(e.Err); k != errkind.Unknown {
		return k
	}
	return errkind.Transient
}

// Observe reads every sink and lists the active PATs (one paged listing).
func (e *Engine) Observe(ctx context.Context) (Input, error) {
	in := Input{Now: e.now(), Sinks: map[string][]SinkState{}, OrphanAge: e.OrphanAge}
	if in.OrphanAge == 0 {
		in.OrphanAge = config.DefaultOrphanAge.D()
	}
	var accounts []Account // to list, in config order
	listed := map[Account]bool{}
	for _, t := range e.Targets {
		in.Credentials = append(in.Credentials, t.Credential)
		in.Sinks[t.Credential.Name] = make([]SinkState, len(t.Sinks))
		if t.Account != (Account{}) {
			if in.Accounts == nil {
				in.Accounts = map[string]Account{}
			}
			in.Accounts[strings.ToLower(t.Credential.Name)] = t.Account
		}
		if t.Credential.Kind != config.KindEntraToken && !listed[t.Account] {
			listed[t.Account] = true
			accounts = append(accounts, t.Account)
		}
	}
	// Watch sinks join the observation: MakePlan never cleans up a PAT any
	// sink holds, whichever credential it belongs to.
	in.Sinks = e.readSinks(ctx)
	e.obsMu.Lock()
	e.obs = newObservation(in.Sinks, e.tokenCreds())
	e.obsMu.Unlock()
	// One paged listing per account.
	for _, a := range accounts {
		var pats []api.PatToken
		var lerr error
		for p, err := range e.pats(a).ListPATs(ctx, devops.ListOptions{Filter: api.FilterActive, PageSize: api.MaxPageSize}) {
			if err != nil {
				lerr = &ListError{Err: err, Account: a, Alone: len(accounts) > 1}
				break
			}
			pats = append(pats, p)
		}
		if lerr != nil && (a.Application != "" || len(accounts) > 1) {
			// One account (an application, or one organisation or
			// identity among several) that cannot be read fails its own
			// credentials only (MakePlan), not the whole run.
			if in.ListErrors == nil {
				in.ListErrors = map[Account]error{}
			}
			in.ListErrors[a] = lerr
			continue
		}
		if lerr != nil {
			return in, lerr
		}
		if a == (Account{}) {
			in.PATs = pats
			continue
		}
		if in.Listings == nil {
			in.Listings = map[Account][]api.PatToken{}
		}
		in.Listings[a] = pats
	}
	return in, nil
}

// Plan observes and plans.
func (e *Engine) Plan(ctx context.Context, force bool) (Plan, error) {
	in, err := e.Observe(ctx)
	if err != nil {
		return Plan{}, err
	}
	in.Force = force
	return MakePlan(in), nil
}

// SinkResult is what happened to one sink.
type SinkResult struct {
	Name    string `json:"name"`
	Written bool   `json:"written"`
	Error   string `json:"error,omitempty"`
}

// Result is what happened to one credential.
type Result struct {
	Credential   string `json:"credential"`
	Kind         string `json:"kind"`
	Organization string `json:"organization,omitempty"`
	Identity     string `json:"identity,omitempty"`
	// Application of an entra-app-secret credential (appId or objectId).
	Application     config.Application `json:"application,omitzero"`
	Action          Action             `json:"action"`
	AuthorizationID string             `json:"authorizationId,omitempty"`
	DisplayName     string             `json:"displayName,omitempty"`
	ValidTo         time.Time          `json:"validTo,omitzero"`
	Clamped         bool               `json:"clamped,omitempty"`
	Sinks           []SinkResult       `json:"sinks,omitempty"`
	Revoked         []string           `json:"revoked,omitempty"`
	Kept            []string           `json:"kept,omitempty"` // replaced PATs left for a later run
	// Notes explain kept PATs (a sink holds or may hold them).
	Notes    []string      `json:"notes,omitempty"`
	Duration time.Duration `json:"durationNs"`
	Err      error         `json:"-"`
	Error    string        `json:"error,omitempty"`
	// Reason is the failure class for metrics (create, policy, verify, sink, revoke, list, read, token).
	Reason string `json:"reason,omitempty"`
}

// OK reports success.
func (r Result) OK() bool { return r.Err == nil }

// Report is the outcome of Apply.
type Report struct {
	Plan    Plan     `json:"plan"`
	Results []Result `json:"results"`
}

// RunError summarises failed credentials.
type RunError struct {
	Failed, Total int
	First         error
	kind          errkind.Kind
}

func (e *RunError) Error() string {
	if e.Failed == e.Total {
		return fmt.Sprintf("rotation failed for all %d credential(s); first error: %v", e.Total, e.First)
	}
	return fmt.Sprintf("rotation failed for %d of %d credential(s); first error: %v; the others succeeded", e.Failed, e.Total, e.First)
}
func (e *RunError) Unwrap() error { return e.First }

// Kind is Partial when some succeeded, else the first failure's kind.
func (e *RunError) Kind() errkind.Kind { return e.kind }

// Err is nil when every credential succeeded, a *RunError otherwise: kind
// Partial if some succeeded, else the kind of the first failure.
func (r Report) Err() error {
	var first error
	failed := 0
	for _, res := range r.Results {
		if res.Err != nil {
			failed++
			if first == nil {
				first = fmt.Errorf("%s: %w", res.Credential, res.Err)
			}
		}
	}
	if failed == 0 {
		return nil
	}
	k := errkind.Partial
	if failed == len(r.Results) {
		k = errkind.Of(first)
		if k == errkind.Unknown {
			k = errkind.Transient
		}
	}
	return &RunError{Failed: failed, Total: len(r.Results), First: first, kind: k}
}

// Apply executes plan. Credentials run concurrently (Concurrency); each
// follows create → verify PAT → write sinks → verify sinks → revoke.
func (e *Engine) Apply(ctx context.Context, plan Plan) Report {
	rep := Report{Plan: plan, Results: make([]Result, len(plan.Items))}
	targets := map[string]Target{}
	for _, t := range e.Targets {
		targets[t.Credential.Name] = t
	}
	each(ctx, len(plan.Items), e.conc(), func(i int) {
		it := plan.Items[i]
		start := time.Now()
		res := e.applyItem(ctx, it, targets[it.Credential])
		res.Duration = time.Since(start)
		if res.Err != nil {
			res.Error = redact.Error(res.Err)
		}
		rep.Results[i] = res
		e.logResult(ctx, res)
		if e.OnResult != nil {
			e.OnResult(res)
		}
	})
	return rep
}

func (e *Engine) logResult(ctx context.Context, r Result) {
	attrs := []slog.Attr{
		slog.String("name", r.Credential), slog.String("action", string(r.Action)),
		slog.String("authorizationId", r.AuthorizationID), slog.Any("sinks", sinkNames(r.Sinks)),
		slog.Duration("duration", r.Duration),
	}
	if !r.ValidTo.IsZero() {
		attrs = append(attrs, slog.Time("validTo", r.ValidTo))
	}
	if len(r.Revoked) > 0 {
		attrs = append(attrs, slog.Any("revoked", r.Revoked))
	}
	if r.Clamped {
		attrs = append(attrs, slog.Bool("clamped", true))
	}
	level := slog.LevelInfo
	if r.Err != nil {
		level = slog.LevelError
		attrs = append(attrs, slog.String("error", r.Err.Error()), slog.String("reason", r.Reason))
	}
	if e.ResultsShown {
		level = slog.LevelDebug
	}
	e.log().LogAttrs(ctx, level, "credential "+r.Credential, attrs...)
}

func sinkNames(rs []SinkResult) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		st := "ok"
		if !r.Written {
			st = "failed"
		}
		out = append(out, r.Name+"="+st)
	}
	return out
}

func (e *Engine) hook(ev HookEvent) error {
	if e.Hook == nil {
		return nil
	}
	return e.Hook(ev)
}

func (e *Engine) applyItem(ctx context.Context, it Item, t Target) Result {
	res := Result{Credential: it.Credential, Kind: it.Kind, Organization: it.Organization, Identity: it.Identity, Application: it.Application, Action: it.Action}
	if it.Current != nil {
		res.AuthorizationID, res.DisplayName, res.ValidTo = it.Current.AuthorizationID, it.Current.DisplayName, it.Current.ValidTo
	} else if it.Kind == config.KindEntraToken {
		// What the sinks hold expires with the earliest of them.
		for _, sp := range it.Sinks {
			if !sp.ValidTo.IsZero() && (res.ValidTo.IsZero() || sp.ValidTo.Before(res.ValidTo)) {
				res.ValidTo = sp.ValidTo
			}
		}
	}
	res.Clamped = it.Clamped
	if err := ctx.Err(); err != nil {
		res.Err, res.Reason = errkind.New(errkind.Transient, fmt.Errorf("not started: %w", err)), "canceled"
		return res
	}
	switch it.Action {
	case ActionFail:
		if it.failErr != nil {
			res.Err, res.Reason = it.failErr, "list"
			return res
		}
		res.Err, res.Reason = errkind.New(errkind.Transient, errors.New(it.Error)), "read"
		return res
	case ActionRefresh:
		e.refreshToken(ctx, it, t, &res)
		return res
	case ActionCreate, ActionRenew:
		if !e.rotate(ctx, it, t, &res) {
			return res
		}
	case ActionNone:
		if e.Reverify[strings.ToLower(it.Credential)] && it.Current != nil {
			if e.reverify(ctx, it, t, &res); res.Err != nil {
				return res // the consumer may still rely on the replaced PAT: no clean-up
			}
		}
	}
	// Clean-up revocations, each re-checked against what the sinks hold now.
	for _, r := range it.Revoke {
		if !e.revokeOlder(ctx, t, r.AuthorizationID, &res) {
			return res
		}
	}
	return res
}

// revokeOlder revokes a PAT created before this run (replaced or clean-up)
// through the sink check and records the outcome in res. It returns false
// when a simulated crash stops the credential.
func (e *Engine) revokeOlder(ctx context.Context, t Target, id string, res *Result) bool {
	err := e.revokeUnheld(ctx, t, id, older)
	var he *HeldError
	switch {
	case err == nil:
		res.Revoked = append(res.Revoked, id)
	case errors.As(err, &he):
		res.Kept = append(res.Kept, id)
		res.Notes = append(res.Notes, he.Error())
		e.log().InfoContext(ctx, "revocation skipped", "name", t.Credential.Name, "authorizationId", id, "reason", he.Holder)
	case errors.Is(err, ErrCrash):
		res.Err, res.Reason = err, "crash"
		return false
	default:
		if res.Err == nil {
			res.Err, res.Reason = err, "revoke"
		}
	}
	return true
}

// rotate creates, verifies, delivers and revokes. It returns true when the
// clean-up revocations may run (every sink took the new PAT).
func (e *Engine) rotate(ctx context.Context, it Item, t Target, res *Result) bool {
	c := t.Credential
	now := e.now()
	noun := credNoun(c.Kind)
	scope := ""
	if !isAppSecret(c) {
		var err error
		if scope, err = devops.ParseScopes(c.Scopes, scopeOpts(c)...); err != nil {
			res.Err, res.Reason = err, "config"
			return false
		}
	}
	req := api.PatTokenCreateRequest{DisplayName: DisplayName(c.Name, now), Scope: scope, ValidTo: now.Add(c.Lifetime.D()), AllOrgs: c.AllOrgs}
	pats := e.pats(t.Account)
	pat, err := pats.CreatePAT(ctx, req)
	if err != nil {
		var cu *devops.CreateUnknownError
		if errors.As(err, &cu) && cu.AuthorizationID != "" {
			// Created but the secret was lost: revoke it now (else clean-up
			// does) — unless a sink holds it after all.
			_ = e.revokeUnheld(ctx, t, cu.AuthorizationID, newUnsent)
		}
		res.Err = fmt.Errorf("create %s %s: %w", noun, req.DisplayName, err)
		res.Reason = "create"
		if k := errkind.Of(err); k == errkind.Policy || k == errkind.Permission {
			res.Reason = "policy"
		}
		return false
	}
	secret := ""
	if pat.Token != nil {
		secret = *pat.Token
	}
	res.AuthorizationID, res.DisplayName, res.ValidTo = pat.AuthorizationID, pat.DisplayName, pat.ValidTo
	res.Clamped = devops.Clamped(req.ValidTo, pat.ValidTo)
	if err := e.hook(HookEvent{Credential: c.Name, Step: StepCreated, ID: pat.AuthorizationID}); err != nil {
		res.Err, res.Reason = err, "crash"
		return false
	}
	if secret == "" {
		_ = e.revokeUnheld(ctx, t, pat.AuthorizationID, newUnsent)
		res.Err, res.Reason = errkind.New(errkind.Transient, fmt.Errorf("create %s %s: the response carried no secret; it was revoked; the next run retries", noun, req.DisplayName)), "create"
		return false
	}
	// A PAT that does not authenticate is never delivered.
	if _, err := pats.VerifyPAT(ctx, secret); err != nil {
		rerr := e.revokeUnheld(ctx, t, pat.AuthorizationID, newUnsent)
		res.Err = fmt.Errorf("new %s %s does not authenticate (%w); it was not delivered%s; the sinks keep their current credential", noun, pat.AuthorizationID, err, revokedNote(rerr))
		res.Reason = "verify"
		return false
	}
	if err := e.hook(HookEvent{Credential: c.Name, Step: StepVerified, ID: pat.AuthorizationID}); err != nil {
		res.Err, res.Reason = err, "crash"
		return false
	}
	meta := sink.Meta{Credential: c.Name, AuthorizationID: pat.AuthorizationID, DisplayName: pat.DisplayName, ValidTo: pat.ValidTo, RotatedAt: now, Kind: cmp.Or(c.Kind, config.KindPAT)}
	holdsNew := make([]bool, len(t.Sinks))
	var failures []string
	var failErr error
	for i, s := range t.Sinks {
		sr := SinkResult{Name: s.Name()}
		if err := s.Write(ctx, secret, meta); err != nil {
			sr.Error = redact.Error(err)
			failures = append(failures, s.Name())
			if failErr == nil {
				failErr = err
			}
		} else {
			sr.Written = true
			holdsNew[i] = true
		}
		res.Sinks = append(res.Sinks, sr)
		if err := e.hook(HookEvent{Credential: c.Name, Step: StepSinkWritten, Index: i, ID: pat.AuthorizationID}); err != nil {
			res.Err, res.Reason = err, "crash"
			return false
		}
	}
	written := len(t.Sinks) - len(failures)
	if written == 0 {
		// A sink can fail after the consumer already has the new secret
		// (metadata or state not recorded, a wait that timed out): never
		// revoke a PAT that a sink may hold.
		rerr := e.revokeUnheld(ctx, t, pat.AuthorizationID, newUndelivered)
		var he *HeldError
		if errors.As(rerr, &he) {
			res.Err = fmt.Errorf("no sink confirmed the new %s %s (first error: %w), but %s, so it was kept; the next run brings every sink in line", noun, pat.AuthorizationID, failErr, he.Holder)
			res.Reason = "sink"
			return false
		}
		res.Err = fmt.Errorf("no sink accepted the new %s (first error: %w)%s; every sink keeps its current credential", noun, failErr, revokedNote(rerr))
		res.Reason = "sink"
		return false
	}
	// Consumer-side checks.
	var verifyErr error
	for i, s := range t.Sinks {
		v, ok := s.(sink.Verifier)
		if !ok || !holdsNew[i] {
			continue
		}
		if err := v.Verify(ctx, meta); err != nil {
			res.Sinks[i].Error = "verify: " + redact.Error(err)
			if verifyErr == nil {
				verifyErr = fmt.Errorf("sink %s does not work with the new %s: %w", s.Name(), noun, err)
			}
		}
	}
	if err := e.hook(HookEvent{Credential: c.Name, Step: StepDelivered, ID: pat.AuthorizationID}); err != nil {
		res.Err, res.Reason = err, "crash"
		return false
	}
	if len(failures) > 0 {
		res.Err = errkind.New(errkind.Partial, fmt.Errorf("new %s %s delivered to %d of %d sinks; %s failed (%w); the new %s is kept because a sink holds it, the failed sinks keep their previous credential, and the next run rotates again to bring every sink in line",
			noun, pat.AuthorizationID, written, len(t.Sinks), strings.Join(failures, ", "), failErr, noun))
		res.Reason = "sink"
	}
	if verifyErr != nil && res.Err == nil {
		res.Err, res.Reason = verifyErr, "verify"
	}
	for _, old := range it.Replace {
		id := old.AuthorizationID
		switch {
		case verifyErr != nil:
			res.Kept = append(res.Kept, id) // the consumer may still rely on it
		case c.GracePeriod > 0:
			res.Kept = append(res.Kept, id) // revoked by a later run after gracePeriod
		default:
			// A failed sink still holds its PAT: the sink check keeps it.
			if !e.revokeOlder(ctx, t, id, res) {
				return false
			}
		}
	}
	// Clean-up only after a complete delivery: a sink that failed may hold
	// content patrol cannot identify (e.g. a PAT whose metadata was lost).
	return len(failures) == 0
}

// reverify runs the sink verifiers against the PAT every sink holds
// (it.Current) and fails res with reason verify when a consumer refuses it.
func (e *Engine) reverify(ctx context.Context, it Item, t Target, res *Result) {
	meta := sink.Meta{Credential: it.Credential, AuthorizationID: it.Current.AuthorizationID, DisplayName: it.Current.DisplayName, ValidTo: it.Current.ValidTo, Kind: cmp.Or(it.Kind, config.KindPAT)}
	for _, s := range t.Sinks {
		v, ok := s.(sink.Verifier)
		if !ok {
			continue
		}
		sr := SinkResult{Name: s.Name()}
		if err := v.Verify(ctx, meta); err != nil {
			sr.Error = "verify: " + redact.Error(err)
			if res.Err == nil {
				res.Err = fmt.Errorf("sink %s still does not work with %s %s (its last verification failed too): %w", s.Name(), credNoun(it.Kind), it.Current.AuthorizationID, err)
				res.Reason = "verify"
			}
		}
		res.Sinks = append(res.Sinks, sr)
	}
}

func revokedNote(err error) string {
	var he *HeldError
	if errors.As(err, &he) {
		return fmt.Sprintf(" and was kept because %s", he.Holder)
	}
	if err != nil {
		return fmt.Sprintf(" and revoking it failed (%v; the next run revokes it as an orphan)", err)
	}
	return " and was revoked"
}

func scopeOpts(c config.Credential) []devops.ScopeOption {
	opts := []devops.ScopeOption{devops.AllowUnknownScopes()}
	if c.AllowFullAccess {
		opts = append(opts, devops.AllowFullAccess())
	}
	return opts
}
