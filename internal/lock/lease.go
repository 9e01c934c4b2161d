package lock

// Lease is a Locker backed by a coordination.k8s.io/v1 Lease, so that two
// overlapping CronJob runs (or a CronJob and a human) never rotate at once.
//
// Behaviour:
//   - Acquire creates the Lease when absent; takes it when it is free
//     (holderIdentity empty), already ours, or expired (renewTime +
//     leaseDurationSeconds in the past, judged by this process's clock); and
//     otherwise fails at once with an error wrapping ErrHeld that names the
//     holder and when its lease expires. All writes carry the resourceVersion
//     read (optimistic concurrency): of two racing takers exactly one wins, the
//     other re-reads and sees the Lease held.
//   - While held, a goroutine renews renewTime every Duration/3. If renewal
//     finds the Lease taken by someone else (we were too slow), it stops and the
//     release function reports the loss.
//   - The holder records what it holds, as the file lock does, in the Lease's
//     annotations (HolderAnnotation: {"identity","host","pid","since",
//     "accounts"}; AccountsAnnotation: the accounts, comma-separated, for
//     kubectl), so a refused run says "… serving contoso, contoso-labs
//     (identity labs-admin)". A takeover replaces them; release removes them.
//   - release stops renewal and clears holderIdentity (keeping the object, its
//     leaseTransitions count and history), so the next run acquires at once.
//     If the Lease was taken over meanwhile, release leaves the new holder
//     alone and returns an error wrapping ErrHeld: the run may have
//     overlapped with another.
//
// Clock skew: expiry compares the holder's renewTime with the local clock;
// keep Duration well above the expected skew (default 10 minutes, far above a
// rotation run's length, renewed every ~3 minutes).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DefaultLeaseDuration is used when LeaseOptions.Duration is zero.
const DefaultLeaseDuration = 10 * time.Minute

// LeaseOptions configure NewLease.
type LeaseOptions struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string
	// Identity of this holder, e.g. the Pod name + a random suffix.
	Identity string
	// Duration a Lease stays valid without renewal; default DefaultLeaseDuration.
	Duration time.Duration
	// RenewEvery; default Duration/3.
	RenewEvery time.Duration
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Accounts the run serves ("organization" or "organization (identity
	// name)"), recorded in the Lease's annotations like FileOptions.Accounts.
	Accounts []string
}

// Annotations of a held Lease (removed on release).
const (
	// HolderAnnotation is the holder as JSON, the lock file's content
	// (FileHolder: pid, host, identity, since, accounts).
	HolderAnnotation = "patrol.dev/holder"
	// AccountsAnnotation lists the accounts the holder serves, ", "-separated.
	AccountsAnnotation = "patrol.dev/accounts"
)

// LeaseHeldError says who holds the Lease. It wraps ErrHeld.
type LeaseHeldError struct {
	Lease      string // namespace/name
	Holder     string
	AcquiredAt time.Time // zero when the Lease does not say
	RenewedAt  time.Time
	ExpiresAt  time.Time
	// Info is what the holder recorded (HolderAnnotation); zero when the
	// Lease does not say (another tool, an older patrol).
	Info FileHolder
}

func (e *LeaseHeldError) Error() string {
	since := ""
	if !e.AcquiredAt.IsZero() {
		since = " since " + e.AcquiredAt.UTC().Format(time.RFC3339)
	}
	if e.Info.PID != 0 {
		since += fmt.Sprintf(" (pid %d on %s)", e.Info.PID, e.Info.Host)
	}
	if len(e.Info.Accounts) > 0 {
		since += ", serving " + strings.Join(e.Info.Accounts, ", ")
	}
	if since != "" {
		since += ","
	}
	return fmt.Sprintf("lock Lease %s is held by %q%s renewed %s, expires %s; another patrol run is in progress — wait for it, or if that run died, wait until the lease expires",
		e.Lease, e.Holder, since, e.RenewedAt.UTC().Format(time.RFC3339), e.ExpiresAt.UTC().Format(time.RFC3339))
}
func (e *LeaseHeldError) Unwrap() error      { return ErrHeld }
func (e *LeaseHeldError) Kind() errkind.Kind { return errkind.Conflict }

// LeaseError is a failed Kubernetes call of the Lease lock.
type LeaseError struct {
	Verb  string
	Lease string
	K     errkind.Kind
	Err   error
}

func (e *LeaseError) Error() string {
	msg := fmt.Sprintf("%s Lease %s: %v", e.Verb, e.Lease, e.Err)
	if e.K == errkind.Permission {
		msg += "; the ServiceAccount needs a Role with rules {apiGroups: [\"coordination.k8s.io\"], resources: [\"leases\"], resourceNames: [\"" + leaseName(e.Lease) + "\"], verbs: [\"get\", \"update\"]} and {apiGroups: [\"coordination.k8s.io\"], resources: [\"leases\"], verbs: [\"create\"]} (see deploy/rbac.yaml)"
	}
	return msg
}
func (e *LeaseError) Unwrap() error      { return e.Err }
func (e *LeaseError) Kind() errkind.Kind { return e.K }

func leaseName(nsName string) string {
	for i := len(nsName) - 1; i >= 0; i-- {
		if nsName[i] == '/' {
			return nsName[i+1:]
		}
	}
	return nsName
}

type lease struct {
	o LeaseOptions
}

// NewLease returns a Locker using the Lease o.Namespace/o.Name.
func NewLease(o LeaseOptions) Locker {
	if o.Duration <= 0 {
		o.Duration = DefaultLeaseDuration
	}
	if o.RenewEvery <= 0 {
		o.RenewEvery = o.Duration / 3
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &lease{o: o}
}

func (l *lease) id() string { return l.o.Namespace + "/" + l.o.Name }

func (l *lease) fail(verb string, err error) error {
	k := errkind.Unknown
	switch {
	case apierrors.IsForbidden(err):
		k = errkind.Permission
	case apierrors.IsUnauthorized(err):
		k = errkind.Auth
	case apierrors.IsNotFound(err):
		k = errkind.NotFound
	case apierrors.IsConflict(err):
		k = errkind.Conflict
	case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err),
		errors.Is(err, context.DeadlineExceeded):
		k = errkind.Transient
	}
	return &LeaseError{Verb: verb, Lease: l.id(), K: k, Err: err}
}

func microNow(t time.Time) *metav1.MicroTime { m := metav1.NewMicroTime(t); return &m }

// annotate records this holder in meta's annotations (see HolderAnnotation).
func (l *lease) annotate(meta *metav1.ObjectMeta, now time.Time) {
	host, _ := os.Hostname()
	b, _ := json.Marshal(FileHolder{PID: os.Getpid(), Host: host, Identity: l.o.Identity, Since: now.UTC(), Accounts: l.o.Accounts})
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[HolderAnnotation] = string(b)
	if len(l.o.Accounts) > 0 {
		meta.Annotations[AccountsAnnotation] = strings.Join(l.o.Accounts, ", ")
	} else {
		delete(meta.Annotations, AccountsAnnotation)
	}
}

// unannotate removes what annotate recorded.
func unannotate(meta *metav1.ObjectMeta) {
	delete(meta.Annotations, HolderAnnotation)
	delete(meta.Annotations, AccountsAnnotation)
}

// holderInfo is what the Lease's holder recorded (zero if nothing).
func holderInfo(cur *coordinationv1.Lease) FileHolder {
	var h FileHolder
	if v := cur.Annotations[HolderAnnotation]; v != "" {
		_ = json.Unmarshal([]byte(v), &h)
	}
	return h
}

// Acquire implements Locker.
func (l *lease) Acquire(ctx context.Context) (func(context.Context) error, error) {
	if l.o.Client == nil || l.o.Namespace == "" || l.o.Name == "" || l.o.Identity == "" {
		return nil, errkind.New(errkind.Usage, errors.New("lease lock: client, namespace, name and identity are required"))
	}
	leases := l.o.Client.CoordinationV1().Leases(l.o.Namespace)
	secs := int32((l.o.Duration + time.Second - 1) / time.Second)
	for attempt := 0; ; attempt++ {
		if attempt > 5 {
			return nil, l.fail("update", apierrors.NewConflict(coordinationv1.Resource("leases"), l.o.Name, errors.New("lease kept changing")))
		}
		now := l.o.Now()
		cur, err := leases.Get(ctx, l.o.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			transitions := int32(0)
			nl := &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: l.o.Name, Namespace: l.o.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "patrol"}},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity: &l.o.Identity, LeaseDurationSeconds: &secs,
					AcquireTime: microNow(now), RenewTime: microNow(now), LeaseTransitions: &transitions,
				},
			}
			l.annotate(&nl.ObjectMeta, now)
			created, err := leases.Create(ctx, nl, metav1.CreateOptions{FieldManager: "patrol"})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				return nil, l.fail("create", err)
			}
			return l.held(created), nil
		}
		if err != nil {
			return nil, l.fail("get", err)
		}
		holder := ""
		if cur.Spec.HolderIdentity != nil {
			holder = *cur.Spec.HolderIdentity
		}
		if holder != "" && holder != l.o.Identity {
			renewed, expires := l.expiry(cur)
			if now.Before(expires) {
				he := &LeaseHeldError{Lease: l.id(), Holder: holder, RenewedAt: renewed, ExpiresAt: expires, Info: holderInfo(cur)}
				if cur.Spec.AcquireTime != nil {
					he.AcquiredAt = cur.Spec.AcquireTime.Time
				}
				return nil, he
			}
			l.o.Logger.Warn("taking over expired lock lease", "lease", l.id(), "previous_holder", holder, "expired", expires)
		}
		next := cur.DeepCopy()
		if holder != l.o.Identity {
			t := int32(0)
			if next.Spec.LeaseTransitions != nil {
				t = *next.Spec.LeaseTransitions
			}
			if holder != "" {
				t++
			}
			next.Spec.LeaseTransitions = &t
			next.Spec.AcquireTime = microNow(now)
		}
		l.annotate(&next.ObjectMeta, now)
		next.Spec.HolderIdentity = &l.o.Identity
		next.Spec.LeaseDurationSeconds = &secs
		next.Spec.RenewTime = microNow(now)
		updated, err := leases.Update(ctx, next, metav1.UpdateOptions{FieldManager: "patrol"})
		if apierrors.IsConflict(err) {
			continue // someone changed it: re-read and judge again
		}
		if err != nil {
			return nil, l.fail("update", err)
		}
		return l.held(updated), nil
	}
}

func (l *lease) expiry(cur *coordinationv1.Lease) (renewed, expires time.Time) {
	switch {
	case cur.Spec.RenewTime != nil:
		renewed = cur.Spec.RenewTime.Time
	case cur.Spec.AcquireTime != nil:
		renewed = cur.Spec.AcquireTime.Time
	default:
		renewed = cur.CreationTimestamp.Time
	}
	d := l.o.Duration
	if cur.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*cur.Spec.LeaseDurationSeconds) * time.Second
	}
	return renewed, renewed.Add(d)
}

type heldLease struct {
	l      *lease
	mu     sync.Mutex
	cur    *coordinationv1.Lease
	lost   error
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

func (l *lease) held(cur *coordinationv1.Lease) func(context.Context) error {
	h := &heldLease{l: l, cur: cur, stop: make(chan struct{}), done: make(chan struct{})}
	go h.renewLoop()
	return h.release
}

func (h *heldLease) renewLoop() {
	defer close(h.done)
	t := time.NewTicker(h.l.o.RenewEvery)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			if err := h.renew(); err != nil {
				h.mu.Lock()
				h.lost = err
				h.mu.Unlock()
				h.l.o.Logger.Error("lost lock lease", "lease", h.l.id(), "err", err)
				return
			}
		}
	}
}

func (h *heldLease) renew() error {
	ctx, cancel := context.WithTimeout(context.Background(), h.l.o.RenewEvery)
	defer cancel()
	leases := h.l.o.Client.CoordinationV1().Leases(h.l.o.Namespace)
	h.mu.Lock()
	next := h.cur.DeepCopy()
	h.mu.Unlock()
	next.Spec.RenewTime = microNow(h.l.o.Now())
	updated, err := leases.Update(ctx, next, metav1.UpdateOptions{FieldManager: "patrol"})
	if apierrors.IsConflict(err) {
		// Re-read: still ours (e.g. a no-op write by someone else) → retry once.
		cur, gerr := leases.Get(ctx, h.l.o.Name, metav1.GetOptions{})
		if gerr != nil {
			return h.l.fail("get", gerr)
		}
		if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != h.l.o.Identity {
			holder := ""
			if cur.Spec.HolderIdentity != nil {
				holder = *cur.Spec.HolderIdentity
			}
			return fmt.Errorf("lock Lease %s was taken over by %q while this run held it (renewal too late); results of this run may overlap with another: %w", h.l.id(), holder, ErrHeld)
		}
		cur.Spec.RenewTime = microNow(h.l.o.Now())
		updated, err = leases.Update(ctx, cur, metav1.UpdateOptions{FieldManager: "patrol"})
	}
	if err != nil {
		if apierrors.IsConflict(err) {
			return h.l.fail("renew", err)
		}
		// Transient failure: keep the old state, try again next tick.
		h.l.o.Logger.Warn("renewing lock lease failed; will retry", "lease", h.l.id(), "err", err)
		return nil
	}
	h.mu.Lock()
	h.cur = updated
	h.mu.Unlock()
	return nil
}

func (h *heldLease) release(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	close(h.stop)
	<-h.done
	h.mu.Lock()
	lost := h.lost
	h.mu.Unlock()
	if lost != nil {
		return lost
	}
	leases := h.l.o.Client.CoordinationV1().Leases(h.l.o.Namespace)
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := leases.Get(ctx, h.l.o.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return h.l.fail("get", err)
		}
		if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity == "" {
			return nil // already free
		}
		if holder := *cur.Spec.HolderIdentity; holder != h.l.o.Identity {
			// Taken over (our lease expired before we finished): this run
			// may have overlapped with another. Leave the new holder alone.
			return fmt.Errorf("lock Lease %s was taken over by %q before this run released it (the run outlived leaseDuration); results may overlap with that run: %w", h.l.id(), holder, ErrHeld)
		}
		cur.Spec.HolderIdentity = nil
		cur.Spec.RenewTime = microNow(h.l.o.Now())
		unannotate(&cur.ObjectMeta)
		_, err = leases.Update(ctx, cur, metav1.UpdateOptions{FieldManager: "patrol"})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return h.l.fail("update", err)
		}
		return nil
	}
	return h.l.fail("update", errors.New("lease kept changing while releasing"))
}
