package controller_test

import (
	"context"
	"encoding/pem"
	"reflect"
	"strings"
	"testing"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/controller"
	"github.com/patrol-dev/patrol/internal/metrics"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// The manager's cache lags behind the reconciler's own writes: a reconcile
// woken by another watch (its identity's deletion, a Secret) can run before
// the informer has seen the status patches of the reconcile before it, or
// the object's deletion. These tests give the reconciler a client whose Get
// returns such a copy (what the informer held earlier) and check that it
// acts on what the API server holds: one renewal per renew-now request,
// no second delivery of a PAT the http sink already took, nothing issued
// and no metrics for an object already gone.

// staleClient is a lagging cache: Get of an object kept in stale returns
// that copy; everything else (writes, other objects) goes to Client.
type staleClient struct {
	client.Client
	stale map[types.NamespacedName]client.Object
}

func (s staleClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if o, ok := s.stale[key]; ok && reflect.TypeOf(o) == reflect.TypeOf(obj) {
		reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(o.DeepCopyObject()).Elem())
		return nil
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

// lagging gives r a cache that still holds obj as it is now.
func (w *world) lagging(r *controller.PATReconciler, obj client.Object) *controller.PATReconciler {
	r.Client = staleClient{Client: r.Client, stale: map[types.NamespacedName]client.Object{client.ObjectKeyFromObject(obj): obj.DeepCopyObject().(client.Object)}}
	return r
}

// A renew-now request is acted on once, also when a reconcile reads the
// PersonalAccessToken from a cache that has the annotation but not yet the
// status (lastRenewRequest) of the renewal that acted on it.
func TestStaleCacheRenewNowOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.cl.Create(ctx, w.pat("once")); err != nil {
		t.Fatal(err)
	}
	w.reconcile(w.reconciler(nil, nil), "once")
	first := w.check("once")
	p := w.get("once")
	p.Annotations = map[string]string{patrolv1.AnnotationRenewNow: "1"}
	if err := w.cl.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	cached := w.get("once") // the annotation event, before the renewal's status patches
	w.reconcile(w.reconciler(nil, nil), "once")
	second := w.check("once")
	if second == first || w.get("once").Status.LastRenewRequest != "1" {
		t.Fatalf("the renewal did not happen: %s → %s, status %+v", first, second, w.get("once").Status)
	}
	w.reconcile(w.lagging(w.reconciler(nil, nil), cached), "once")
	if again := w.check("once"); again != second {
		t.Errorf("a reconcile reading a cached copy without lastRenewRequest renewed again: %s → %s", second, again)
	}
}

// The same for an EntraAccessToken: its Secret keeps the renewed token.
func TestStaleCacheEntraRenewNowOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.cl.Create(ctx, w.eat("once")); err != nil {
		t.Fatal(err)
	}
	run := func(r *controller.PATReconciler) {
		t.Helper()
		er := &controller.EntraTokenReconciler{PATReconciler: r}
		if _, err := er.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: w.ns, Name: "once"}}); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}
	run(w.reconciler(nil, nil))
	first := string(w.secret("once-secret").Data["token"])
	e := w.getEAT("once")
	e.Annotations = map[string]string{patrolv1.AnnotationRenewNow: "1"}
	if err := w.cl.Update(ctx, e); err != nil {
		t.Fatal(err)
	}
	cached := w.getEAT("once")
	run(w.reconciler(nil, nil))
	second := string(w.secret("once-secret").Data["token"])
	if second == first || w.getEAT("once").Status.LastRenewRequest != "1" {
		t.Fatalf("the renewal did not happen: status %+v", w.getEAT("once").Status)
	}
	run(w.lagging(w.reconciler(nil, nil), cached))
	if got := string(w.secret("once-secret").Data["token"]); got != second {
		t.Error("a reconcile reading a cached copy without lastRenewRequest wrote another token")
	}
}

// An http sink's delivery record lives in status.sinks: a reconcile that
// reads a cached copy from before the delivery (no record) must not take
// the sink for one that holds nothing and issue a new PAT for it.
func TestStaleCacheHTTPSinkRecord(t *testing.T) {
	w := newWorld(t)
	tl := newTool(t)
	ctx := context.Background()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tl.srv.Certificate().Raw})
	if err := w.cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "tool-ca"}, Data: map[string][]byte{"ca.pem": caPEM}}); err != nil {
		t.Fatal(err)
	}
	p := w.pat("rec", func(p *patrolv1.PersonalAccessToken) {
		// The finalizer from the start: the cached copy is the one the
		// first reconcile started from.
		p.Finalizers = []string{controller.FinalizerRevoke}
		p.Spec.Sinks = []patrolv1.PATSink{{Name: "tool", HTTP: &patrolv1.HTTPSink{URL: tl.srv.URL + "/api/token", Body: "pat={{token}}",
			ContentType: "application/x-www-form-urlencoded", CABundleRef: &patrolv1.SecretKeyRef{Name: "tool-ca", Key: "ca.pem"}}}}
	})
	if err := w.cl.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	cached := w.get("rec")
	w.reconcile(w.reconciler(nil, nil), "rec")
	first := w.check("rec")
	took, _ := tl.holds()
	if s := w.get("rec").Status.Sinks; took != string(w.secret("rec-secret").Data["token"]) || len(s) != 1 || s[0].AuthorizationID != first {
		t.Fatalf("first delivery: the tool holds the Secret's PAT %t, status.sinks %+v", took == string(w.secret("rec-secret").Data["token"]), s)
	}
	w.reconcile(w.lagging(w.reconciler(nil, nil), cached), "rec")
	if again := w.check("rec"); again != first {
		t.Errorf("a reconcile reading a cached copy without status.sinks issued a new PAT: %s → %s", first, again)
	}
	if now, _ := tl.holds(); now != took {
		t.Error("the http sink got another PAT")
	}
}

// A reconcile of a PersonalAccessToken that is gone (deleted, its PATs
// revoked, the finalizer dropped) while the cache still has its copy
// issues nothing and exports none of its series.
func TestStaleCacheDeletedPAT(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.cl.Create(ctx, w.pat("gone")); err != nil {
		t.Fatal(err)
	}
	m := controller.NewMetrics(metrics.BuildInfo{})
	r := w.reconciler(nil, nil)
	r.Metrics = m
	w.reconcile(r, "gone")
	w.check("gone")
	cred := w.ns + ".gone"
	if !exported(t, m, cred) {
		t.Fatal("no series of the credential after its first reconcile")
	}
	cached := w.get("gone")
	if err := w.cl.Delete(ctx, cached); err != nil {
		t.Fatal(err)
	}
	w.reconcile(r, "gone") // revokes, drops the finalizer: gone
	if err := w.cl.Get(ctx, client.ObjectKeyFromObject(cached), &patrolv1.PersonalAccessToken{}); err == nil {
		t.Fatal("the PersonalAccessToken is still there after its finalizer ran")
	}
	if exported(t, m, cred) {
		t.Fatal("series of the deleted credential before the stale reconcile")
	}
	_, err := w.lagging(r, cached).Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(cached)})
	if ids := w.managed(cred); len(ids) != 0 {
		t.Errorf("a reconcile of the deleted PersonalAccessToken issued PAT(s) %v", ids)
	}
	if exported(t, m, cred) {
		t.Error("a reconcile of the deleted PersonalAccessToken exported its series again")
	}
	if err != nil {
		t.Errorf("reconcile of a deleted PersonalAccessToken: %v", err)
	}
}

// exported reports whether m has a series labelled credential=cred.
func exported(t *testing.T, m *controller.Metrics, cred string) bool {
	t.Helper()
	fams, err := m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "credential" && strings.EqualFold(l.GetValue(), cred) {
					return true
				}
			}
		}
	}
	return false
}

// deletingStatus deletes obj just before the first status patch
// goes out: the object is deleted while its reconcile runs.
type deletingStatus struct {
	client.Client
	obj  client.Object
	done *bool
}

func (d deletingStatus) Status() client.SubResourceWriter {
	return deletingStatusWriter{d.Client.Status(), d}
}

type deletingStatusWriter struct {
	client.SubResourceWriter
	d deletingStatus
}

func (s deletingStatusWriter) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	if !*s.d.done {
		*s.d.done = true
		if err := s.d.Client.Delete(ctx, s.d.obj); err != nil {
			return err
		}
	}
	return s.SubResourceWriter.Patch(ctx, o, p, opts...)
}

// An EntraAccessToken deleted while its reconcile is about to sign in
// gets no token written to its Secret, and no series.
func TestEntraDeletedWhileIssuing(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	e := w.eat("brief")
	if err := w.cl.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
	m := controller.NewMetrics(metrics.BuildInfo{})
	r := w.reconciler(nil, nil)
	r.Metrics = m
	deleted := false
	r.Client = deletingStatus{Client: r.Client, obj: e, done: &deleted}
	er := &controller.EntraTokenReconciler{PATReconciler: r}
	_, err := er.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(e)})
	if !deleted {
		t.Fatal("no status patch before the token was issued")
	}
	var s corev1.Secret
	if gerr := w.cl.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "brief-secret"}, &s); gerr == nil {
		t.Errorf("a token was written to the Secret of the deleted EntraAccessToken (data keys %d)", len(s.Data))
	}
	if exported(t, m, "entra_"+w.ns+".brief") {
		t.Error("series of the deleted EntraAccessToken exported")
	}
	if err != nil {
		t.Errorf("reconcile: %v", err)
	}
}

// onUpdate runs f before every Update goes out.
type onUpdate struct {
	client.Client
	f func(client.Object)
}

func (u onUpdate) Update(ctx context.Context, o client.Object, opts ...client.UpdateOption) error {
	u.f(o)
	return u.Client.Update(ctx, o, opts...)
}

// A deleted PersonalAccessToken's series are gone before the update that
// drops its finalizer (and lets it go) is sent: whoever sees it gone, as
// TestPersonalAccessTokenLifecycle does, sees none of its series.
func TestDeletedPATSeriesGoFirst(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.cl.Create(ctx, w.pat("last")); err != nil {
		t.Fatal(err)
	}
	m := controller.NewMetrics(metrics.BuildInfo{})
	r := w.reconciler(nil, nil)
	r.Metrics = m
	w.reconcile(r, "last")
	cred := w.ns + ".last"
	if !exported(t, m, cred) {
		t.Fatal("no series of the credential after its first reconcile")
	}
	if err := w.cl.Delete(ctx, w.get("last")); err != nil {
		t.Fatal(err)
	}
	dropping := 0
	r.Client = onUpdate{Client: r.Client, f: func(o client.Object) {
		if len(o.GetFinalizers()) == 0 && !o.GetDeletionTimestamp().IsZero() {
			dropping++
			if exported(t, m, cred) {
				t.Error("the finalizer is dropped while the credential's series are still exported")
			}
		}
	}}
	w.reconcile(r, "last")
	if dropping != 1 {
		t.Fatalf("%d updates dropped the finalizer, want 1", dropping)
	}
}
