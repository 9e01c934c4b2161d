package rotation

import (
	"testing"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops/api"
)

// A credential is planned against its own account's listing: a managed PAT
// of the same credential name in another organisation or identity is
// neither its current PAT nor an orphan to revoke.
func TestPlanPerAccount(t *testing.T) {
	labs := Account{Organization: "contoso-labs", Identity: "labs-admin"}
	mine := pat("11111111-1111-4111-8111-111111111111", "a", t0.Add(-2*day), 30*day)
	other := pat("22222222-2222-4222-8222-222222222222", "a", t0.Add(-40*day), 60*day) // an orphan-looking PAT of "a" elsewhere
	labsCurrent := pat("33333333-3333-4333-8333-333333333333", "b", t0.Add(-2*day), 30*day)
	in := Input{
		Now:         t0,
		OrphanAge:   day,
		Credentials: []config.Credential{cred("a"), cred("b")},
		PATs:        []api.PatToken{mine},
		Listings:    map[Account][]api.PatToken{labs: {other, labsCurrent}},
		Accounts:    map[string]Account{"b": labs},
		Sinks: map[string][]SinkState{
			"a": {holds(mine.AuthorizationID)},
			"b": {holds(labsCurrent.AuthorizationID)},
		},
	}
	p := MakePlan(in)
	a, b := p.Items[0], p.Items[1]
	if a.Action != ActionNone || len(a.Revoke) != 0 || a.Organization != "" {
		t.Fatalf("credential a must see only its own account's PATs: %+v", a)
	}
	if b.Action != ActionNone || b.Current == nil || b.Current.AuthorizationID != labsCurrent.AuthorizationID || len(b.Revoke) != 0 {
		t.Fatalf("credential b is planned against the labs listing: %+v", b)
	}
	if b.Organization != "contoso-labs" || b.Identity != "labs-admin" {
		t.Fatalf("the item carries its account: %+v", b)
	}
	// The same PAT of "a" in a's own listing is an orphan there.
	in.PATs = append(in.PATs, other)
	if p := MakePlan(in); len(p.Items[0].Revoke) != 1 {
		t.Fatalf("in its own account the orphan is revoked: %+v", p.Items[0])
	}
}
