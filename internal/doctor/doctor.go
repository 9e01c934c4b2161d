// Package doctor checks everything patrol needs before it is trusted with a
// rotation: the configuration, the network path to Entra ID and Azure
// DevOps, the sign-in and what its token carries, the identity's membership
// of the organisation, optionally a live canary PAT (--probe), and each
// configured credential's sinks.
//
// Every check yields one Result: ok, warn, fail or skip, with the fix for
// anything that is not ok. The report's exit code comes from the worst
// failure; warnings alone exit 0.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/patrol-dev/patrol/internal/sink"
)

// Status is a check's verdict.
type Status string

// Verdicts, from best to worst.
const (
	OK   Status = "ok"
	Skip Status = "skip"
	Warn Status = "warn"
	Fail Status = "fail"
)

func (s Status) rank() int {
	switch s {
	case Skip:
		return 1
	case Warn:
		return 2
	case Fail:
		return 3
	}
	return 0
}

// Result is one line of the report.
type Result struct {
	// Check names what was checked, e.g. "sign-in" or "sink demo/file:/x".
	Check   string `json:"check"`
	Status  Status `json:"status"`
	Message string `json:"message"`
	// Fix says what to do when Status is warn or fail.
	Fix string `json:"fix,omitempty"`
	// Kind classifies a failure for the exit code ("auth", "policy", ...).
	Kind string `json:"kind,omitempty"`

	kind errkind.Kind
}

// Report is the doctor's answer.
type Report struct {
	Results []Result `json:"results"`
	// Worst is the worst status of all results.
	Worst Status `json:"worst"`
}

func (r *Report) add(res Result) {
	if res.Status == Fail {
		res.Kind = res.kind.String()
	}
	r.Results = append(r.Results, res)
	if res.Status.rank() > r.Worst.rank() {
		r.Worst = res.Status
	}
}

// Table is the human form: one line per check.
func (r Report) Table() output.TableData {
	t := output.TableData{Header: []string{"STATUS", "CHECK", "MESSAGE", "FIX"}}
	for _, res := range r.Results {
		t.Rows = append(t.Rows, []string{string(res.Status), res.Check, res.Message, res.Fix})
	}
	return t
}

// Err is nil unless a check failed; then it carries the kind of the first
// failure of the most severe class (usage before auth before permission …),
// so the exit code says what to fix first.
func (r Report) Err() error {
	var failed []Result
	for _, res := range r.Results {
		if res.Status == Fail {
			failed = append(failed, res)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	first := failed[0]
	for _, f := range failed[1:] {
		if severity(f.kind) < severity(first.kind) {
			first = f
		}
	}
	return errkind.WithHint(first.kind, fmt.Errorf("doctor: %d of %d checks failed; first to fix: %s: %s", len(failed), len(r.Results), first.Check, first.Message), first.Fix)
}

// severity orders failure kinds by what must be fixed first.
func severity(k errkind.Kind) int {
	switch k {
	case errkind.Usage:
		return 0
	case errkind.Auth:
		return 1
	case errkind.Permission, errkind.Policy:
		return 2
	case errkind.NotFound:
		return 3
	case errkind.Transient:
		return 5
	}
	return 4
}

// PATAPI is what the doctor calls on Azure DevOps (*devops.Client).
type PATAPI interface {
	ConnectionData(ctx context.Context) (api.ConnectionData, error)
	CreatePAT(ctx context.Context, req api.PatTokenCreateRequest) (api.PatToken, error)
	GetPAT(ctx context.Context, authorizationID string) (api.PatToken, error)
	VerifyPAT(ctx context.Context, secret string) (api.ConnectionData, error)
	RevokePAT(ctx context.Context, authorizationID string) error
}

// Endpoint is a host patrol talks to.
type Endpoint struct {
	Name string // "authority", "vssps", "devops"
	URL  string
}

// Credential is one configured credential with its built sinks.
type Credential struct {
	Name       string
	Kind       string // pat | entra-token | …
	Lifetime   time.Duration
	FullAccess bool
	Sinks      []sink.Sink
	// BuildErr is set when the sinks could not be built.
	BuildErr error
}

// Deps is everything the doctor needs; nil parts are reported as skipped
// with the reason in the matching *Err field.
type Deps struct {
	Now func() time.Time
	Env func(string) (string, bool)

	// Config is the path of patrol.yaml read ("" when none); ConfigErr its
	// loading error.
	Config    string
	ConfigErr error

	Organization string
	CABundle     string
	HTTP         *http.Client
	Endpoints    []Endpoint

	// Token signs in with the configured method (nil: cannot be built, see TokenErr).
	Token    func(ctx context.Context) (entra.Token, error)
	TokenErr error

	PATs    PATAPI
	PATsErr error

	Credentials []Credential

	// Probe creates, reads, uses and revokes a short-lived canary PAT.
	Probe bool
}

// Run performs every check in order and returns the report. It never
// returns early: a failed check makes the checks that depend on it skip.
func Run(ctx context.Context, d Deps) Report {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Env == nil {
		d.Env = func(string) (string, bool) { return "", false }
	}
	var r Report
	r.Worst = OK
	r.add(checkConfig(d))
	r.add(checkProxy(d))
	r.add(checkCABundle(d))
	var authorityDate string
	for _, ep := range d.Endpoints {
		res, date := checkReach(ctx, d, ep)
		r.add(res)
		if ep.Name == "authority" {
			authorityDate = date
		}
	}
	r.add(checkClock(d.Now(), authorityDate))

	tok, signedIn := signIn(ctx, d, &r)
	needUser := wantsPATs(d)
	if signedIn {
		for _, res := range tokenChecks(tok, d.Now(), needUser) {
			r.add(res)
		}
	}
	userOK := signedIn && entra.RequireUser(tok) == nil
	r.add(checkMembership(ctx, d, signedIn))
	if d.Probe {
		for _, res := range probe(ctx, d, signedIn && (userOK || !needUser)) {
			r.add(res)
		}
	}
	for _, c := range d.Credentials {
		for _, res := range checkCredential(ctx, c) {
			r.add(res)
		}
	}
	return r
}

// wantsPATs: the PAT API is needed unless every credential is an Entra
// token (an empty config still means PAT commands).
func wantsPATs(d Deps) bool {
	if len(d.Credentials) == 0 {
		return true
	}
	for _, c := range d.Credentials {
		if c.Kind == "" || c.Kind == "pat" {
			return true
		}
	}
	return false
}

func failed(check string, err error, fix string) Result {
	k := errkind.Of(err)
	if k == errkind.Unknown {
		if tk, hint := errkind.Transport(err); tk != errkind.Unknown {
			k = tk
			if fix == "" {
				fix = hint
			}
		}
	}
	msg := err.Error()
	var se *entra.SignInError
	if errors.As(err, &se) && se.Hint != "" {
		// Entra's hint becomes the fix column instead of the message's tail.
		msg = strings.TrimSuffix(msg, " — "+se.Hint)
		if fix == "" {
			fix = se.Hint
		}
	}
	if fix == "" {
		fix = errkind.HintOf(err)
	}
	return Result{Check: check, Status: Fail, Message: oneLine(msg), Fix: fix, kind: k}
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 400
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
