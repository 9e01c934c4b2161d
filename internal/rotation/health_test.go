package rotation

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAssessHealth(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	cur := &PATRef{AuthorizationID: "p", ValidTo: now.Add(5 * 24 * time.Hour)}
	expired := &PATRef{AuthorizationID: "p", ValidTo: now.Add(-time.Hour)}
	cases := []struct {
		it   Item
		want string
	}{
		{Item{Action: ActionNone, Current: cur, Sinks: []SinkPlan{{Status: "ok", ValidTo: cur.ValidTo}}}, "ok"},
		{Item{Action: ActionRenew, Current: cur}, "due"},
		{Item{Action: ActionRenew, Current: expired}, "expired"},
		{Item{Action: ActionCreate, Sinks: []SinkPlan{{Status: "missing"}}}, "missing"},
		{Item{Action: ActionRenew, Sinks: []SinkPlan{{Status: "ok", Holds: "a"}, {Status: "behind", Holds: "b"}}}, "drift"},
		{Item{Action: ActionRenew, Sinks: []SinkPlan{{Status: "ok", Holds: "a"}, {Status: "missing"}}}, "missing"},
		{Item{Action: ActionFail, Error: "boom"}, "error"},
	}
	for i, tc := range cases {
		got := Assess(now, tc.it, nil)
		if got.Health != tc.want {
			t.Errorf("case %d: health %s, want %s", i, got.Health, tc.want)
		}
	}
	got := Assess(now, cases[0].it, nil)
	if got.DaysToExpiry == nil || *got.DaysToExpiry != 5 {
		t.Fatalf("days to expiry: %v", got.DaysToExpiry)
	}
}

// The last run's failure makes a credential whose sinks look fine "failed"
// (not ready); what the sinks show wins when it is worse.
func TestAssessRemembersFailure(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	cur := &PATRef{AuthorizationID: "p", ValidTo: now.Add(20 * 24 * time.Hour)}
	ok := Item{Action: ActionNone, Current: cur, Sinks: []SinkPlan{{Name: "a", Status: "ok"}, {Name: "b", Status: "ok"}}}
	failed := &Outcome{At: now.Add(-time.Hour), Result: OutcomeFailed, Reason: "verify", Error: "sink b does not work", FailedSinks: []string{"b"}}

	got := Assess(now, ok, failed)
	if got.Health != HealthFailed || got.Ready || !strings.Contains(got.Detail, "verify") {
		t.Fatalf("ok sinks after a failed run: %+v", got)
	}
	if !got.Sinks[0].Ready || got.Sinks[1].Ready {
		t.Fatalf("sink readiness: %+v", got.Sinks)
	}
	if got := Assess(now, ok, &Outcome{Result: OutcomeRotated}); got.Health != HealthOK || !got.Ready {
		t.Fatalf("ok after a rotation: %+v", got)
	}
	missing := Item{Action: ActionCreate, Sinks: []SinkPlan{{Status: "missing"}}}
	if got := Assess(now, missing, failed); got.Health != HealthMissing || got.Ready {
		t.Fatalf("missing after a failed run: %+v", got)
	}
	token := Item{Kind: "entra-token", Action: ActionRefresh, Sinks: []SinkPlan{{Status: "due", ValidTo: now.Add(time.Minute)}}}
	if got := Assess(now, token, nil); got.Health != HealthDue || !got.Ready {
		t.Fatalf("a due token: %+v", got)
	}
}

func TestOutcome(t *testing.T) {
	at := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	r := Result{Credential: "c", Action: ActionRenew, AuthorizationID: "id", Err: errors.New("boom"), Reason: "sink",
		Sinks: []SinkResult{{Name: "a", Written: true}, {Name: "b", Error: "denied"}}}
	o := r.Outcome(at)
	if o.Result != OutcomeFailed || o.Reason != "sink" || o.Error != "boom" || len(o.FailedSinks) != 1 || o.FailedSinks[0] != "b" {
		t.Fatalf("failed outcome: %+v", o)
	}
	r.Err = nil
	if o := r.Outcome(at); o.Result != OutcomeRotated || o.Error != "" {
		t.Fatalf("rotated outcome: %+v", o)
	}
	r.Action = ActionNone
	if o := r.Outcome(at); o.Result != OutcomeOK {
		t.Fatalf("ok outcome: %+v", o)
	}
}
