package controller_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/controller"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// deadClient is the Kubernetes client of a process that died: once dead,
// every write fails (a crashed reconcile records nothing afterwards).
type deadClient struct {
	client.Client
	dead *atomic.Bool
}

var errDead = errors.New("the process is dead")

func (d deadClient) Update(ctx context.Context, o client.Object, opts ...client.UpdateOption) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Client.Update(ctx, o, opts...)
}

func (d deadClient) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.PatchOption) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Client.Patch(ctx, o, p, opts...)
}

func (d deadClient) Status() client.SubResourceWriter { return deadStatus{d.Client.Status(), d.dead} }

type deadStatus struct {
	client.SubResourceWriter
	dead *atomic.Bool
}

func (d deadStatus) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	if d.dead.Load() {
		return errDead
	}
	return d.SubResourceWriter.Patch(ctx, o, p, opts...)
}

// reconciler is a fresh PATReconciler (a restarted controller: no cached
// sign-in) on the world's cluster; hook runs after each rotation step.
func (w *world) reconciler(hook func(rotation.HookEvent) error, dead *atomic.Bool) *controller.PATReconciler {
	w.t.Helper()
	kube, err := sink.NewKubeClientset(w.c.Admin)
	if err != nil {
		w.t.Fatal(err)
	}
	if dead == nil {
		dead = &atomic.Bool{}
	}
	emulatorHost, err := controller.ParseHostAllowList([]string{"127.0.0.1"})
	if err != nil {
		w.t.Fatal(err)
	}
	// The emulator's Key Vault, the tests' tools and the made-up tool.example.
	sinkHosts, err := controller.ParseSinkHostAllowList([]string{"127.0.0.1", "tool.example"})
	if err != nil {
		w.t.Fatal(err)
	}
	return &controller.PATReconciler{Client: deadClient{w.cl, dead}, APIReader: w.cl, Kube: kube, OrphanAge: time.Nanosecond, Hook: hook,
		Backoff: controller.Backoff{Base: time.Millisecond, Max: time.Millisecond}, AllowedHosts: emulatorHost, AllowedSinkHosts: sinkHosts}
}

func (w *world) reconcile(r *controller.PATReconciler, name string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: w.ns, Name: name}}); err != nil && !errors.Is(err, errDead) {
		w.t.Fatalf("reconcile: %v", err)
	}
}

// check asserts the invariant: the Secret holds a PAT that authenticates,
// and it is the only active managed PAT of the credential.
func (w *world) check(name string) string {
	w.t.Helper()
	sec := w.secret(name + "-secret")
	tok, id := string(sec.Data["token"]), sec.Annotations[sink.AnnotationAuthorizationID]
	if !w.works(tok) {
		w.t.Fatal("the Secret's PAT does not authenticate")
	}
	if ids := w.managed(w.get(name).Status.CredentialName); len(ids) != 1 || ids[0] != id {
		w.t.Fatalf("active managed PATs %v, want only the held %s", ids, id)
	}
	return id
}

// A controller killed between any two steps of a renewal (after create,
// after the PAT authenticated, after the Secret write, after delivery,
// after revoking the old PAT) leaves state the restarted controller
// repairs: the Secret holds a working PAT, the old and any orphan are
// revoked, and the renewal that was asked for happens.
func TestCrashBetweenStepsRepairedOnRestart(t *testing.T) {
	w := newWorld(t)
	for _, step := range []rotation.Step{rotation.StepCreated, rotation.StepVerified, rotation.StepSinkWritten, rotation.StepDelivered, rotation.StepRevoked} {
		t.Run(string(step), func(t *testing.T) {
			w.t = t
			name := "crash-" + string(step)
			if err := w.cl.Create(context.Background(), w.pat(name)); err != nil {
				t.Fatal(err)
			}
			w.reconcile(w.reconciler(nil, nil), name) // finalizer
			w.reconcile(w.reconciler(nil, nil), name) // first PAT
			before := w.check(name)

			p := w.get(name)
			p.Annotations = map[string]string{patrolv1.AnnotationRenewNow: "now"}
			if err := w.cl.Update(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			var dead atomic.Bool
			crashed := false
			w.reconcile(w.reconciler(func(ev rotation.HookEvent) error {
				if ev.Step == step {
					crashed = true
					dead.Store(true)
					return rotation.ErrCrash
				}
				return nil
			}, &dead), name)
			if !crashed {
				t.Fatalf("the renewal never reached step %s", step)
			}
			// Restart.
			w.reconcile(w.reconciler(nil, nil), name)
			after := w.check(name)
			if after == before {
				t.Errorf("the requested renewal did not happen (still %s)", before)
			}
			p = w.get(name)
			if p.Status.AuthorizationID != after || p.Status.LastRenewRequest != "now" || p.Status.FailedIssuanceAttempts != 0 {
				t.Errorf("status after the repair: %+v", p.Status)
			}
			// A further reconcile changes nothing.
			w.reconcile(w.reconciler(nil, nil), name)
			if again := w.check(name); again != after {
				t.Errorf("a reconcile after the repair renewed again: %s → %s", after, again)
			}
		})
	}
}
