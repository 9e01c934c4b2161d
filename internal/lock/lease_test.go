package lock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/kubetest"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func leaseCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLeaseOneWinsThenRelease(t *testing.T) {
	c := kubetest.Start(t)
	ctx := leaseCtx(t)
	ns := c.Namespace(t)
	cs := c.AdminClient(t)
	a := NewLease(LeaseOptions{Client: cs, Namespace: ns, Name: "patrol", Identity: "run-a", Duration: time.Minute})
	b := NewLease(LeaseOptions{Client: cs, Namespace: ns, Name: "patrol", Identity: "run-b", Duration: time.Minute})

	relA, err := a.Acquire(ctx)
	if err != nil {
		t.Fatalf("a: %v", err)
	}
	_, err = b.Acquire(ctx)
	if !errors.Is(err, ErrHeld) || errkind.Of(err) != errkind.Conflict || !strings.Contains(err.Error(), `"run-a" since `) {
		t.Fatalf("b while a holds: want ErrHeld naming run-a, got %v", err)
	}
	if err := relA(ctx); err != nil {
		t.Fatalf("release a: %v", err)
	}
	if err := relA(ctx); err != nil {
		t.Fatalf("second release must be a no-op: %v", err)
	}
	l, _ := cs.CoordinationV1().Leases(ns).Get(ctx, "patrol", metav1.GetOptions{})
	if l.Spec.HolderIdentity != nil {
		t.Fatalf("holder after release = %q", *l.Spec.HolderIdentity)
	}
	relB, err := b.Acquire(ctx)
	if err != nil {
		t.Fatalf("b after release: %v", err)
	}
	defer relB(ctx)
	l, _ = cs.CoordinationV1().Leases(ns).Get(ctx, "patrol", metav1.GetOptions{})
	if *l.Spec.HolderIdentity != "run-b" {
		t.Fatalf("holder = %q", *l.Spec.HolderIdentity)
	}
}

// Many concurrent contenders: exactly one wins (optimistic concurrency on create/update).
func TestLeaseConcurrentAcquireExactlyOne(t *testing.T) {
	c := kubetest.Start(t)
	ctx := leaseCtx(t)
	ns := c.Namespace(t)
	cs := c.AdminClient(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	rels := make([]func(context.Context) error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := NewLease(LeaseOptions{Client: cs, Namespace: ns, Name: "race", Identity: string(rune('a' + i)), Duration: time.Minute})
			rels[i], errs[i] = l.Acquire(ctx)
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			defer rels[i](ctx)
		case !errors.Is(err, ErrHeld):
			t.Errorf("contender %d: unexpected error %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d contenders won, want exactly 1", won)
	}
}

// A holder that died (no renewal) loses the Lease after Duration; the
// takeover counts a transition, and the dead holder's release reports the
// takeover without touching the new holder.
func TestLeaseExpiryTakeover(t *testing.T) {
	c := kubetest.Start(t)
	ctx := leaseCtx(t)
	ns := c.Namespace(t)
	cs := c.AdminClient(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	// RenewEvery is long, so the holder never renews during the test (as if dead).
	dead := NewLease(LeaseOptions{Client: cs, Namespace: ns, Name: "exp", Identity: "dead", Duration: 30 * time.Second, RenewEvery: time.Hour, Now: clock})
	relDead, err := dead.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := NewLease(LeaseOptions{Client: cs, Namespace: ns, Name: "exp", Identity: "next", Duration: 30 * time.Second, Now: clock})
	if _, err := next.Acquire(ctx); !errors.Is(err, ErrHeld) {
		t.Fatalf("before expiry: %v", err)
	}
	mu.Lock()
	now = now.Add(31 * time.Second)
	mu.Unlock()
	relNext, err := next.Acquire(ctx)
	if err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	l, _ := cs.CoordinationV1().Leases(ns).Get(ctx, "exp", metav1.GetOptions{})
	if *l.Spec.HolderIdentity != "next" || l.Spec.LeaseTransitions == nil || *l.Spec.LeaseTransitions != 1 {
		t.Fatalf("after takeover: holder %v transitions %v", *l.Spec.HolderIdentity, l.Spec.LeaseTransitions)
	}
	if err := relDead(ctx); !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), `"next"`) {
		t.Fatalf("the expired holder's release must report the takeover, got %v", err)
	}
	l, _ = cs.CoordinationV1().Leases(ns).Get(ctx, "exp", metav1.GetOptions{})
	if *l.Spec.HolderIdentity != "next" {
		t.Fatal("stale holder's release cleared the new holder")
	}
	if err := relNext(ctx); err != nil {
		t.Fatal(err)
	}
}

// While held, the Lease is renewed in the background.
func TestLeaseRenews(t *testing.T) {
	c := kubetest.Start(t)
	ctx := leaseCtx(t)
	ns := c.Namespace(t)
	cs := c.AdminClient(t)
	l := NewLease(LeaseOptions{Client: cs, Namespace: ns, Name: "renew", Identity: "r", Duration: 3 * time.Second, RenewEvery: 50 * time.Millisecond})
	rel, err := l.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := cs.CoordinationV1().Leases(ns).Get(ctx, "renew", metav1.GetOptions{})
	var renewed bool
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		cur, _ := cs.CoordinationV1().Leases(ns).Get(ctx, "renew", metav1.GetOptions{})
		if cur.Spec.RenewTime.After(first.Spec.RenewTime.Time) {
			renewed = true
			break
		}
	}
	if !renewed {
		t.Fatal("lease never renewed")
	}
	if err := rel(ctx); err != nil {
		t.Fatal(err)
	}
}

// The least-privilege rotator (get/update on the named Lease, create on
// leases) can use the lock; without create on a missing Lease it gets a
// permission error naming the rule.
func TestLeaseRBAC(t *testing.T) {
	c := kubetest.Start(t)
	ctx := leaseCtx(t)
	ns := c.Namespace(t)
	rot := c.RotatorClient(t)
	_, err := NewLease(LeaseOptions{Client: rot, Namespace: ns, Name: "patrol", Identity: "x"}).Acquire(ctx)
	if errkind.Of(err) != errkind.Permission || !strings.Contains(err.Error(), "coordination.k8s.io") {
		t.Fatalf("without RBAC: %v", err)
	}
	c.BindRole(t, ns, "patrol-lease", kubetest.RotatorUser, []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{"patrol"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
	})
	var rel func(context.Context) error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		rel, err = NewLease(LeaseOptions{Client: rot, Namespace: ns, Name: "patrol", Identity: "x"}).Acquire(ctx)
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("with RBAC: %v", err)
	}
	if err := rel(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := NewLease(LeaseOptions{Client: rot, Namespace: ns, Name: "other", Identity: "x"}).Acquire(ctx); errkind.Of(err) != errkind.Permission {
		t.Fatalf("other lease: %v", err)
	}
}

func TestLeaseOptionsRequired(t *testing.T) {
	_, err := NewLease(LeaseOptions{}).Acquire(context.Background())
	if errkind.Of(err) != errkind.Usage {
		t.Fatalf("empty options: %v", err)
	}
}

// If someone takes the Lease over while we hold it (our renewal was too
// late), the renewal notices and release reports the loss (wrapping ErrHeld)
// without clearing the new holder.
func TestLeaseLossReportedOnRelease(t *testing.T) {
	c := kubetest.Start(t)
	ctx := leaseCtx(t)
	ns := c.Namespace(t)
	cs := c.AdminClient(t)
	l := NewLease(LeaseOptions{Client: cs, Namespace: ns, Name: "lost", Identity: "victim", Duration: time.Minute, RenewEvery: 50 * time.Millisecond})
	rel, err := l.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := cs.CoordinationV1().Leases(ns).Get(ctx, "lost", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	thief := "thief"
	cur.Spec.HolderIdentity = &thief
	if _, err := cs.CoordinationV1().Leases(ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		// A renewal raced us; take it again from the fresh copy.
		cur, _ = cs.CoordinationV1().Leases(ns).Get(ctx, "lost", metav1.GetOptions{})
		cur.Spec.HolderIdentity = &thief
		if _, err := cs.CoordinationV1().Leases(ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the renewal loop has seen the takeover (it stops renewing).
	// Renewals after the takeover (however many happen) must not overwrite the thief.
	for range 5 {
		time.Sleep(60 * time.Millisecond)
		cur, _ = cs.CoordinationV1().Leases(ns).Get(ctx, "lost", metav1.GetOptions{})
		if *cur.Spec.HolderIdentity != thief {
			t.Fatalf("renewal overwrote the new holder: %q", *cur.Spec.HolderIdentity)
		}
	}
	relErr := rel(ctx)
	if !errors.Is(relErr, ErrHeld) || !strings.Contains(relErr.Error(), `"thief"`) {
		t.Fatalf("release after takeover: %v", relErr)
	}
	cur, _ = cs.CoordinationV1().Leases(ns).Get(ctx, "lost", metav1.GetOptions{})
	if *cur.Spec.HolderIdentity != thief {
		t.Fatal("release cleared the new holder")
	}
}

// BenchmarkLeaseAcquireRelease measures one uncontended lock cycle against
// the real apiserver (Get + Update to take, Get + Update to release).
func BenchmarkLeaseAcquireRelease(b *testing.B) {
	c := kubetest.Start(b)
	ns := c.Namespace(b)
	l := NewLease(LeaseOptions{Client: c.AdminClient(b), Namespace: ns, Name: "bench", Identity: "bench", Duration: time.Minute})
	ctx := context.Background()
	for b.Loop() {
		rel, err := l.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := rel(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// The Lease records what its holder serves, as the lock file does: the
// holder (pid, host, identity, since, accounts) and the accounts in
// annotations; a refused run names them; release removes them, a takeover
// replaces them.
func TestLeaseRecordsAccounts(t *testing.T) {
	c := kubetest.Start(t)
	ctx := leaseCtx(t)
	ns := c.Namespace(t)
	cs := c.AdminClient(t)
	accts := []string{"contoso", "contoso-labs (identity labs-admin)"}
	a := NewLease(LeaseOptions{Client: cs, Namespace: ns, Name: "accts", Identity: "run-a", Duration: time.Minute, Accounts: accts})
	relA, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l, err := cs.CoordinationV1().Leases(ns).Get(ctx, "accts", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var h FileHolder
	if err := json.Unmarshal([]byte(l.Annotations[HolderAnnotation]), &h); err != nil || h.Identity != "run-a" || h.PID != os.Getpid() || h.Host == "" || h.Since.IsZero() || strings.Join(h.Accounts, "|") != strings.Join(accts, "|") {
		t.Fatalf("holder annotation %q: %+v %v", l.Annotations[HolderAnnotation], h, err)
	}
	if got := l.Annotations[AccountsAnnotation]; got != "contoso, contoso-labs (identity labs-admin)" {
		t.Fatalf("accounts annotation %q", got)
	}

	b := NewLease(LeaseOptions{Client: cs, Namespace: ns, Name: "accts", Identity: "run-b", Duration: time.Minute, Accounts: []string{"fabrikam"}})
	_, err = b.Acquire(ctx)
	var he *LeaseHeldError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "serving contoso, contoso-labs (identity labs-admin)") || !strings.Contains(err.Error(), fmt.Sprintf("(pid %d on ", os.Getpid())) {
		t.Fatalf("refused run: want the holder's accounts named, got %v", err)
	}
	if err := relA(ctx); err != nil {
		t.Fatal(err)
	}
	l, _ = cs.CoordinationV1().Leases(ns).Get(ctx, "accts", metav1.GetOptions{})
	if _, ok := l.Annotations[HolderAnnotation]; ok || l.Annotations[AccountsAnnotation] != "" {
		t.Fatalf("annotations after release: %v", l.Annotations)
	}
	relB, err := b.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer relB(ctx)
	l, _ = cs.CoordinationV1().Leases(ns).Get(ctx, "accts", metav1.GetOptions{})
	if l.Annotations[AccountsAnnotation] != "fabrikam" || !strings.Contains(l.Annotations[HolderAnnotation], `"identity":"run-b"`) {
		t.Fatalf("annotations of the next holder: %v", l.Annotations)
	}
}
