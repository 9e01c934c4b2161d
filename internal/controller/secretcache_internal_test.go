package controller

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/kubetest"
	"github.com/patrol-dev/patrol/internal/sink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// The Secret cache holds metadata only, stripped: no Secret's data, and of
// the Secrets patrol does not manage nothing but their names (no labels,
// annotations, managed fields). With PATROL_MEASURE_SECRET_CACHE=N (-v) it
// also measures the heap the cache takes for N Secrets of 16 KiB, against a
// cache of whole Secrets (docs/controller.md quotes N=1000).
func TestSecretCacheHoldsNoData(t *testing.T) {
	c := kubetest.Start(t)
	ns := c.Namespace(t)
	kube := c.AdminClient(t)
	ctx := context.Background()
	n := 2
	if v, err := strconv.Atoi(os.Getenv("PATROL_MEASURE_SECRET_CACHE")); err == nil && v > 2 {
		n = v
	}
	big := strings.Repeat("x", 16<<10)
	for i := range n {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("s%04d", i),
			Labels: map[string]string{"app": "other"}, Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": big[:2048]}},
			Data: map[string][]byte{"password": []byte(big)}}
		if i == 0 {
			s.Labels = map[string]string{sink.LabelManagedBy: sink.ManagedByPatrol, "team": "build"}
			s.Annotations = map[string]string{sink.AnnotationAuthorizationID: "a1", "other/x": "y"}
		}
		if _, err := kube.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	measure := func(opts cache.Options, obj client.Object) (cache.Cache, uint64) {
		before := heap()
		opts.Scheme = Scheme()
		ch, err := cache.New(c.Admin, opts)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		t.Cleanup(cancel)
		go func() { _ = ch.Start(cctx) }()
		if _, err := ch.GetInformer(ctx, obj); err != nil {
			t.Fatal(err)
		}
		sctx, scancel := context.WithTimeout(ctx, time.Minute)
		defer scancel()
		if !ch.WaitForCacheSync(sctx) {
			t.Fatal("cache not synced")
		}
		return ch, heap() - min(before, heap())
	}
	ch, metaBytes := measure(cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Secret{}: secretCacheOptions([]string{ns})}}, secretMeta())
	managed, other := secretMeta(), secretMeta()
	if err := ch.Get(ctx, client.ObjectKey{Namespace: ns, Name: "s0000"}, managed); err != nil {
		t.Fatal(err)
	}
	if err := ch.Get(ctx, client.ObjectKey{Namespace: ns, Name: "s0001"}, other); err != nil {
		t.Fatal(err)
	}
	if len(managed.Labels) != 1 || len(managed.Annotations) != 1 || managed.Annotations[sink.AnnotationAuthorizationID] != "a1" || managed.ManagedFields != nil || managed.ResourceVersion == "" {
		t.Errorf("managed Secret cached as %+v; want its managed-by label, patrol.dev/ annotations, resourceVersion", managed.ObjectMeta)
	}
	if other.Labels != nil || other.Annotations != nil || other.ManagedFields != nil || other.UID == "" {
		t.Errorf("other Secret cached as %+v; want name, UID and resourceVersion only", other.ObjectMeta)
	}
	var full corev1.Secret
	if err := ch.Get(ctx, client.ObjectKey{Namespace: ns, Name: "s0001"}, &full); err == nil && len(full.Data) > 0 {
		t.Error("the cache served a Secret with its data")
	}
	if n > 2 {
		_, fullBytes := measure(cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}}, &corev1.Secret{})
		t.Logf("%d Secrets of 16 KiB: metadata-only stripped cache %d KiB (%d B each), whole-Secret cache %d KiB (%d B each)",
			n, metaBytes>>10, metaBytes/uint64(n), fullBytes>>10, fullBytes/uint64(n))
	}
}

// targetChanged wakes on a hand edit, a deletion and the loss of patrol's
// label, not on the controller's own writes (delivery, outcome report) nor
// on creations and resyncs.
func TestTargetChanged(t *testing.T) {
	obj := func(rv string, managed bool, ann ...string) client.Object {
		o := secretMeta()
		o.ResourceVersion = rv
		if managed {
			o.Labels = map[string]string{sink.LabelManagedBy: sink.ManagedByPatrol}
		}
		o.Annotations = map[string]string{}
		for i := 0; i+1 < len(ann); i += 2 {
			o.Annotations[ann[i]] = ann[i+1]
		}
		return o
	}
	base := []string{sink.AnnotationAuthorizationID, "a1", sink.AnnotationRotatedAt, "t1", sink.AnnotationLastResult, "ok"}
	for name, c := range map[string]struct {
		old, new client.Object
		want     bool
	}{
		"data edited by hand": {obj("1", true, base...), obj("2", true, base...), true},
		"label removed":       {obj("1", true, base...), obj("2", false), true},
		"resync":              {obj("1", true, base...), obj("1", true, base...), false},
		"delivery":            {obj("1", true, base...), obj("2", true, sink.AnnotationAuthorizationID, "a2", sink.AnnotationRotatedAt, "t2", sink.AnnotationLastResult, "ok"), false},
		"token refresh":       {obj("1", true, sink.AnnotationRotatedAt, "t1"), obj("2", true, sink.AnnotationRotatedAt, "t2"), false},
		"outcome report":      {obj("1", true, base...), obj("2", true, sink.AnnotationAuthorizationID, "a1", sink.AnnotationRotatedAt, "t1", sink.AnnotationLastResult, "failed"), false},
		"not patrol's":        {obj("1", false), obj("2", false), false},
	} {
		if got := targetChanged.Update(event.UpdateEvent{ObjectOld: c.old, ObjectNew: c.new}); got != c.want {
			t.Errorf("%s: %t, want %t", name, got, c.want)
		}
	}
	if !targetChanged.Delete(event.DeleteEvent{Object: obj("1", true)}) || targetChanged.Delete(event.DeleteEvent{Object: obj("1", false)}) ||
		targetChanged.Create(event.CreateEvent{Object: obj("1", true)}) {
		t.Error("want deletions of patrol's Secrets only, no creations")
	}
}
