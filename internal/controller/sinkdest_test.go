package controller_test

import (
	"context"
	"strings"
	"testing"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/emulator"
	"k8s.io/apimachinery/pkg/api/meta"
)

// Two sinks that write the same place would replace each other's PAT at
// every reconcile (each then sees its sinks out of line and renews): the
// controller refuses a second sink of the same destination — in one
// PersonalAccessToken, or in another one (the older keeps it) — with
// InvalidSpec naming both, before any PAT is created.
func TestSinkDestinationsAreExclusive(t *testing.T) {
	seed := emulator.DefaultSeed()
	seed.VariableGroups = append(seed.VariableGroups, emulator.SeedVariableGroup{
		Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: "ado-creds", Variables: map[string]emulator.SeedVar{"OTHER": {Value: "x"}},
	})
	w := newWorldWith(t, emulator.Options{Seed: &seed})
	ctx := context.Background()
	vg := func(group, variable string) patrolv1.PATSink {
		return patrolv1.PATSink{Name: "vg", VariableGroup: &patrolv1.VariableGroupSink{Project: emulator.DefaultProject, GroupName: group, Variable: variable}}
	}
	refused := func(name, want string) {
		t.Helper()
		w.reconcile(w.reconciler(nil, nil), name) // finalizer
		w.reconcile(w.reconciler(nil, nil), name)
		p := w.get(name)
		c := meta.FindStatusCondition(p.Status.Conditions, patrolv1.ConditionReady)
		if c == nil || c.Reason != patrolv1.ReasonInvalidSpec || !strings.Contains(c.Message, want) {
			t.Errorf("%s: Ready %+v, want InvalidSpec naming %q", name, c, want)
		}
		if ids := w.managed(w.ns + "." + name); len(ids) != 0 {
			t.Errorf("%s: PATs created: %v", name, ids)
		}
	}

	// One PersonalAccessToken, two spellings of one variable.
	twice := w.pat("twice", func(p *patrolv1.PersonalAccessToken) {
		a, b := vg("ado-creds", "ADO_PAT"), vg("ADO-CREDS", "ado_pat")
		b.Name = "again"
		p.Spec.Sinks = []patrolv1.PATSink{a, b}
	})
	if err := w.cl.Create(ctx, twice); err != nil {
		t.Fatal(err)
	}
	refused("twice", "spec.sinks[1] (again) writes the same place as spec.sinks[0] (vg)")

	// Two PersonalAccessTokens: the first keeps it, the second is refused.
	// The variable is this run's: the reconciler lists PersonalAccessTokens
	// cluster-wide, and those of an earlier run (-count) stay in their
	// namespace (no namespace controller deletes them).
	shared := "SHARED_" + strings.ToUpper(strings.ReplaceAll(w.ns, "-", "_"))
	first := w.pat("first", func(p *patrolv1.PersonalAccessToken) { p.Spec.Sinks = []patrolv1.PATSink{vg("ado-creds", shared)} })
	if err := w.cl.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	w.reconcile(w.reconciler(nil, nil), "first")
	w.reconcile(w.reconciler(nil, nil), "first")
	if p := w.get("first"); !meta.IsStatusConditionTrue(p.Status.Conditions, patrolv1.ConditionReady) {
		t.Fatalf("first: %+v", p.Status.Conditions)
	}
	second := w.pat("second", func(p *patrolv1.PersonalAccessToken) {
		p.Spec.Sinks = []patrolv1.PATSink{vg("ado-creds", strings.ToLower(shared))}
	})
	if err := w.cl.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	refused("second", "PersonalAccessToken "+w.ns+"/first")
	// The first one is not disturbed.
	w.reconcile(w.reconciler(nil, nil), "first")
	if p := w.get("first"); !meta.IsStatusConditionTrue(p.Status.Conditions, patrolv1.ConditionReady) {
		t.Errorf("first after the second was refused: %+v", p.Status.Conditions)
	}
}

// A sink's SecretKeyRef that names no Secret (or no key) fails the
// reconcile with InvalidSpec naming the field, before any PAT is created.
func TestSinkSecretMissing(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.pat("nokey", func(p *patrolv1.PersonalAccessToken) {
		p.Spec.Sinks = []patrolv1.PATSink{{Name: "tool", HTTP: &patrolv1.HTTPSink{URL: "https://tool.example/api", Body: "pat={{token}}",
			Auth: &patrolv1.HTTPSinkAuth{Type: "bearer", TokenRef: &patrolv1.SecretKeyRef{Name: "tool-admin", Key: "token"}}}}}
	})
	if err := w.cl.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	w.reconcile(w.reconciler(nil, nil), "nokey") // finalizer
	w.reconcile(w.reconciler(nil, nil), "nokey")
	p = w.get("nokey")
	c := meta.FindStatusCondition(p.Status.Conditions, patrolv1.ConditionReady)
	want := "spec.sinks[0] (tool).http.auth.tokenRef: Secret " + w.ns + "/tool-admin does not exist"
	if c == nil || c.Reason != patrolv1.ReasonInvalidSpec || !strings.Contains(c.Message, want) {
		t.Errorf("Ready %+v, want InvalidSpec naming %q", c, want)
	}
	if ids := w.managed(w.ns + ".nokey"); len(ids) != 0 {
		t.Errorf("PATs created: %v", ids)
	}
}
