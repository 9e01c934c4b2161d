package controller_test

import (
	"context"
	"encoding/pem"
	"sync/atomic"
	"testing"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/rotation"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A controller killed in the middle of delivering to spec.sinks — after
// the Secret, after the variable group, or right after the HTTP tool took
// the PAT but before its record reached status.sinks — leaves state the
// restarted controller repairs: the Secret and every sink hold one PAT,
// the only active managed one, and the requested renewal happened.
func TestCrashWithSinksRepairedOnRestart(t *testing.T) {
	seed := emulator.DefaultSeed()
	seed.VariableGroups = append(seed.VariableGroups, emulator.SeedVariableGroup{
		Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: "ado-creds", Variables: map[string]emulator.SeedVar{"OTHER": {Value: "x"}},
	})
	w := newWorldWith(t, emulator.Options{Seed: &seed})
	tl := newTool(t)
	var dieOnDelivery, dead atomic.Bool
	tl.onRequest = func() {
		if dieOnDelivery.Load() {
			dead.Store(true) // the tool took it; the process dies before recording it
		}
	}
	ctx := context.Background()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tl.srv.Certificate().Raw})
	if err := w.cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "tool-ca"}, Data: map[string][]byte{"ca.pem": caPEM}}); err != nil {
		t.Fatal(err)
	}
	gs, err := w.verf.ListVariableGroups(ctx, emulator.DefaultProject, "ado-creds")
	if err != nil || len(gs) != 1 {
		t.Fatalf("variable group: %v %v", gs, err)
	}
	// variable is name's in the group: this run's (the reconciler lists
	// PersonalAccessTokens cluster-wide, and those of an earlier run of
	// -count stay in their namespace and would keep the place).
	variable := func(name string) string { return name + "-" + w.ns }
	// inLine asserts the invariant and returns the PAT's authorizationId.
	inLine := func(name string) string {
		t.Helper()
		id := w.check(name)
		tok := string(w.secret(name + "-secret").Data["token"])
		if v, _ := w.emu.VariableGroupValue(emulator.DefaultOrg, gs[0].ID, variable(name)); v != tok {
			t.Fatal("the variable group holds another PAT than the Secret")
		}
		if got, _ := tl.holds(); got != tok {
			t.Fatal("the HTTP tool holds another PAT than the Secret")
		}
		return id
	}
	for _, tc := range []struct {
		name  string
		index int // crash after sink index (0 the Secret, 1 the variable group); -1: the tool's delivery
	}{{"after-secret", 0}, {"after-variable-group", 1}, {"tool-took-it", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			w.t = t
			name := "crash-" + tc.name
			p := w.pat(name, func(p *patrolv1.PersonalAccessToken) {
				p.Spec.Sinks = []patrolv1.PATSink{
					{Name: "vg", VariableGroup: &patrolv1.VariableGroupSink{Project: emulator.DefaultProject, GroupName: "ado-creds", Variable: variable(name)}},
					{Name: "tool", HTTP: &patrolv1.HTTPSink{URL: tl.srv.URL + "/api/token", Body: "pat={{token}}", ContentType: "application/x-www-form-urlencoded",
						CABundleRef: &patrolv1.SecretKeyRef{Name: "tool-ca", Key: "ca.pem"}}},
				}
			})
			if err := w.cl.Create(ctx, p); err != nil {
				t.Fatal(err)
			}
			w.reconcile(w.reconciler(nil, nil), name) // finalizer
			w.reconcile(w.reconciler(nil, nil), name) // first PAT
			before := inLine(name)

			p = w.get(name)
			p.Annotations = map[string]string{patrolv1.AnnotationRenewNow: "now"}
			if err := w.cl.Update(ctx, p); err != nil {
				t.Fatal(err)
			}
			dead.Store(false)
			dieOnDelivery.Store(tc.index < 0)
			crashed := false
			w.reconcile(w.reconciler(func(ev rotation.HookEvent) error {
				if dead.Load() {
					crashed = true
					return rotation.ErrCrash
				}
				if ev.Step == rotation.StepSinkWritten && ev.Index == tc.index {
					crashed = true
					dead.Store(true)
					return rotation.ErrCrash
				}
				return nil
			}, &dead), name)
			dieOnDelivery.Store(false)
			if !crashed {
				t.Fatal("the renewal never reached the crash")
			}
			if tc.index < 0 {
				if s := w.get(name).Status.Sinks; len(s) != 2 || !s[1].DeliveryPending {
					t.Errorf("status.sinks after the tool took the PAT and the process died: %+v", s)
				}
			}
			w.reconcile(w.reconciler(nil, nil), name) // restart
			after := inLine(name)
			if after == before {
				t.Errorf("the requested renewal did not happen (still %s)", before)
			}
			p = w.get(name)
			if p.Status.AuthorizationID != after || p.Status.LastRenewRequest != "now" || p.Status.FailedIssuanceAttempts != 0 || p.Status.Sinks[1].DeliveryPending {
				t.Errorf("status after the repair: %+v", p.Status)
			}
			w.reconcile(w.reconciler(nil, nil), name)
			if again := inLine(name); again != after {
				t.Errorf("a reconcile after the repair renewed again: %s → %s", after, again)
			}
		})
	}
}
