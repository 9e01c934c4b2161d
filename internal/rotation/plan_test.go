package rotation

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/sink"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func cred(name string, mut ...func(*config.Credential)) config.Credential {
	c := config.Credential{Name: name, Kind: config.KindPAT, Scopes: []string{"vso.code"}, Lifetime: config.Duration(30 * day)}
	for _, m := range mut {
		m(&c)
	}
	return c
}

// pat makes an active managed (or not) PAT created at created.
func pat(id, credName string, created time.Time, life time.Duration) api.PatToken {
	name := "manual token"
	if credName != "" {
		name = DisplayName(credName, created)
	}
	return api.PatToken{AuthorizationID: id, DisplayName: name, Scope: "vso.code", TargetAccounts: []string{"org"}, ValidFrom: created, ValidTo: created.Add(life)}
}

func holds(id string) SinkState {
	return SinkState{Name: "s-" + id, Held: sink.Held{Present: true, AuthorizationID: id}}
}

func TestDisplayNameRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 999, time.FixedZone("x", 3600))
	n := DisplayName("feed.read-1", at)
	if !strings.HasPrefix(n, "patrol:feed.read-1:20260102T020405Z-") || len(n) != len("patrol:feed.read-1:20260102T020405Z-")+8 {
		t.Fatal(n)
	}
	c, ts, ok := ParseDisplayName(n)
	if !ok || c != "feed.read-1" || !ts.Equal(time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC)) {
		t.Fatal(c, ts, ok)
	}
	// Names of earlier versions (no attempt id) stay managed.
	if c, ts, ok := ParseDisplayName("patrol:feed.read-1:20260102T020405Z"); !ok || c != "feed.read-1" || !ts.Equal(time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC)) {
		t.Fatal("legacy name", c, ts, ok)
	}
	for _, bad := range []string{"manual", "patrol:", "patrol:x", "patrol:x:2026", "patrol::20260102T020405Z", "Patrol:x:20260102T020405Z",
		"patrol:x:20260102T020405Z-", "patrol:x:20260102T020405Z-1234567", "patrol:x:20260102T020405Z-123456789", "patrol:x:20260102T020405Z-ABCDEF12",
		"patrol:x:20260102T020405.5Z"} {
		if _, _, ok := ParseDisplayName(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseDisplayName(f *testing.F) {
	f.Add("patrol:a:20260102T020405Z")
	f.Add("patrol:a:b:20260102T020405Z")
	f.Add("patrol:a:20260102T020405Z-0123abcd")
	f.Fuzz(func(t *testing.T, s string) {
		c, ts, attempt, ok := parseName(s)
		if ok && formatName(c, ts, attempt) != s {
			t.Fatalf("%q parsed to %q %v %q but formats as %q", s, c, ts, attempt, formatName(c, ts, attempt))
		}
	})
}

func TestMakePlan(t *testing.T) {
	type want struct {
		action  Action
		revoke  []string
		replace []string
		reason  string // substring of reasons or error
		clamped bool
		status  []string
	}
	cases := []struct {
		name  string
		c     config.Credential
		pats  []api.PatToken
		sinks []SinkState
		force bool
		want  want
	}{
		{name: "nothing held → create", c: cred("a"), sinks: []SinkState{{Name: "f"}},
			want: want{action: ActionCreate, status: []string{"missing"}}},
		{name: "fresh → none", c: cred("a"), pats: []api.PatToken{pat("p1", "a", t0.Add(-5*day), 30*day)}, sinks: []SinkState{holds("p1")},
			want: want{action: ActionNone, status: []string{"ok"}}},
		{name: "due (default 1/3) → renew", c: cred("a"), pats: []api.PatToken{pat("p1", "a", t0.Add(-21*day), 30*day)}, sinks: []SinkState{holds("p1")},
			want: want{action: ActionRenew, replace: []string{"p1"}, reason: "due since"}},
		{name: "just before due → none", c: cred("a"), pats: []api.PatToken{pat("p1", "a", t0.Add(-20*day+time.Second), 30*day)}, sinks: []SinkState{holds("p1")},
			want: want{action: ActionNone}},
		{name: "renewBefore duration", c: cred("a", func(c *config.Credential) { c.RenewBefore = config.RenewBefore{Duration: 2 * day} }),
			pats: []api.PatToken{pat("p1", "a", t0.Add(-27*day), 30*day)}, sinks: []SinkState{holds("p1")}, want: want{action: ActionNone}},
		{name: "force", c: cred("a"), pats: []api.PatToken{pat("p1", "a", t0.Add(-time.Hour), 30*day)}, sinks: []SinkState{holds("p1")}, force: true,
			want: want{action: ActionRenew, replace: []string{"p1"}, reason: "forced"}},
		{name: "held PAT revoked → renew", c: cred("a"), sinks: []SinkState{holds("gone")},
			want: want{action: ActionRenew, reason: "revoked, expired or deleted", status: []string{"stale"}}},
		{name: "held global → renew", c: cred("a"), pats: []api.PatToken{func() api.PatToken { p := pat("g", "a", t0.Add(-day), 30*day); p.TargetAccounts = nil; return p }()},
			sinks: []SinkState{holds("g")}, want: want{action: ActionRenew, reason: "global", status: []string{"global"}, replace: []string{"g"}}},
		{name: "foreign held → renew, never revoked", c: cred("a"), pats: []api.PatToken{pat("m", "", t0.Add(-day), 30*day)}, sinks: []SinkState{holds("m")},
			want: want{action: ActionRenew, reason: "not managed", status: []string{"foreign"}}},
		{name: "unknown content → renew", c: cred("a"), sinks: []SinkState{{Name: "f", Held: sink.Held{Present: true}}},
			want: want{action: ActionRenew, status: []string{"unknown"}}},
		{name: "drift: one sink behind", c: cred("a"),
			pats:  []api.PatToken{pat("old", "a", t0.Add(-10*day), 30*day), pat("new", "a", t0.Add(-day), 30*day)},
			sinks: []SinkState{holds("new"), holds("old")},
			want:  want{action: ActionRenew, replace: []string{"old", "new"}, reason: "different", status: []string{"ok", "behind"}}},
		{name: "drift: one sink empty", c: cred("a"), pats: []api.PatToken{pat("p1", "a", t0.Add(-day), 30*day)},
			sinks: []SinkState{holds("p1"), {Name: "empty"}}, want: want{action: ActionRenew, replace: []string{"p1"}, reason: "holds nothing"}},
		{name: "read error → fail, no revokes", c: cred("a"),
			pats:  []api.PatToken{pat("p1", "a", t0.Add(-day), 30*day), pat("orphan", "a", t0.Add(-5*day), 30*day)},
			sinks: []SinkState{holds("p1"), {Name: "broken", Err: errors.New("boom")}},
			want:  want{action: ActionFail, reason: "could not be read"}},
		{name: "orphan older than window revoked", c: cred("a"),
			pats:  []api.PatToken{pat("p1", "a", t0.Add(-2*day), 30*day), pat("orph", "a", t0.Add(-2*time.Hour), 30*day)},
			sinks: []SinkState{holds("p1")}, want: want{action: ActionNone, revoke: []string{"orph"}}},
		{name: "young orphan kept", c: cred("a"),
			pats:  []api.PatToken{pat("p1", "a", t0.Add(-2*day), 30*day), pat("orph", "a", t0.Add(-10*time.Minute), 30*day)},
			sinks: []SinkState{holds("p1")}, want: want{action: ActionNone}},
		{name: "replaced, grace 0 → revoke", c: cred("a"),
			pats:  []api.PatToken{pat("old", "a", t0.Add(-25*day), 30*day), pat("p1", "a", t0.Add(-time.Minute), 30*day)},
			sinks: []SinkState{holds("p1")}, want: want{action: ActionNone, revoke: []string{"old"}}},
		{name: "replaced, grace pending → keep", c: cred("a", func(c *config.Credential) { c.GracePeriod = config.Duration(2 * time.Hour) }),
			pats:  []api.PatToken{pat("old", "a", t0.Add(-25*day), 30*day), pat("p1", "a", t0.Add(-time.Hour), 30*day)},
			sinks: []SinkState{holds("p1")}, want: want{action: ActionNone}},
		{name: "replaced, grace over → revoke", c: cred("a", func(c *config.Credential) { c.GracePeriod = config.Duration(2 * time.Hour) }),
			pats:  []api.PatToken{pat("old", "a", t0.Add(-25*day), 30*day), pat("p1", "a", t0.Add(-3*time.Hour), 30*day)},
			sinks: []SinkState{holds("p1")}, want: want{action: ActionNone, revoke: []string{"old"}}},
		{name: "other credential's PATs ignored", c: cred("a"),
			pats:  []api.PatToken{pat("p1", "a", t0.Add(-day), 30*day), pat("b1", "b", t0.Add(-20*day), 30*day)},
			sinks: []SinkState{holds("p1")}, want: want{action: ActionNone}},
		{name: "clamped lifetime shortens schedule", c: cred("a"),
			pats:  []api.PatToken{pat("p1", "a", t0.Add(-5*day), 7*day)},
			sinks: []SinkState{holds("p1")}, want: want{action: ActionRenew, clamped: true, reason: "clamped", replace: []string{"p1"}}},
		{name: "clamped, not yet due", c: cred("a"),
			pats:  []api.PatToken{pat("p1", "a", t0.Add(-2*day), 7*day)},
			sinks: []SinkState{holds("p1")}, want: want{action: ActionNone, clamped: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := MakePlan(Input{Now: t0, Credentials: []config.Credential{tc.c}, PATs: tc.pats,
				Sinks: map[string][]SinkState{tc.c.Name: tc.sinks}, OrphanAge: time.Hour, Force: tc.force})
			if len(p.Items) != 1 {
				t.Fatalf("items: %d", len(p.Items))
			}
			it := p.Items[0]
			if it.Action != tc.want.action {
				t.Fatalf("action %s, want %s (reasons %v, error %s)", it.Action, tc.want.action, it.Reasons, it.Error)
			}
			if got := ids(it.Revoke); strings.Join(got, ",") != strings.Join(tc.want.revoke, ",") {
				t.Errorf("revoke %v, want %v", got, tc.want.revoke)
			}
			var rep []string
			for _, r := range it.Replace {
				rep = append(rep, r.AuthorizationID)
			}
			if strings.Join(rep, ",") != strings.Join(tc.want.replace, ",") {
				t.Errorf("replace %v, want %v", rep, tc.want.replace)
			}
			all := strings.Join(it.Reasons, "; ") + it.Error
			if tc.want.reason != "" && !strings.Contains(all, tc.want.reason) {
				t.Errorf("reasons %q lack %q", all, tc.want.reason)
			}
			if it.Clamped != tc.want.clamped {
				t.Errorf("clamped %v", it.Clamped)
			}
			for i, st := range tc.want.status {
				if it.Sinks[i].Status != st {
					t.Errorf("sink %d status %s, want %s", i, it.Sinks[i].Status, st)
				}
			}
			// Invariant: nothing a sink holds is ever revoked.
			for _, r := range it.Revoke {
				for _, s := range tc.sinks {
					if s.Held.AuthorizationID == r.AuthorizationID {
						t.Errorf("plan revokes %s which %s holds", r.AuthorizationID, s.Name)
					}
				}
			}
		})
	}
}

func ids(rs []Revocation) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.AuthorizationID)
	}
	return out
}

func TestMakePlanEntraToken(t *testing.T) {
	c := config.Credential{Name: "tok", Kind: config.KindEntraToken}
	mk := func(rotated, validTo time.Time) SinkState {
		return SinkState{Name: "f", Held: sink.Held{Present: true, RotatedAt: rotated, ValidTo: validTo}}
	}
	cases := []struct {
		s    SinkState
		want Action
	}{
		{SinkState{Name: "f"}, ActionRefresh},
		{mk(t0.Add(-10*time.Minute), t0.Add(50*time.Minute)), ActionNone},
		{mk(t0.Add(-45*time.Minute), t0.Add(15*time.Minute)), ActionRefresh},
		{mk(t0.Add(-2*time.Hour), t0.Add(-time.Hour)), ActionRefresh},
		{SinkState{Name: "f", Err: errors.New("x")}, ActionFail},
	}
	for i, tc := range cases {
		p := MakePlan(Input{Now: t0, Credentials: []config.Credential{c}, Sinks: map[string][]SinkState{"tok": {tc.s}}})
		if p.Items[0].Action != tc.want {
			t.Errorf("case %d: %s, want %s", i, p.Items[0].Action, tc.want)
		}
	}
}

// A sink moved from credential a to b still holds a's PAT: a must not revoke it.
func TestMakePlanHeldByOtherCredential(t *testing.T) {
	a, b := cred("a"), cred("b")
	pats := []api.PatToken{pat("pa-old", "a", t0.Add(-3*day), 30*day), pat("pa", "a", t0.Add(-2*day), 30*day)}
	p := MakePlan(Input{Now: t0, Credentials: []config.Credential{a, b}, PATs: pats, OrphanAge: time.Hour,
		Sinks: map[string][]SinkState{"a": {holds("pa")}, "b": {holds("pa-old")}}})
	if len(p.Items[0].Revoke) != 0 {
		t.Fatalf("a revokes a PAT b's sink holds: %+v", p.Items[0].Revoke)
	}
	if p.Items[1].Action != ActionRenew || p.Items[1].Sinks[0].Status != "foreign" {
		t.Fatalf("b: %+v", p.Items[1])
	}
}

// A PAT held by sinks of two credentials is never revoked by either's renewal.
func TestMakePlanSharedHeldNotReplaced(t *testing.T) {
	a, b := cred("a"), cred("b")
	pats := []api.PatToken{pat("pa", "a", t0.Add(-25*day), 30*day)}
	p := MakePlan(Input{Now: t0, Credentials: []config.Credential{a, b}, PATs: pats, OrphanAge: time.Hour,
		Sinks: map[string][]SinkState{"a": {holds("pa")}, "b": {holds("pa")}}})
	if p.Items[0].Action != ActionRenew || len(p.Items[0].Replace) != 0 {
		t.Fatalf("a: %+v", p.Items[0])
	}
}

// An entra-app-secret credential is planned on its application's passwords
// like PATs on a listing: the application's own secret a sink holds is
// replaced but never removed, another credential's password is left alone,
// only this credential's unheld old password is cleaned up.
func TestPlanAppSecretTouchesOnlyItsOwnPasswords(t *testing.T) {
	c := cred("deploy", func(c *config.Credential) {
		c.Kind, c.Scopes, c.Application = config.KindEntraAppSecret, nil, config.Application{AppID: "3b4c5d6e-7f80-4192-a3b4-c5d6e7f8091a"}
	})
	own := pat("k-own", "", t0.Add(-100*day), 700*day)
	other := pat("k-other", "other", t0.Add(-10*day), 90*day)
	orphan := pat("k-orphan", "deploy", t0.Add(-2*day), 90*day)
	acct := Account{Application: "appId 3b4c5d6e-7f80-4192-a3b4-c5d6e7f8091a"}
	in := Input{Now: t0, Credentials: []config.Credential{c}, OrphanAge: time.Hour,
		Accounts: map[string]Account{"deploy": acct}, Listings: map[Account][]api.PatToken{acct: {own, other, orphan}},
		Sinks: map[string][]SinkState{"deploy": {holds("k-own")}}}
	it := MakePlan(in).Items[0]
	if it.Kind != config.KindEntraAppSecret || it.Action != ActionRenew || len(it.Replace) != 0 {
		t.Fatalf("plan: %+v", it)
	}
	if len(it.Revoke) != 1 || it.Revoke[0].AuthorizationID != "k-orphan" {
		t.Fatalf("clean-up: %+v", it.Revoke)
	}
	if !strings.Contains(strings.Join(it.Reasons, "; "), "application secret k-own") {
		t.Fatalf("reasons: %v", it.Reasons)
	}
}
