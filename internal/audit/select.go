package audit

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
)

// Selector picks PATs for `patrol audit revoke`: every condition must hold
// (AND). Only active PATs are ever selected.
type Selector struct {
	conds []func(PAT, time.Time) bool
	desc  []string
	// IncludeManaged also selects PATs patrol manages (display name
	// "patrol:…"): a sink may hold them, so they are left out by default.
	IncludeManaged bool
	// NeedsOwners: a rule looks at PAT.OwnerState, which the caller must
	// fill (a lookup of the owners in Entra ID).
	NeedsOwners bool
}

// ParseRules reads --rule values: global, full-scope, older-than=DURATION
// (created longer ago), expires-within=DURATION, owner=UPN, owner-departed,
// owner-disabled (the owner's Entra state), name=GLOB (path.Match syntax,
// case-insensitive).
func ParseRules(rules []string) (*Selector, error) {
	if len(rules) == 0 {
		return nil, fmt.Errorf("--rule is required: name what to revoke (global, full-scope, older-than=90d, expires-within=7d, owner=UPN, owner-departed, owner-disabled, name=GLOB); rules combine with AND")
	}
	s := &Selector{}
	for _, r := range rules {
		k, v, hasV := strings.Cut(strings.TrimSpace(r), "=")
		switch k = strings.ToLower(k); {
		case k == RuleGlobal && !hasV:
			s.add(r, func(p PAT, _ time.Time) bool { return p.Global })
		case k == RuleFullScope && !hasV:
			s.add(r, func(p PAT, _ time.Time) bool { return p.FullScope() })
		case k == "older-than" || k == "expires-within":
			d, err := config.ParseDuration(v)
			if err != nil || d.D() <= 0 {
				return nil, fmt.Errorf("--rule %q: %q is not a positive duration; use e.g. %s=90d", r, v, k)
			}
			if k == "older-than" {
				s.add(r, func(p PAT, now time.Time) bool { return p.ValidFrom.Before(now.Add(-d.D())) })
			} else {
				s.add(r, func(p PAT, now time.Time) bool { return !p.ValidTo.After(now.Add(d.D())) })
			}
		case (k == RuleOwnerDeparted || k == RuleOwnerDisabled) && !hasV:
			state := map[string]string{RuleOwnerDeparted: OwnerDeparted, RuleOwnerDisabled: OwnerDisabled}[k]
			s.NeedsOwners = true
			s.add(r, func(p PAT, _ time.Time) bool { return p.OwnerState == state })
		case k == "owner" && v != "":
			s.add(r, func(p PAT, _ time.Time) bool { return strings.EqualFold(p.Owner, v) })
		case k == "name" && v != "":
			if _, err := path.Match(v, ""); err != nil {
				return nil, fmt.Errorf("--rule %q: the pattern does not parse: %v", r, err)
			}
			glob := strings.ToLower(v)
			s.add(r, func(p PAT, _ time.Time) bool { ok, _ := path.Match(glob, strings.ToLower(p.DisplayName)); return ok })
		default:
			return nil, fmt.Errorf("--rule %q is not a rule: use global, full-scope, older-than=DURATION, expires-within=DURATION, owner=UPN, owner-departed, owner-disabled or name=GLOB", r)
		}
	}
	return s, nil
}

func (s *Selector) add(desc string, f func(PAT, time.Time) bool) {
	s.conds, s.desc = append(s.conds, f), append(s.desc, desc)
}

// String describes the selection.
func (s *Selector) String() string { return strings.Join(s.desc, " AND ") }

// Match reports whether p is selected, and why not when it is an active PAT
// patrol manages.
func (s *Selector) Match(p PAT, now time.Time) (selected, managedSkipped bool) {
	if p.Status != "active" {
		return false, false
	}
	for _, c := range s.conds {
		if !c(p, now) {
			return false, false
		}
	}
	if p.Managed && !s.IncludeManaged {
		return false, true
	}
	return true, false
}
