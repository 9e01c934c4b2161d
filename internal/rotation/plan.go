package rotation

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/sink"
)

// Action is what a run does to one credential.
type Action string

const (
	// ActionCreate: no sink holds anything yet; create a PAT and deliver it.
	ActionCreate Action = "create"
	// ActionRenew: the held PAT is due, missing, revoked, global, unknown, or
	// the sinks disagree (drift); create a new PAT, deliver, verify, revoke
	// the replaced one(s).
	ActionRenew Action = "renew"
	// ActionRefresh: (entra-token) write a fresh access token.
	ActionRefresh Action = "refresh"
	// ActionNone: nothing to rotate (clean-up may still revoke PATs).
	ActionNone Action = "none"
	// ActionFail: the credential cannot be planned (a sink could not be read).
	ActionFail Action = "fail"
)

// SinkState is what one sink reported.
type SinkState struct {
	Name string
	Held sink.Held
	// Err is the Read error, if any.
	Err error
}

// Input is everything Plan looks at. Plan is a pure function of it.
type Input struct {
	Now time.Time
	// Credentials to plan (already filtered by --only).
	Credentials []config.Credential
	// PATs is every active PAT of the user (one listing); Plan picks the
	// managed ones by display name.
	PATs []api.PatToken
	// Sinks maps credential name to its sinks' states, in config order.
	Sinks map[string][]SinkState
	// OrphanAge: a managed PAT no sink holds and nothing replaced is revoked
	// once it is this old.
	OrphanAge time.Duration
	// Force renews every PAT credential (and refreshes every entra-token one).
	Force bool
	// Accounts maps a credential (lower-case name) to its account; a
	// credential not in it belongs to the default account, whose listing is
	// PATs. Listings holds the other accounts' listings.
	Accounts map[string]Account
	Listings map[Account][]api.PatToken
	// ListErrors are the accounts whose listing failed without stopping the
	// run (an application's passwords, kind entra-app-secret): their
	// credentials fail (reason list), nothing is created or removed for
	// them, the other credentials are planned as usual.
	ListErrors map[Account]error
}

// PATRef names a PAT.
type PATRef struct {
	AuthorizationID string    `json:"authorizationId"`
	DisplayName     string    `json:"displayName,omitempty"`
	ValidTo         time.Time `json:"validTo,omitzero"`
}

// Revocation is a PAT to revoke and why.
type Revocation struct {
	PATRef
	Reason string `json:"reason"`
}

// SinkPlan is one sink's row of the plan.
type SinkPlan struct {
	Name string `json:"name"`
	// Holds is the authorizationId the sink holds ("" when none/unknown).
	Holds string `json:"holds,omitempty"`
	// Status: ok | missing (holds nothing) | unknown (holds something patrol
	// did not record) | stale (PAT revoked, expired or deleted) | global |
	// foreign (PAT not managed by this credential) | behind (holds an older PAT
	// than another sink) | error.
	Status  string    `json:"status"`
	ValidTo time.Time `json:"validTo,omitzero"`
	Error   string    `json:"error,omitempty"`
}

// Item is the plan for one credential.
type Item struct {
	Credential string `json:"credential"`
	Kind       string `json:"kind"`
	// Organization and Identity of the credential's account ("" = the
	// default organisation / sign-in).
	Organization string `json:"organization,omitempty"`
	Identity     string `json:"identity,omitempty"`
	// Application whose secret the credential rotates (kind
	// entra-app-secret), as configured: appId or objectId.
	Application config.Application `json:"application,omitzero"`
	Action      Action             `json:"action"`
	Reasons     []string           `json:"reasons,omitempty"`
	// Current is the PAT every sink holds, when they agree.
	Current *PATRef `json:"current,omitempty"`
	// DueAt is when Current becomes due (renewal time).
	DueAt time.Time `json:"dueAt,omitzero"`
	// Clamped: Current's lifetime is shorter than configured (tenant policy);
	// the schedule follows its real lifetime.
	Clamped bool       `json:"clamped,omitempty"`
	Sinks   []SinkPlan `json:"sinks"`
	// Replace are the managed PATs held now that a successful renewal
	// replaces; they are revoked after delivery and verification when
	// gracePeriod is 0, else by a later run.
	Replace []PATRef `json:"replace,omitempty"`
	// Revoke are clean-up revocations done in this run regardless of Action.
	Revoke []Revocation `json:"revoke,omitempty"`
	// Error explains ActionFail.
	Error string `json:"error,omitempty"`

	failErr error // ActionFail because the account's listing failed (reason list)
}

// Plan is the outcome of planning, printable as the dry run.
type Plan struct {
	Now   time.Time `json:"now"`
	Items []Item    `json:"items"`
}

// Changes reports whether applying p would change anything.
func (p Plan) Changes() bool {
	for _, it := range p.Items {
		if it.Action == ActionCreate || it.Action == ActionRenew || it.Action == ActionRefresh || len(it.Revoke) > 0 {
			return true
		}
	}
	return false
}

type managed struct {
	pat     api.PatToken
	created time.Time
}

// createdAt is the PAT's creation time: validFrom (server clock), else the
// display-name timestamp.
func createdAt(p api.PatToken, nameTime time.Time) time.Time {
	if !p.ValidFrom.IsZero() {
		return p.ValidFrom.UTC()
	}
	return nameTime
}

// MakePlan computes the actions. It is pure: no I/O, no clock.
//
// Rules, per PAT credential (see docs/rotation.md):
//   - a sink that cannot be read fails the credential: nothing is created or revoked;
//   - no sink holds anything → create;
//   - any sink holds nothing, something unknown, a PAT not in the active
//     listing (revoked/expired/deleted), a global PAT, a PAT that is not this
//     credential's, or the sinks disagree → renew;
//   - all sinks hold the same managed PAT: renew when now ≥ validTo −
//     renewBefore (percentages apply to the PAT's real lifetime), or --force;
//     else none;
//   - clean-up: a managed PAT of this credential that no sink holds is revoked
//     when a newer PAT that a sink holds replaced it and gracePeriod has passed
//     since that newer PAT was created, or — when nothing newer is held (a run
//     died between create and delivery) — once it is older than OrphanAge.
//     A PAT any sink holds — of any credential — is never revoked.
func MakePlan(in Input) Plan {
	now := in.Now.UTC()
	// Each account's listing, indexed once: a credential is planned
	// against its own account's PATs only.
	type index struct {
		byCred map[string][]managed
		byID   map[string]api.PatToken
	}
	indexes := map[Account]*index{}
	indexOf := func(a Account) *index {
		if ix, ok := indexes[a]; ok {
			return ix
		}
		ix := &index{byCred: map[string][]managed{}, byID: map[string]api.PatToken{}}
		for _, p := range in.listing(a) {
			ix.byID[strings.ToLower(p.AuthorizationID)] = p
			cred, t, ok := ParseDisplayName(p.DisplayName)
			if !ok {
				continue
			}
			key := strings.ToLower(cred)
			ix.byCred[key] = append(ix.byCred[key], managed{pat: p, created: createdAt(p, t)})
		}
		indexes[a] = ix
		return ix
	}
	// PATs any sink holds, whatever credential it belongs to: never cleaned
	// up (a sink moved from one credential to another still holds the old
	// credential's PAT until its new credential replaces it).
	heldAnywhere := map[string]bool{}
	heldBy := map[string]map[string]bool{} // id → credentials whose sinks hold it
	for cred, states := range in.Sinks {
		for _, st := range states {
			if st.Err == nil && st.Held.AuthorizationID != "" {
				id := strings.ToLower(st.Held.AuthorizationID)
				heldAnywhere[id] = true
				if heldBy[id] == nil {
					heldBy[id] = map[string]bool{}
				}
				heldBy[id][strings.ToLower(cred)] = true
			}
		}
	}
	plan := Plan{Now: now}
	for _, c := range in.Credentials {
		var it Item
		acct := in.accountOf(c.Name)
		if lerr := in.ListErrors[acct]; lerr != nil && c.Kind != config.KindEntraToken {
			plan.Items = append(plan.Items, unlistedItem(c, acct, in.Sinks[c.Name], lerr))
			continue
		}
		if c.Kind == config.KindEntraToken {
			it = planToken(c, in.Sinks[c.Name], now, in.Force)
		} else {
			ix := indexOf(acct)
			it = planPAT(c, in.Sinks[c.Name], ix.byCred[strings.ToLower(c.Name)], ix.byID, heldAnywhere, heldBy, now, in.OrphanAge, in.Force)
		}
		it.Organization, it.Identity, it.Application = acct.Organization, acct.Identity, c.Application
		plan.Items = append(plan.Items, it)
	}
	return plan
}

func planToken(c config.Credential, states []SinkState, now time.Time, force bool) Item {
	it := Item{Credential: c.Name, Kind: config.KindEntraToken, Action: ActionNone}
	var earliest time.Time
	due := force
	if force {
		it.Reasons = append(it.Reasons, "forced")
	}
	for _, s := range states {
		sp := SinkPlan{Name: s.Name, ValidTo: s.Held.ValidTo, Status: "ok"}
		switch {
		case s.Err != nil:
			sp.Status, sp.Error = "error", redact.Error(s.Err)
			it.Action = ActionFail
			it.Error = fmt.Sprintf("sink %s could not be read: %v", s.Name, s.Err)
		case !s.Held.Present:
			sp.Status = "missing"
			due = true
			it.Reasons = append(it.Reasons, s.Name+" holds no token")
		default:
			life := s.Held.ValidTo.Sub(s.Held.RotatedAt)
			d := s.Held.ValidTo.Add(-c.RenewBefore.For(life))
			if earliest.IsZero() || d.Before(earliest) {
				earliest = d
			}
			if !now.Before(d) {
				due = true
				if !now.Before(s.Held.ValidTo) {
					sp.Status = "expired"
				} else {
					sp.Status = "due"
				}
			}
		}
		it.Sinks = append(it.Sinks, sp)
	}
	it.DueAt = earliest
	if it.Action == ActionFail {
		return it
	}
	if due {
		it.Action = ActionRefresh
		if !earliest.IsZero() && !now.Before(earliest) {
			it.Reasons = append(it.Reasons, "token due at "+earliest.Format(time.RFC3339))
		}
	}
	return it
}

func planPAT(c config.Credential, states []SinkState, mine []managed, byID map[string]api.PatToken, heldAnywhere map[string]bool, heldBy map[string]map[string]bool, now time.Time, orphanAge time.Duration, force bool) Item {
	kind := c.Kind
	if kind == "" {
		kind = config.KindPAT
	}
	it := Item{Credential: c.Name, Kind: kind, Action: ActionNone}
	mineByID := map[string]managed{}
	for _, m := range mine {
		mineByID[strings.ToLower(m.pat.AuthorizationID)] = m
	}
	held := map[string]bool{} // lower-case ids any sink holds (whatever their state)
	var agreed string
	agree, anyPresent, readErr := true, false, false
	drift := []string{}
	for i, s := range states {
		sp := SinkPlan{Name: s.Name, Status: "ok", Holds: s.Held.AuthorizationID, ValidTo: s.Held.ValidTo}
		id := strings.ToLower(s.Held.AuthorizationID)
		switch {
		case s.Err != nil:
			sp.Status, sp.Error = "error", redact.Error(s.Err)
			readErr = true
			it.Error = fmt.Sprintf("sink %s could not be read (%v); nothing is rotated or revoked for this credential until it can be", s.Name, s.Err)
		case !s.Held.Present:
			sp.Status = "missing"
			drift = append(drift, s.Name+" holds nothing")
		case id == "":
			anyPresent = true
			sp.Status = "unknown"
			drift = append(drift, s.Name+" holds a credential patrol did not record")
		default:
			anyPresent = true
			held[id] = true
			p, active := byID[id]
			_, isMine := mineByID[id]
			switch {
			case !active:
				sp.Status = "stale"
				drift = append(drift, fmt.Sprintf("%s holds %s %s which is %s", s.Name, credNoun(kind), s.Held.AuthorizationID, goneWord(kind)))
			case p.IsGlobal():
				sp.Status = "global"
				drift = append(drift, fmt.Sprintf("%s holds global PAT %s (global PATs stop working on 2026-12-01)", s.Name, s.Held.AuthorizationID))
			case !isMine:
				sp.Status = "foreign"
				drift = append(drift, fmt.Sprintf("%s holds %s %s (%q) which is not managed by credential %s; it is replaced but never revoked by patrol", s.Name, credNoun(kind), s.Held.AuthorizationID, p.DisplayName, c.Name))
			default:
				sp.ValidTo = p.ValidTo
			}
		}
		if i == 0 {
			agreed = id
		} else if id != agreed {
			agree = false
		}
		it.Sinks = append(it.Sinks, sp)
	}
	if readErr {
		it.Action = ActionFail
		return it
	}
	if agree && agreed != "" && len(drift) == 0 {
		m := mineByID[agreed]
		it.Current = &PATRef{AuthorizationID: m.pat.AuthorizationID, DisplayName: m.pat.DisplayName, ValidTo: m.pat.ValidTo}
		life := m.pat.ValidTo.Sub(m.created)
		it.Clamped = life < c.Lifetime.D()-time.Minute
		it.DueAt = m.pat.ValidTo.Add(-c.RenewBefore.For(life))
		switch {
		case force:
			it.Action = ActionRenew
			it.Reasons = append(it.Reasons, "forced (--force)")
		case !now.Before(it.DueAt):
			it.Action = ActionRenew
			it.Reasons = append(it.Reasons, fmt.Sprintf("due since %s (validTo %s, renewBefore %s)", it.DueAt.Format(time.RFC3339), m.pat.ValidTo.UTC().Format(time.RFC3339), config.Duration(m.pat.ValidTo.Sub(it.DueAt))))
		}
		if it.Clamped {
			it.Reasons = append(it.Reasons, fmt.Sprintf("lifetime clamped by policy to %s (configured %s)", config.Duration(life.Round(time.Minute)), c.Lifetime))
		}
	} else {
		if !anyPresent {
			it.Action = ActionCreate
			it.Reasons = append(it.Reasons, "no sink holds a credential yet")
		} else {
			it.Action = ActionRenew
			if !agree && len(drift) == 0 {
				drift = append(drift, "sinks hold different "+credNoun(kind)+"s")
			}
			it.Reasons = append(it.Reasons, drift...)
			markBehind(&it, mineByID)
		}
	}
	if it.Action == ActionRenew {
		for id := range held {
			if len(heldBy[id]) > 1 {
				continue // another credential's sink holds it too: never revoked from here
			}
			if m, ok := mineByID[id]; ok {
				it.Replace = append(it.Replace, PATRef{AuthorizationID: m.pat.AuthorizationID, DisplayName: m.pat.DisplayName, ValidTo: m.pat.ValidTo})
			}
		}
		sort.Slice(it.Replace, func(i, j int) bool { return it.Replace[i].DisplayName < it.Replace[j].DisplayName })
	}
	it.Revoke = cleanup(c, mine, held, heldAnywhere, now, orphanAge)
	return it
}

// goneWord says how a held credential of kind went missing from the listing.
func goneWord(kind string) string {
	if kind == config.KindEntraAppSecret {
		return "no longer a password of the application (removed)"
	}
	return "revoked, expired or deleted"
}

// markBehind marks sinks holding an older managed PAT than another sink.
func markBehind(it *Item, mine map[string]managed) {
	var newest time.Time
	for _, sp := range it.Sinks {
		if m, ok := mine[strings.ToLower(sp.Holds)]; ok && sp.Status == "ok" && m.created.After(newest) {
			newest = m.created
		}
	}
	for i, sp := range it.Sinks {
		if m, ok := mine[strings.ToLower(sp.Holds)]; ok && sp.Status == "ok" && m.created.Before(newest) {
			it.Sinks[i].Status = "behind"
		}
	}
}

func cleanup(c config.Credential, mine []managed, held, heldAnywhere map[string]bool, now time.Time, orphanAge time.Duration) []Revocation {
	var out []Revocation
	for _, m := range mine {
		id := strings.ToLower(m.pat.AuthorizationID)
		if held[id] || heldAnywhere[id] {
			continue
		}
		// The oldest held PAT newer than m replaced it.
		var replacedAt time.Time
		for _, o := range mine {
			if held[strings.ToLower(o.pat.AuthorizationID)] && o.created.After(m.created) && (replacedAt.IsZero() || o.created.Before(replacedAt)) {
				replacedAt = o.created
			}
		}
		ref := PATRef{AuthorizationID: m.pat.AuthorizationID, DisplayName: m.pat.DisplayName, ValidTo: m.pat.ValidTo}
		switch {
		case !replacedAt.IsZero():
			if !now.Before(replacedAt.Add(c.GracePeriod.D())) {
				out = append(out, Revocation{PATRef: ref, Reason: fmt.Sprintf("replaced at %s; no sink holds it (gracePeriod %s over)", replacedAt.Format(time.RFC3339), c.GracePeriod)})
			}
		case now.Sub(m.created) >= orphanAge:
			out = append(out, Revocation{PATRef: ref, Reason: fmt.Sprintf("orphan: no sink holds it and it is older than %s (a run stopped before delivering it)", config.Duration(orphanAge))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DisplayName < out[j].DisplayName })
	return out
}
