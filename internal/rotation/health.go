package rotation

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/redact"
)

// Outcome results.
const (
	OutcomeOK      = "ok"      // handled without error, nothing delivered
	OutcomeRotated = "rotated" // a new PAT or token was delivered
	OutcomeFailed  = "failed"  // the credential failed (see Reason)
)

// Outcome is what one run did to one credential: the part of a Result that
// is remembered for the next `patrol status`, the metrics and the notices.
type Outcome struct {
	At              time.Time `json:"at"`
	Action          Action    `json:"action"`
	Result          string    `json:"result"`
	Reason          string    `json:"reason,omitempty"`
	Error           string    `json:"error,omitempty"`
	AuthorizationID string    `json:"authorizationId,omitempty"`
	ValidTo         time.Time `json:"validTo,omitzero"`
	// FailedSinks are the sinks whose write or verification failed.
	FailedSinks []string `json:"failedSinks,omitempty"`
}

// Failed reports a failed outcome.
func (o *Outcome) Failed() bool { return o != nil && o.Result == OutcomeFailed }

// Rotated reports whether r delivered a new credential (create, renew or
// refresh with no error).
func (r Result) Rotated() bool {
	return r.Err == nil && (r.Action == ActionCreate || r.Action == ActionRenew || r.Action == ActionRefresh)
}

// Outcome condenses r; at is when the run ended.
func (r Result) Outcome(at time.Time) Outcome {
	o := Outcome{At: at.UTC(), Action: r.Action, Result: OutcomeOK, AuthorizationID: r.AuthorizationID, ValidTo: r.ValidTo}
	switch {
	case r.Err != nil:
		o.Result, o.Reason, o.Error = OutcomeFailed, r.Reason, redact.Error(r.Err)
		if o.Reason == "" {
			o.Reason = "unknown"
		}
		for _, s := range r.Sinks {
			if s.Error != "" {
				o.FailedSinks = append(o.FailedSinks, s.Name)
			}
		}
	case r.Rotated():
		o.Result = OutcomeRotated
	}
	return o
}

// Health values of a credential (patrol status, patrol_credential_ready).
const (
	HealthOK      = "ok"      // the sinks agree on a valid credential that is not due
	HealthDue     = "due"     // rotation is due (the next run renews it)
	HealthExpired = "expired" // what the sinks hold has expired
	HealthMissing = "missing" // a sink holds nothing
	HealthDrift   = "drift"   // the sinks disagree or hold a revoked, unknown, foreign or global PAT
	HealthError   = "error"   // a sink (or the PAT listing) cannot be read
	HealthFailed  = "failed"  // the last run failed for it (e.g. the consumer refused the new PAT)
)

// SinkStatus is one sink's part of a CredentialStatus.
type SinkStatus struct {
	Name         string    `json:"name"`
	Holds        string    `json:"holds,omitempty"`
	State        string    `json:"state"`
	Ready        bool      `json:"ready"`
	ValidTo      time.Time `json:"validTo,omitzero"`
	DaysToExpiry *float64  `json:"daysToExpiry,omitempty"`
	Error        string    `json:"error,omitempty"`
}

// CredentialStatus is the health of one credential: what `patrol status`
// prints and what the metrics export (patrol_credential_ready = Ready).
type CredentialStatus struct {
	Credential   string `json:"credential"`
	Kind         string `json:"kind"`
	Organization string `json:"organization,omitempty"`
	Identity     string `json:"identity,omitempty"`
	// Application of an entra-app-secret credential (appId or objectId).
	Application  config.Application `json:"application,omitzero"`
	Health       string             `json:"health"`
	Ready        bool               `json:"ready"`
	ValidTo      time.Time          `json:"validTo,omitzero"`
	DueAt        time.Time          `json:"dueAt,omitzero"`
	DaysToExpiry *float64           `json:"daysToExpiry,omitempty"`
	Clamped      bool               `json:"clamped,omitempty"`
	Detail       string             `json:"detail,omitempty"`
	Sinks        []SinkStatus       `json:"sinks"`
	PendingClean []string           `json:"pendingRevocations,omitempty"`
	// Last is the outcome of the last run that handled the credential.
	Last *Outcome `json:"last,omitempty"`
}

func days(now, t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	d := math.Round(t.Sub(now).Hours()/24*10) / 10
	return &d
}

// sinkReady: the sink holds the credential the plan expects and it is usable.
func sinkReady(state string) bool { return state == "ok" || state == "due" }

// Assess is the one verdict on a credential's health, from what was observed
// (a plan item without --force) and the outcome of the last run that
// handled it (nil when none is remembered). `patrol status`, the metrics and
// the notices all derive from it.
//
// A credential is Ready when its health is ok or due. The last run's failure
// counts while the sinks look fine: a consumer that refused the new PAT, or
// a sink that could not be written, is invisible in what the sinks hold.
func Assess(now time.Time, it Item, last *Outcome) CredentialStatus {
	sc := CredentialStatus{Credential: it.Credential, Kind: it.Kind, Organization: it.Organization, Identity: it.Identity, Application: it.Application, DueAt: it.DueAt, Clamped: it.Clamped, Detail: strings.Join(it.Reasons, "; "), Last: last}
	if it.Current != nil {
		sc.ValidTo = it.Current.ValidTo
	}
	var earliest time.Time
	for _, s := range it.Sinks {
		ss := SinkStatus{Name: s.Name, Holds: s.Holds, State: s.Status, Ready: sinkReady(s.Status) && it.Action != ActionFail, ValidTo: s.ValidTo, DaysToExpiry: days(now, s.ValidTo), Error: s.Error}
		if !s.ValidTo.IsZero() && (earliest.IsZero() || s.ValidTo.Before(earliest)) {
			earliest = s.ValidTo
		}
		sc.Sinks = append(sc.Sinks, ss)
	}
	if sc.ValidTo.IsZero() {
		sc.ValidTo = earliest
	}
	sc.DaysToExpiry = days(now, sc.ValidTo)
	for _, r := range it.Revoke {
		sc.PendingClean = append(sc.PendingClean, r.AuthorizationID)
	}
	switch it.Action {
	case ActionFail:
		sc.Health, sc.Detail = HealthError, it.Error
	case ActionCreate:
		sc.Health = HealthMissing
	case ActionNone:
		sc.Health = HealthOK
	default:
		switch {
		case !sc.ValidTo.IsZero() && !now.Before(sc.ValidTo):
			sc.Health = HealthExpired
		case it.Current != nil || it.Kind == config.KindEntraToken && !missingSink(it):
			sc.Health = HealthDue
		default:
			sc.Health = HealthDrift
			if missingSink(it) {
				sc.Health = HealthMissing
			}
		}
	}
	if last.Failed() && (sc.Health == HealthOK || sc.Health == HealthDue) {
		sc.Health = HealthFailed
		sc.Detail = fmt.Sprintf("the last run (%s) failed with reason %s: %s", last.At.Format(time.RFC3339), last.Reason, last.Error)
		for i := range sc.Sinks {
			if slices.Contains(last.FailedSinks, sc.Sinks[i].Name) {
				sc.Sinks[i].Ready = false
			}
		}
	}
	sc.Ready = sc.Health == HealthOK || sc.Health == HealthDue
	return sc
}

func missingSink(it Item) bool {
	for _, s := range it.Sinks {
		if s.Status == "missing" {
			return true
		}
	}
	return false
}

// PlanUnlisted is the view of a run whose PAT listing failed: every
// credential is in error (nothing can be checked against Azure DevOps), and
// each sink shows what it reported holding (state "unchecked").
func PlanUnlisted(in Input, err error) Plan {
	p := Plan{Now: in.Now.UTC()}
	for _, c := range in.Credentials {
		p.Items = append(p.Items, unlistedItem(c, in.accountOf(c.Name), in.Sinks[c.Name], err))
	}
	return p
}

// unlistedItem is credential c failed because its account's listing
// failed with err: each sink shows what it reported holding ("unchecked").
func unlistedItem(c config.Credential, acct Account, states []SinkState, err error) Item {
	it := Item{Credential: c.Name, Kind: c.Kind, Organization: acct.Organization, Identity: acct.Identity, Application: c.Application, Action: ActionFail, Error: redact.Error(err), failErr: err}
	for _, s := range states {
		sp := SinkPlan{Name: s.Name, Holds: s.Held.AuthorizationID, ValidTo: s.Held.ValidTo, Status: "unchecked"}
		if s.Err != nil {
			sp.Status, sp.Error = "error", redact.Error(s.Err)
		}
		it.Sinks = append(it.Sinks, sp)
	}
	return it
}
