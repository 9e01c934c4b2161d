// Package audit inventories an organisation's credentials for its
// administrators: every user's PATs (through TokenAdmin) and the Token
// events of the audit log, and turns them into findings, each with a
// severity and the fix. It also selects PATs for `patrol audit revoke`.
//
// Memory stays flat in the number of PATs: PATs stream through Assess;
// what a report keeps is the findings (capped) and counters.
package audit

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// Severity of a finding, most severe first.
type Severity string

// Severities.
const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
	Low      Severity = "low"
)

// Rank orders severities (0 = most severe).
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 0
	case High:
		return 1
	case Medium:
		return 2
	}
	return 3
}

// ParseSeverity reads a --min-severity value.
func ParseSeverity(s string) (Severity, error) {
	for _, v := range []Severity{Critical, High, Medium, Low} {
		if strings.EqualFold(s, string(v)) {
			return v, nil
		}
	}
	return "", fmt.Errorf("%q is not a severity: use critical, high, medium or low", s)
}

// RetirementDate is when Azure DevOps stopped accepting global PATs.
var RetirementDate = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// ManagedPrefix starts the display name of PATs patrol manages
// ("patrol:<credential>:<timestamp>-<attempt>").
const ManagedPrefix = "patrol:"

// PAT is one PAT of the inventory.
type PAT struct {
	AuthorizationID string    `json:"authorizationId"`
	DisplayName     string    `json:"displayName"`
	Owner           string    `json:"owner"` // UPN
	OwnerName       string    `json:"ownerName,omitempty"`
	Scope           string    `json:"scope"`
	ValidFrom       time.Time `json:"validFrom"`
	ValidTo         time.Time `json:"validTo"`
	Global          bool      `json:"global"`
	Managed         bool      `json:"managed"`
	Status          string    `json:"status"` // active | expired | revoked
	// OwnerState is what Entra ID says of the owner: OwnerActive,
	// OwnerDisabled, OwnerDeparted, or "" when nobody could tell (no
	// Microsoft Graph permission, or not looked up).
	OwnerState string `json:"ownerState,omitempty"`
}

// Owner states of PAT.OwnerState.
const (
	OwnerActive   = "active"
	OwnerDisabled = "disabled"
	OwnerDeparted = "departed"
)

// FromSessionToken converts a TokenAdmin entry of owner.
func FromSessionToken(t api.SessionToken, owner, ownerName string, now time.Time) PAT {
	p := PAT{AuthorizationID: t.AuthorizationID, DisplayName: t.DisplayName, Owner: owner, OwnerName: ownerName,
		Scope: t.Scope, ValidFrom: t.ValidFrom, ValidTo: t.ValidTo, Global: len(t.TargetAccounts) == 0,
		Managed: strings.HasPrefix(t.DisplayName, ManagedPrefix)}
	switch {
	case !t.ValidTo.After(now):
		p.Status = "expired"
	case !t.IsValid:
		p.Status = "revoked"
	default:
		p.Status = "active"
	}
	return p
}

// FullScope reports whether the PAT has full access.
func (p PAT) FullScope() bool {
	for _, s := range strings.Fields(p.Scope) {
		if s == "app_token" {
			return true
		}
	}
	return false
}

// Finding is one problem, with its fix.
type Finding struct {
	Severity        Severity  `json:"severity"`
	Rule            string    `json:"rule"`
	AuthorizationID string    `json:"authorizationId,omitempty"`
	DisplayName     string    `json:"displayName,omitempty"`
	Owner           string    `json:"owner,omitempty"`
	ValidTo         time.Time `json:"validTo,omitzero"`
	Message         string    `json:"message"`
	Fix             string    `json:"fix"`
}

// Options tune the PAT rules.
type Options struct {
	Now time.Time
	// ExpiringWithin flags active PATs expiring this soon (0: off).
	ExpiringWithin time.Duration
	// MaxLifetime flags active PATs whose lifetime exceeds it (0: off).
	MaxLifetime time.Duration
}

// Rules, for findings and for `audit revoke --rule`.
const (
	RuleGlobal        = "global"
	RuleFullScope     = "full-scope"
	RuleLongLived     = "long-lived"
	RuleExpiring      = "expiring"
	RulePublicLeak    = "public-discovery"
	RuleSystemRevoked = "system-revoked"
	RuleOwnerDisabled = "owner-disabled"
	RuleOwnerDeparted = "owner-departed"
)

// Assess returns the findings of one PAT. Only active PATs have findings:
// an expired or revoked PAT can do no more harm (its events can: see
// AssessEvent).
func Assess(p PAT, o Options) []Finding {
	if p.Status != "active" {
		return nil
	}
	f := func(sev Severity, rule, msg, fix string) Finding {
		return Finding{Severity: sev, Rule: rule, AuthorizationID: p.AuthorizationID, DisplayName: p.DisplayName, Owner: p.Owner, ValidTo: p.ValidTo, Message: msg, Fix: fix}
	}
	var out []Finding
	if p.Global {
		out = append(out, f(High, RuleGlobal, "global (all-organizations) PAT: Azure DevOps stopped accepting global PATs on 2026-12-01, so whatever uses it is already failing",
			"create an organization-scoped PAT for each organization the consumer needs (patrol rotate does), then revoke this one"))
	}
	switch p.OwnerState {
	case OwnerDeparted:
		out = append(out, f(High, RuleOwnerDeparted, "the owner was deleted in Entra ID (departed), yet the PAT is still active: access nobody owns, and whatever uses it breaks when Azure DevOps drops the account",
			"find the consumer (patrol audit's Token events show where it is used), give it a credential of a current owner or a service principal, then revoke this one (patrol audit revoke --rule owner="+p.Owner+")"))
	case OwnerDisabled:
		out = append(out, f(High, RuleOwnerDisabled, "the owner's account is disabled in Entra ID, yet the PAT is still active: a PAT of a disabled user is a leftover of someone who left",
			"give the consumer a credential of a current owner or a service principal, then revoke this one (patrol audit revoke --rule owner="+p.Owner+")"))
	}
	if p.FullScope() {
		out = append(out, f(High, RuleFullScope, "full-access PAT (scope app_token): it can do everything its owner can",
			"replace it with a PAT of the scopes the consumer needs (patrol pat scopes lists them), then revoke it"))
	}
	if life := p.ValidTo.Sub(p.ValidFrom); o.MaxLifetime > 0 && life > o.MaxLifetime {
		out = append(out, f(Medium, RuleLongLived, fmt.Sprintf("lifetime %s exceeds the maximum of %s", days(life), days(o.MaxLifetime)),
			"rotate it with a shorter lifetime (patrol renews short-lived PATs before they expire); set the organization's maximum lifespan policy"))
	}
	if left := p.ValidTo.Sub(o.Now); o.ExpiringWithin > 0 && left <= o.ExpiringWithin {
		sev, fix := Medium, "renew it before "+p.ValidTo.UTC().Format(time.RFC3339)+" and update every consumer, or let patrol rotate it (patrol.yaml)"
		if p.Managed {
			sev, fix = Low, "patrol manages it: check that `patrol rotate` runs (patrol status)"
		}
		out = append(out, f(sev, RuleExpiring, fmt.Sprintf("expires in %s", days(left)), fix))
	}
	return out
}

// Event is a Token event of the audit log.
type Event struct {
	Time            time.Time `json:"time"`
	Action          string    `json:"action"` // PatCreateEvent, …
	Actor           string    `json:"actor"`
	AuthorizationID string    `json:"authorizationId,omitempty"`
	DisplayName     string    `json:"displayName,omitempty"`
	Details         string    `json:"details"`
}

// AssessEvent turns the events that need someone's attention into findings:
// a PAT found in public, and one the service revoked.
func AssessEvent(e Event) []Finding {
	f := func(sev Severity, rule, msg, fix string) Finding {
		return Finding{Severity: sev, Rule: rule, AuthorizationID: e.AuthorizationID, DisplayName: e.DisplayName, Message: msg, Fix: fix}
	}
	switch e.Action {
	case "PatPublicDiscoveryEvent":
		return []Finding{f(Critical, RulePublicLeak, fmt.Sprintf("found in public on %s (%s)", e.Time.UTC().Format(time.RFC3339), e.Details),
			"the service revoked it: find where it leaked and remove it, give the consumer a new PAT (patrol rotate --force), and review what the PAT could reach")}
	case "PatSystemRevokeEvent":
		return []Finding{f(High, RuleSystemRevoked, fmt.Sprintf("revoked by the service on %s (%s)", e.Time.UTC().Format(time.RFC3339), e.Details),
			"whatever used it now fails: give the consumer a new PAT")}
	}
	return nil
}

func days(d time.Duration) string {
	if d < 0 {
		return "0d"
	}
	if d < 24*time.Hour {
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%dd", int((d+12*time.Hour)/(24*time.Hour)))
}

// SortFindings orders findings by severity, then expiry, then name.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if a, b := fs[i].Severity.Rank(), fs[j].Severity.Rank(); a != b {
			return a < b
		}
		if !fs[i].ValidTo.Equal(fs[j].ValidTo) {
			return fs[i].ValidTo.Before(fs[j].ValidTo)
		}
		return fs[i].DisplayName < fs[j].DisplayName
	})
}
