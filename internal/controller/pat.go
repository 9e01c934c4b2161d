package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Finalizers.
const (
	// FinalizerRevoke is on every PersonalAccessToken: its deletion revokes
	// the managed PATs first (deletionPolicy Revoke).
	FinalizerRevoke = "patrol.dev/revoke"
	// FinalizerInUse is on every identity: its deletion waits until no
	// PersonalAccessToken references it.
	FinalizerInUse = "patrol.dev/in-use"
)

// Backoff is the retry delay after consecutive failures: Base·2^(n-1),
// at most Max.
type Backoff struct{ Base, Max time.Duration }

// DefaultBackoff: 30s, 1m, 2m, … capped at 1h.
var DefaultBackoff = Backoff{Base: 30 * time.Second, Max: time.Hour}

// Delay after n consecutive failures (n ≥ 1).
func (b Backoff) Delay(n int32) time.Duration {
	if b.Base <= 0 {
		b = DefaultBackoff
	}
	d := b.Base
	for i := int32(1); i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// DefaultResync bounds the wait between two reconciles of a healthy
// PersonalAccessToken, long before the renewal time: a safety net behind
// the Secret watches (secretwatch.go), which repair a target Secret edited
// or deleted by hand within seconds.
const DefaultResync = time.Hour

// PATReconciler reconciles PersonalAccessTokens.
type PATReconciler struct {
	Client client.Client
	// APIReader reads Secrets uncached (only their metadata is watched).
	APIReader client.Reader
	// Kube is the clientset of the kubernetes-secret sink.
	Kube kubernetes.Interface
	// Recorder records Events regarding the PersonalAccessToken.
	Recorder events.EventRecorder
	// ClusterResourceNamespace holds the Secrets of ClusterAzureDevOpsIdentities.
	ClusterResourceNamespace string
	// HTTPClient for Entra and Azure DevOps (nil: internal/httpx defaults);
	// an identity with endpoints.caBundleRef gets its own.
	HTTPClient *http.Client
	// Version for the User-Agent.
	Version string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Logger (nil: discard).
	Logger *slog.Logger
	// OrphanAge (0: config.DefaultOrphanAge).
	OrphanAge time.Duration
	// Backoff after failures (zero: DefaultBackoff).
	Backoff Backoff
	// Resync is the longest wait between reconciles (0: DefaultResync).
	Resync time.Duration
	// Hook runs after each step of Apply (tests: rotation.ErrCrash
	// simulates a crash there).
	Hook func(rotation.HookEvent) error
	// Metrics receives every reconcile's outcome (nil: none).
	Metrics *Metrics
	// AllowedHosts are the hosts identities' endpoints may name (nil:
	// DefaultAllowedEndpointHosts).
	AllowedHosts *HostAllowList
	// AllowedSinkHosts are the hosts spec.sinks of kind keyVault and http
	// may deliver to (nil: DefaultAllowedSinkHosts).
	AllowedSinkHosts *HostAllowList

	accts  accounts
	creds  sinkCreds    // Key Vault sign-ins of spec.sinks (sinks.go)
	copies targetCopies // last good target Secrets (restore.go)
}

func (r *PATReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *PATReconciler) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Reconcile implements reconcile.Reconciler.
func (r *PATReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var pat patrolv1.PersonalAccessToken
	if err := r.getLatest(ctx, req.NamespacedName, &pat); err != nil {
		if apierrors.IsNotFound(err) {
			r.gone(credentialName(req.Namespace, req.Name))
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	cred := credentialName(pat.Namespace, pat.Name)
	if !pat.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, &pat, cred)
	}
	if !controllerutil.ContainsFinalizer(&pat, FinalizerRevoke) {
		controllerutil.AddFinalizer(&pat, FinalizerRevoke)
		if err := r.Client.Update(ctx, &pat); err != nil {
			return reconcile.Result{}, err
		}
	}
	orig := pat.DeepCopy()
	pat.Status.CredentialName = cred
	res := r.issue(ctx, &pat, cred, orig)
	pat.Status.ObservedGeneration = pat.Generation
	if err := r.Client.Status().Patch(ctx, &pat, client.MergeFrom(orig)); err != nil {
		if apierrors.IsNotFound(err) {
			// Deleted while this reconcile ran (its finalizer dropped
			// meanwhile): what it recorded is of an object that is gone.
			r.gone(cred)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	return res, nil
}

// gone forgets credential cred of a PersonalAccessToken that no longer
// exists: its series and the last good copy of its Secret.
func (r *PATReconciler) gone(cred string) {
	r.Metrics.forget(cred)
	r.copies.drop(cred)
}

// failure is a failed reconcile: its condition reason and message.
type failure struct {
	reason, msg string
	// metric is the failure reason of patrol_failures_total ("" = none recorded).
	metric string
}

// issue runs one rotation of pat's credential and sets its status.
func (r *PATReconciler) issue(ctx context.Context, pat *patrolv1.PersonalAccessToken, cred string, orig *patrolv1.PersonalAccessToken) reconcile.Result {
	start := time.Now()
	id, err := r.getIdentity(ctx, pat)
	if err != nil {
		return r.fail(ctx, pat, identityFailure(err), start)
	}
	c, err := r.credential(pat, cred, id)
	if err != nil {
		return r.fail(ctx, pat, failure{reason: patrolv1.ReasonInvalidSpec, msg: err.Error(), metric: "config"}, start)
	}
	acct, err := r.account(ctx, id)
	if err != nil {
		return r.fail(ctx, pat, accountFailure(err), start)
	}
	if err := r.checkTarget(ctx, pat.Namespace, pat.Spec.SecretTarget, cred); err != nil {
		return r.fail(ctx, pat, failure{reason: patrolv1.ReasonInvalidSpec, msg: err.Error(), metric: "config"}, start)
	}
	sk, err := r.secretSink(pat.Namespace, pat.Spec.SecretTarget)
	if err != nil {
		return r.fail(ctx, pat, failure{reason: patrolv1.ReasonInvalidSpec, msg: err.Error(), metric: "config"}, start)
	}
	initSinkStatus(pat)
	state := &sinkState{r: r, pat: pat, orig: orig}
	further, err := r.buildSinks(ctx, pat, acct, id, state)
	if err != nil {
		reason := patrolv1.ReasonInvalidSpec
		var nae *SinkHostNotAllowedError
		if errors.As(err, &nae) {
			reason = patrolv1.ReasonEndpointNotAllowed
		}
		return r.fail(ctx, pat, failure{reason: reason, msg: err.Error(), metric: "config"}, start)
	}
	// A target Secret deleted or edited by hand gets its last good PAT back
	// (restore.go) before the engine would replace it.
	if f, ok := r.restoreTarget(ctx, pat, cred, acct); !ok {
		return r.fail(ctx, pat, f, start)
	}
	sks := append([]sink.Sink{sk}, further...)
	eng := &rotation.Engine{PATs: acct.pats, Targets: []rotation.Target{{Credential: c, Sinks: sks, Account: rotation.Account{Organization: id.spec.Organization, Identity: identityKey(id.kind, id.namespace, id.name)}}},
		Now: r.Now, Logger: r.log(), Concurrency: 1, OrphanAge: r.OrphanAge, Hook: r.Hook, ResultsShown: false, Reverify: reverify(pat, cred)}
	in, err := eng.Observe(ctx)
	if err != nil {
		f := failure{reason: patrolv1.ReasonFailed, msg: redact.Error(err), metric: "list"}
		r.Metrics.record(rotation.Report{Results: []rotation.Result{{Credential: cred, Kind: config.KindPAT, Action: rotation.ActionFail, Err: err, Reason: "list"}}},
			rotation.PlanUnlisted(in, err).Items, r.now(), time.Since(start))
		return r.fail(ctx, pat, f, start)
	}
	fp := fingerprint(pat, id)
	force, why := r.forced(pat, fp)
	in.Force = force
	plan := rotation.MakePlan(in)
	it := plan.Items[0]
	issuing := it.Action == rotation.ActionCreate || it.Action == rotation.ActionRenew
	if issuing {
		reason, msg := patrolv1.ReasonDue, "renewal time reached ("+strings.Join(it.Reasons, "; ")+")"
		switch {
		case force:
			reason, msg = patrolv1.ReasonRenewRequested, why
		case it.Action == rotation.ActionCreate:
			reason, msg = patrolv1.ReasonMissing, "Secret "+pat.Spec.SecretTarget.Name+" holds no PAT yet"
		case it.Current == nil && len(pat.Spec.Sinks) > 0:
			msg = "the Secret and spec.sinks do not all hold one current PAT (" + strings.Join(it.Reasons, "; ") + ")"
		}
		r.setCond(pat, patrolv1.ConditionIssuing, metav1.ConditionTrue, reason, msg+"; creating a new PAT")
		// Show Issuing while the PAT is created and delivered.
		if err := r.Client.Status().Patch(ctx, pat, client.MergeFrom(orig)); err == nil {
			orig.Status = *pat.Status.DeepCopy()
		} else if apierrors.IsNotFound(err) {
			return reconcile.Result{} // gone meanwhile: create no PAT for it
		}
	}
	rep, now := r.apply(ctx, eng, plan)
	res := rep.Results[0]
	// What the Secret holds now (after a rotation, observed again; with
	// spec.sinks also after a delivery that failed at some of them).
	view := it
	delivered := issuing && len(res.Sinks) > 0 && len(pat.Spec.Sinks) > 0
	if res.Rotated() || len(res.Revoked) > 0 || delivered {
		if after, err := eng.Observe(ctx); err == nil {
			after.Force = false
			view = rotation.MakePlan(after).Items[0]
		}
	} else if force {
		in.Force = false
		view = rotation.MakePlan(in).Items[0]
	}
	r.Metrics.record(rep, []rotation.Item{view}, now, time.Since(start))
	r.setHeld(pat, view)
	recordSinks(pat, sks, view, res, now)
	if res.Err != nil {
		if f := sinkFailure(pat, sks, it, res); f != nil {
			if issuing && anyWritten(res) {
				// The renewal was acted on: a new PAT is out. Further
				// attempts bring the sinks in line (they disagree) or verify
				// again (reverify) rather than issue PAT after PAT.
				pat.Status.LastRenewRequest, pat.Status.IssuedFor = pat.Annotations[patrolv1.AnnotationRenewNow], fp
			}
			return r.fail(ctx, pat, *f, start)
		}
		return r.fail(ctx, pat, failure{reason: patrolv1.ReasonFailed, msg: failureMessage(res)}, start)
	}
	st := &pat.Status
	st.FailedIssuanceAttempts, st.LastFailure, st.LastFailureTime = 0, "", nil
	st.LastRenewRequest = pat.Annotations[patrolv1.AnnotationRenewNow]
	st.IssuedFor = fp
	if res.Rotated() {
		r.event(pat, corev1.EventTypeNormal, patrolv1.ReasonIssued, "Issue", "new PAT %s (valid until %s) delivered to Secret %s", res.AuthorizationID, res.ValidTo.Format(time.RFC3339), pat.Spec.SecretTarget.Name)
	}
	if len(res.Revoked) > 0 {
		r.event(pat, corev1.EventTypeNormal, "Revoked", "Revoke", "revoked the replaced PAT(s) %s", strings.Join(res.Revoked, ", "))
	}
	if issuing {
		r.setCond(pat, patrolv1.ConditionIssuing, metav1.ConditionFalse, patrolv1.ReasonIssued, fmt.Sprintf("PAT %s issued and delivered", res.AuthorizationID))
	} else if c := meta.FindStatusCondition(st.Conditions, patrolv1.ConditionIssuing); c == nil || c.Reason != patrolv1.ReasonIssued {
		msg := "the Secret's PAT is not due for renewal"
		if view.DueAt.After(now) {
			msg += " until " + view.DueAt.UTC().Format(time.RFC3339)
		}
		r.setCond(pat, patrolv1.ConditionIssuing, metav1.ConditionFalse, patrolv1.ReasonIssued, msg)
	}
	if st.AuthorizationID == "" || st.NotAfter == nil {
		// Delivered, but the sink does not say what it holds (should not happen).
		r.setCond(pat, patrolv1.ConditionReady, metav1.ConditionFalse, patrolv1.ReasonFailed, "the Secret's PAT could not be identified after delivery: "+strings.Join(view.Reasons, "; "))
		return reconcile.Result{RequeueAfter: r.Backoff.Delay(1)}
	}
	r.rememberTarget(ctx, pat, cred, st.AuthorizationID, res.Rotated())
	r.setCond(pat, patrolv1.ConditionReady, metav1.ConditionTrue, patrolv1.ReasonReady,
		fmt.Sprintf("Secret %s holds PAT %s, valid until %s", pat.Spec.SecretTarget.Name, st.AuthorizationID, st.NotAfter.UTC().Format(time.RFC3339)))
	return reconcile.Result{RequeueAfter: r.requeue(st.RenewalTime)}
}

// requeue is the wait until the renewal time, at most Resync, at least 1s.
func (r *PATReconciler) requeue(at *metav1.Time) time.Duration {
	resync := r.Resync
	if resync <= 0 {
		resync = DefaultResync
	}
	if at == nil {
		return resync
	}
	return max(min(at.Sub(r.now()), resync), time.Second)
}

// setHeld records what the Secret holds (authorizationId, notAfter, renewalTime).
func (r *PATReconciler) setHeld(pat *patrolv1.PersonalAccessToken, it rotation.Item) {
	st := &pat.Status
	if it.Current == nil {
		// The sinks disagree (a delivery failed at one of spec.sinks): the
		// Secret (sink 0) may still say which PAT it holds.
		if len(it.Sinks) > 0 && (it.Sinks[0].Status == "ok" || it.Sinks[0].Status == "behind") && it.Sinks[0].Holds != "" && !it.Sinks[0].ValidTo.IsZero() {
			st.AuthorizationID, st.NotAfter = it.Sinks[0].Holds, &metav1.Time{Time: it.Sinks[0].ValidTo}
		}
		return
	}
	st.AuthorizationID = it.Current.AuthorizationID
	st.NotAfter = &metav1.Time{Time: it.Current.ValidTo}
	if !it.DueAt.IsZero() {
		st.RenewalTime = &metav1.Time{Time: it.DueAt}
	}
}

// failureMessage is one line on a failed result.
func failureMessage(res rotation.Result) string {
	msg := res.Error
	if res.Reason != "" {
		msg = res.Reason + ": " + msg
	}
	if len(res.Kept) > 0 {
		msg += "; kept " + strings.Join(res.Kept, ", ")
	}
	return msg
}

// fail records a failed reconcile: lastFailure, the backoff, the
// conditions (Ready stays True while the Secret holds a PAT that is still
// valid: the last good credential is kept) and a Warning Event.
func (r *PATReconciler) fail(ctx context.Context, pat *patrolv1.PersonalAccessToken, f failure, start time.Time) reconcile.Result {
	st := &pat.Status
	now, delay, retry := r.attemptFailed(&st.FailedIssuanceAttempts, &st.LastFailure, &st.LastFailureTime, credentialName(pat.Namespace, pat.Name), config.KindPAT, f, start)
	// Issuing says the last attempt failed, whether or not it got as far as
	// creating a PAT (a failed sign-in stops it before the plan).
	r.setCond(pat, patrolv1.ConditionIssuing, metav1.ConditionFalse, f.reason, retry)
	if st.NotAfter != nil && now.Before(st.NotAfter.Time) && st.AuthorizationID != "" && f.reason == patrolv1.ReasonFailed {
		r.setCond(pat, patrolv1.ConditionReady, metav1.ConditionTrue, patrolv1.ReasonReady,
			fmt.Sprintf("Secret %s still holds PAT %s, valid until %s; the last attempt failed (see Issuing and lastFailure)", pat.Spec.SecretTarget.Name, st.AuthorizationID, st.NotAfter.UTC().Format(time.RFC3339)))
	} else {
		reason := f.reason
		if st.NotAfter != nil && !now.Before(st.NotAfter.Time) {
			reason = patrolv1.ReasonExpired
		}
		r.setCond(pat, patrolv1.ConditionReady, metav1.ConditionFalse, reason, retry)
	}
	r.event(pat, corev1.EventTypeWarning, f.reason, "Issue", "%s", retry)
	r.log().Warn("PersonalAccessToken failed", slog.String("namespace", pat.Namespace), slog.String("name", pat.Name),
		slog.String("reason", f.reason), slog.String("error", f.msg), slog.Duration("retry", delay))
	_ = ctx
	return reconcile.Result{RequeueAfter: delay}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func (r *PATReconciler) setCond(pat *patrolv1.PersonalAccessToken, typ string, status metav1.ConditionStatus, reason, msg string) {
	setCondition(&pat.Status.Conditions, pat.Generation, typ, status, reason, msg)
}

// event records an Event regarding obj (a PersonalAccessToken or an EntraAccessToken).
func (r *PATReconciler) event(obj runtime.Object, typ, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, typ, reason, action, truncate(fmt.Sprintf(note, args...), 1000))
	}
}

// forced says whether this reconcile renews even if not due: the
// patrol.dev/renew-now annotation has a value not acted on yet, or the
// spec the PAT was issued for changed.
func (r *PATReconciler) forced(pat *patrolv1.PersonalAccessToken, fp string) (bool, string) {
	return forcedRenewal(pat.Annotations, pat.Status.LastRenewRequest, pat.Status.IssuedFor, fp, "scopes, lifetime or identity")
}

// fingerprint covers what a PAT was issued for: a change renews it.
func fingerprint(pat *patrolv1.PersonalAccessToken, id identity) string {
	sc := make([]string, 0, len(pat.Spec.Scopes))
	for _, s := range pat.Spec.Scopes {
		sc = append(sc, strings.ToLower(string(s)))
	}
	slices.Sort(sc)
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%t|%s|%s|%s", strings.Join(sc, " "), lifetime(pat), pat.Spec.AllowFullAccess, id.kind, id.name, strings.ToLower(id.spec.Organization)))
	return hex.EncodeToString(h[:8])
}

func lifetime(pat *patrolv1.PersonalAccessToken) time.Duration {
	if pat.Spec.Lifetime == nil {
		return config.DefaultLifetime.D()
	}
	return pat.Spec.Lifetime.Duration
}

// credential is the rotation credential of pat, checked as patrol.yaml's
// credentials are (what admission could not check).
func (r *PATReconciler) credential(pat *patrolv1.PersonalAccessToken, name string, id identity) (config.Credential, error) {
	sp := pat.Spec
	c := config.Credential{Name: name, Kind: config.KindPAT, Lifetime: config.DefaultLifetime,
		AllowFullAccess: sp.AllowFullAccess, AllOrgs: sp.AllOrgs, Organization: id.spec.Organization}
	if sp.Lifetime != nil {
		c.Lifetime = config.Duration(sp.Lifetime.Duration)
	}
	for _, s := range sp.Scopes {
		c.Scopes = append(c.Scopes, string(s))
	}
	switch {
	case sp.RenewBefore != nil:
		c.RenewBefore = config.RenewBefore{Duration: sp.RenewBefore.Duration}
	case sp.RenewBeforePercentage != nil:
		c.RenewBefore = config.RenewBefore{Percent: float64(*sp.RenewBeforePercentage)}
	default:
		c.RenewBefore = config.RenewBefore{Percent: config.DefaultRenewBeforePercent}
	}
	if c.AllOrgs && api.GlobalPATsRetired(r.now()) {
		return c, errors.New("spec.allOrgs: " + api.GlobalPATRetiredAdvice)
	}
	if c.Lifetime < config.MinLifetime || c.Lifetime > config.MaxLifetime {
		return c, fmt.Errorf("spec.lifetime %s is out of range %s..%s", c.Lifetime, config.MinLifetime, config.MaxLifetime)
	}
	if rb := c.RenewBefore.Duration; rb >= c.Lifetime.D() {
		return c, fmt.Errorf("spec.renewBefore %s is not shorter than spec.lifetime %s", rb, c.Lifetime)
	}
	opts := []devops.ScopeOption{}
	if c.AllowFullAccess {
		opts = append(opts, devops.AllowFullAccess())
	}
	if _, err := devops.ParseScopes(c.Scopes, opts...); err != nil {
		return c, fmt.Errorf("spec.scopes: %w", err)
	}
	return c, r.secretsReachable(id)
}

func needsSecret(sp patrolv1.AzureDevOpsIdentitySpec) bool {
	return sp.PasswordRef != nil || sp.ClientSecretRef != nil || sp.CertificateRef != nil || sp.CertificatePasswordRef != nil || caRef(sp.Endpoints) != nil
}

// checkTarget refuses a target Secret t (in namespace ns) that is not
// credential cred's to write: one another credential manages (two
// PersonalAccessTokens would replace each other's PAT), one of a type other
// than Opaque, or one that already holds data under the key that patrol did
// not write (a PersonalAccessToken or EntraAccessToken must not take over,
// say, another application's token). A missing Secret, or one without that
// key (pre-created empty), is fine.
func (r *PATReconciler) checkTarget(ctx context.Context, ns string, t patrolv1.SecretTarget, cred string) error {
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: t.Name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("read target Secret %s: %w", t.Name, err)
	}
	owner := s.Annotations[sink.AnnotationCredential]
	key := t.Key
	if key == "" {
		key = "token"
	}
	switch {
	case owner != "" && !strings.EqualFold(owner, cred):
		return fmt.Errorf("Secret %s is managed by credential %s (annotation %s); point spec.secretTarget.name at another Secret", t.Name, owner, sink.AnnotationCredential)
	case s.Type != "" && s.Type != corev1.SecretTypeOpaque:
		return fmt.Errorf("Secret %s has type %s; patrol writes Opaque Secrets only", t.Name, s.Type)
	case owner == "" && len(s.Data[key]) > 0:
		return fmt.Errorf("Secret %s already holds a value under %q that patrol did not write; delete it, or annotate the Secret %s=%s to hand it over", t.Name, key, sink.AnnotationCredential, cred)
	}
	return nil
}

// secretSink is the kubernetes-secret sink of target Secret t in namespace ns.
func (r *PATReconciler) secretSink(ns string, t patrolv1.SecretTarget) (sink.Sink, error) {
	return sink.NewKubernetesSecret(sink.KubernetesSecretOptions{
		Client: r.Kube, Namespace: ns, Name: t.Name, Key: t.Key,
		AuthorizationIDKey: t.AuthorizationIDKey, ValidToKey: t.ValidToKey,
		Labels: t.Labels, Annotations: t.Annotations, Templates: t.Templates, Create: true, Logger: r.log(),
	})
}

// finalize handles a deleted PersonalAccessToken: revoke its managed PATs
// (deletionPolicy Revoke) and drop the finalizer.
func (r *PATReconciler) finalize(ctx context.Context, pat *patrolv1.PersonalAccessToken, cred string) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(pat, FinalizerRevoke) {
		return reconcile.Result{}, nil
	}
	if pat.Spec.DeletionPolicy == patrolv1.DeletionPolicyRetain {
		r.event(pat, corev1.EventTypeNormal, "Retained", "Delete", "deletionPolicy Retain: the PATs of credential %s are left to expire", cred)
		return reconcile.Result{}, r.dropFinalizer(ctx, pat, cred)
	}
	orig := pat.DeepCopy()
	n, err := r.revokeAll(ctx, pat, cred)
	if err != nil {
		var me *IdentityMissingError
		if errors.As(err, &me) && pat.Status.AuthorizationID == "" {
			// Never issued: nothing to revoke.
			return reconcile.Result{}, r.dropFinalizer(ctx, pat, cred)
		}
		pat.Status.FailedIssuanceAttempts++
		delay := r.Backoff.Delay(pat.Status.FailedIssuanceAttempts)
		msg := fmt.Sprintf("deletion waits until the PATs of credential %s are revoked: %s; retrying in %s (or set spec.deletionPolicy: Retain to leave them)", cred, redact.Error(err), delay)
		pat.Status.LastFailure, pat.Status.LastFailureTime = truncate(msg, 1024), &metav1.Time{Time: r.now()}
		r.setCond(pat, patrolv1.ConditionReady, metav1.ConditionFalse, patrolv1.ReasonRevoking, msg)
		r.event(pat, corev1.EventTypeWarning, patrolv1.ReasonRevoking, "Delete", "%s", msg)
		if perr := r.Client.Status().Patch(ctx, pat, client.MergeFrom(orig)); perr != nil {
			return reconcile.Result{}, perr
		}
		return reconcile.Result{RequeueAfter: delay}, nil
	}
	r.event(pat, corev1.EventTypeNormal, "Revoked", "Delete", "revoked %d PAT(s) of credential %s", n, cred)
	return reconcile.Result{}, r.dropFinalizer(ctx, pat, cred)
}

func (r *PATReconciler) dropFinalizer(ctx context.Context, pat *patrolv1.PersonalAccessToken, cred string) error {
	// Forgotten before the object goes, so that whoever sees it gone sees
	// none of its series either (a failed Update runs the finalizer again,
	// and a deleted PersonalAccessToken records nothing meanwhile).
	r.gone(cred)
	controllerutil.RemoveFinalizer(pat, FinalizerRevoke)
	if err := r.Client.Update(ctx, pat); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// revokeAll revokes every active managed PAT of credential cred (also an
// orphan of a crashed reconcile), returning how many were revoked.
func (r *PATReconciler) revokeAll(ctx context.Context, pat *patrolv1.PersonalAccessToken, cred string) (int, error) {
	id, err := r.getIdentity(ctx, pat)
	if err != nil {
		return 0, err
	}
	acct, err := r.account(ctx, id)
	if err != nil {
		// A namespace being deleted may lose the identity's Secrets before
		// its PersonalAccessTokens: revoke with the sign-in still cached.
		if acct = r.cachedAccount(id); acct == nil {
			return 0, err
		}
	}
	var ids []string
	for p, err := range acct.pats.ListPATs(ctx, devops.ListOptions{Filter: api.FilterActive}) {
		if err != nil {
			return 0, fmt.Errorf("list PATs: %w", err)
		}
		if c, _, ok := rotation.ParseDisplayName(p.DisplayName); ok && strings.EqualFold(c, cred) {
			ids = append(ids, p.AuthorizationID)
		}
	}
	for _, aid := range ids {
		if err := acct.pats.RevokePAT(ctx, aid); err != nil && errkind.Of(err) != errkind.NotFound {
			return 0, fmt.Errorf("revoke PAT %s: %w", aid, err)
		}
	}
	return len(ids), nil
}
