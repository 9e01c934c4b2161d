package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// EntraTokenReconciler reconciles EntraAccessTokens: it signs in with the
// identity, writes a fresh Entra access token for spec.scope into the
// target Secret and replaces it at expiresOn − renewBefore. It runs the
// rotation engine's entra-token refresh (the CronJob's kind entra-token) and
// shares everything else with the PersonalAccessToken reconciler it embeds:
// clients, clock, backoff, metrics, the target-Secret checks and the
// signed-in identities (one sign-in per identity serves both kinds). Entra
// tokens cannot be revoked, so there is no finalizer: a deleted
// EntraAccessToken leaves its Secret and last token to expire.
type EntraTokenReconciler struct {
	*PATReconciler
}

// entraCredentialName is the credential of an EntraAccessToken:
// entra_<namespace>.<name> ('_' is in no namespace, so it never equals a
// PersonalAccessToken's <namespace>.<name>), cut and hashed like those.
func entraCredentialName(namespace, name string) string {
	return credentialName("entra_"+namespace, name)
}

// Reconcile implements reconcile.Reconciler.
func (r *EntraTokenReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var eat patrolv1.EntraAccessToken
	if err := r.getLatest(ctx, req.NamespacedName, &eat); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.forget(entraCredentialName(req.Namespace, req.Name))
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if !eat.DeletionTimestamp.IsZero() {
		// Someone else's finalizer holds it: nothing of ours to clean up.
		return reconcile.Result{}, nil
	}
	orig := eat.DeepCopy()
	cred := entraCredentialName(eat.Namespace, eat.Name)
	eat.Status.CredentialName = cred
	res := r.refresh(ctx, &eat, cred, orig)
	eat.Status.ObservedGeneration = eat.Generation
	if err := r.Client.Status().Patch(ctx, &eat, client.MergeFrom(orig)); err != nil {
		if apierrors.IsNotFound(err) {
			// Deleted while this reconcile ran: drop what it recorded.
			r.Metrics.forget(cred)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	return res, nil
}

// refresh runs one entra-token refresh of eat's Secret and sets its status.
func (r *EntraTokenReconciler) refresh(ctx context.Context, eat *patrolv1.EntraAccessToken, cred string, orig *patrolv1.EntraAccessToken) reconcile.Result {
	start := time.Now()
	sp := eat.Spec
	id, err := r.resolveIdentity(ctx, eat.Namespace, sp.IdentityRef)
	if err != nil {
		return r.fail(eat, identityFailure(err), start)
	}
	if err := r.secretsReachable(id); err != nil {
		return r.fail(eat, failure{reason: patrolv1.ReasonInvalidSpec, msg: err.Error(), metric: "config"}, start)
	}
	acct, err := r.account(ctx, id)
	if err != nil {
		return r.fail(eat, accountFailure(err), start)
	}
	ts, err := acct.tokenSource(entraScope(eat))
	if err != nil {
		return r.fail(eat, failure{reason: patrolv1.ReasonIdentityInvalid, msg: redact.Error(err), metric: "config"}, start)
	}
	if err := r.checkTarget(ctx, eat.Namespace, sp.SecretTarget, cred); err != nil {
		return r.fail(eat, failure{reason: patrolv1.ReasonInvalidSpec, msg: err.Error(), metric: "config"}, start)
	}
	sk, err := r.secretSink(eat.Namespace, sp.SecretTarget)
	if err != nil {
		return r.fail(eat, failure{reason: patrolv1.ReasonInvalidSpec, msg: err.Error(), metric: "config"}, start)
	}
	c := config.Credential{Name: cred, Kind: config.KindEntraToken, RenewBefore: entraRenewBefore(sp)}
	eng := &rotation.Engine{PATs: acct.pats, Tokens: ts,
		Targets: []rotation.Target{{Credential: c, Sinks: []sink.Sink{sk}, Account: rotation.Account{Organization: id.spec.Organization, Identity: identityKey(id.kind, id.namespace, id.name)}}},
		Now:     r.Now, Logger: r.log(), Concurrency: 1, Hook: r.Hook}
	in, err := eng.Observe(ctx)
	if err != nil {
		return r.fail(eat, failure{reason: patrolv1.ReasonFailed, msg: redact.Error(err), metric: "read"}, start)
	}
	fp := entraFingerprint(eat, id)
	force, why := forcedRenewal(eat.Annotations, eat.Status.LastRenewRequest, eat.Status.IssuedFor, fp, "scope or identity")
	in.Force = force
	if force {
		// A renewal asked for is a new sign-in, not the token the
		// identity's sign-in has cached (which the Secret may hold).
		eng.Tokens = entra.ReuseTokenSource(ts, 0)
	}
	plan := rotation.MakePlan(in)
	it := plan.Items[0]
	issuing := it.Action == rotation.ActionRefresh
	if issuing {
		reason, msg := patrolv1.ReasonDue, "renewal time reached"
		switch {
		case force:
			reason, msg = patrolv1.ReasonRenewRequested, why
		case !held(it):
			reason, msg = patrolv1.ReasonMissing, "Secret "+sp.SecretTarget.Name+" holds no token yet"
		}
		setCondition(&eat.Status.Conditions, eat.Generation, patrolv1.ConditionIssuing, metav1.ConditionTrue, reason, msg+"; signing in for a new token")
		if err := r.Client.Status().Patch(ctx, eat, client.MergeFrom(orig)); err == nil {
			orig.Status = *eat.Status.DeepCopy()
		} else if apierrors.IsNotFound(err) {
			return reconcile.Result{} // deleted meanwhile: write no token to its Secret
		}
	}
	rep, now := r.apply(ctx, eng, plan)
	res := rep.Results[0]
	view := it
	if res.Rotated() {
		if after, err := eng.Observe(ctx); err == nil {
			view = rotation.MakePlan(after).Items[0]
		}
	}
	r.Metrics.record(rep, []rotation.Item{view}, now, time.Since(start))
	st := &eat.Status
	if exp := heldUntil(view); !exp.IsZero() {
		st.NotAfter = &metav1.Time{Time: exp}
		if !view.DueAt.IsZero() {
			st.RenewalTime = &metav1.Time{Time: view.DueAt}
		}
	}
	if res.Err != nil {
		return r.fail(eat, failure{reason: patrolv1.ReasonFailed, msg: failureMessage(res)}, start)
	}
	st.FailedIssuanceAttempts, st.LastFailure, st.LastFailureTime = 0, "", nil
	st.LastRenewRequest = eat.Annotations[patrolv1.AnnotationRenewNow]
	st.IssuedFor = fp
	if st.NotAfter == nil {
		setCondition(&st.Conditions, eat.Generation, patrolv1.ConditionReady, metav1.ConditionFalse, patrolv1.ReasonFailed, "the Secret's token could not be read back after the write")
		return reconcile.Result{RequeueAfter: r.Backoff.Delay(1)}
	}
	until := st.NotAfter.UTC().Format(time.RFC3339)
	if res.Rotated() {
		r.event(eat, corev1.EventTypeNormal, patrolv1.ReasonIssued, "Issue", "new access token for %s (valid until %s) written to Secret %s", entraScope(eat), until, sp.SecretTarget.Name)
		setCondition(&st.Conditions, eat.Generation, patrolv1.ConditionIssuing, metav1.ConditionFalse, patrolv1.ReasonIssued, "token issued and written, valid until "+until)
	} else if c := meta.FindStatusCondition(st.Conditions, patrolv1.ConditionIssuing); c == nil || c.Reason != patrolv1.ReasonIssued {
		setCondition(&st.Conditions, eat.Generation, patrolv1.ConditionIssuing, metav1.ConditionFalse, patrolv1.ReasonIssued, "the Secret's token is not due for renewal")
	}
	setCondition(&st.Conditions, eat.Generation, patrolv1.ConditionReady, metav1.ConditionTrue, patrolv1.ReasonReady,
		fmt.Sprintf("Secret %s holds an access token for %s, valid until %s", sp.SecretTarget.Name, entraScope(eat), until))
	return reconcile.Result{RequeueAfter: r.requeue(st.RenewalTime)}
}

// fail records a failed reconcile like PATReconciler.fail: lastFailure, the
// backoff, Issuing=False with the reason, Ready True only while the Secret
// still holds a token that has not expired (the last good token is kept),
// and a Warning Event.
func (r *EntraTokenReconciler) fail(eat *patrolv1.EntraAccessToken, f failure, start time.Time) reconcile.Result {
	st := &eat.Status
	now, delay, retry := r.attemptFailed(&st.FailedIssuanceAttempts, &st.LastFailure, &st.LastFailureTime, entraCredentialName(eat.Namespace, eat.Name), config.KindEntraToken, f, start)
	setCondition(&st.Conditions, eat.Generation, patrolv1.ConditionIssuing, metav1.ConditionFalse, f.reason, retry)
	valid := st.NotAfter != nil && now.Before(st.NotAfter.Time)
	switch {
	case valid && f.reason == patrolv1.ReasonFailed:
		setCondition(&st.Conditions, eat.Generation, patrolv1.ConditionReady, metav1.ConditionTrue, patrolv1.ReasonReady,
			fmt.Sprintf("Secret %s still holds a token valid until %s; the last attempt failed (see Issuing and lastFailure)", eat.Spec.SecretTarget.Name, st.NotAfter.UTC().Format(time.RFC3339)))
	case st.NotAfter != nil && !valid:
		setCondition(&st.Conditions, eat.Generation, patrolv1.ConditionReady, metav1.ConditionFalse, patrolv1.ReasonExpired, retry)
	default:
		setCondition(&st.Conditions, eat.Generation, patrolv1.ConditionReady, metav1.ConditionFalse, f.reason, retry)
	}
	r.event(eat, corev1.EventTypeWarning, f.reason, "Issue", "%s", retry)
	r.log().Warn("EntraAccessToken failed", slog.String("namespace", eat.Namespace), slog.String("name", eat.Name),
		slog.String("reason", f.reason), slog.String("error", f.msg), slog.Duration("retry", delay))
	// Retry sooner than the backoff when the token would expire first.
	if valid {
		delay = min(delay, max(st.NotAfter.Sub(now)/2, time.Second))
	}
	return reconcile.Result{RequeueAfter: delay}
}

// held reports whether the plan saw a token in the Secret.
func held(it rotation.Item) bool {
	for _, s := range it.Sinks {
		if s.Status != "missing" {
			return true
		}
	}
	return false
}

// heldUntil is when the token the Secret holds expires (zero: none).
func heldUntil(it rotation.Item) time.Time {
	var t time.Time
	for _, s := range it.Sinks {
		if s.Status != "missing" && !s.ValidTo.IsZero() && (t.IsZero() || s.ValidTo.Before(t)) {
			t = s.ValidTo
		}
	}
	return t
}

func entraScope(eat *patrolv1.EntraAccessToken) string {
	if eat.Spec.Scope == "" {
		return patrolv1.DefaultEntraScope
	}
	return eat.Spec.Scope
}

// entraRenewBefore is spec.renewBefore or renewBeforePercentage; default a
// third of the token's lifetime (as the CronJob's kind entra-token).
func entraRenewBefore(sp patrolv1.EntraAccessTokenSpec) config.RenewBefore {
	switch {
	case sp.RenewBefore != nil:
		return config.RenewBefore{Duration: sp.RenewBefore.Duration}
	case sp.RenewBeforePercentage != nil:
		return config.RenewBefore{Percent: float64(*sp.RenewBeforePercentage)}
	}
	return config.RenewBefore{Percent: config.DefaultRenewBeforePercent}
}

// entraFingerprint covers what a token was issued for: the scope and who
// signs in (the identity and its principal: method, tenant, client, user,
// authority). A change replaces the token at once; other identity edits
// (and its deletion, which bumps its generation) do not.
func entraFingerprint(eat *patrolv1.EntraAccessToken, id identity) string {
	sp := id.spec
	authority := ""
	if sp.Endpoints != nil {
		authority = sp.Endpoints.AuthorityHost
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%s|%s|%s|%s|%s|%s|%s|%s", strings.ToLower(entraScope(eat)), id.kind, id.name, id.uid,
		sp.Method, sp.TenantID, sp.ClientID, strings.ToLower(sp.Username), sp.ManagedIdentityClientID, authority))
	return hex.EncodeToString(h[:8])
}

// scopedTokens caches an account's token sources of scopes other than
// Azure DevOps' (one sign-in cache per scope).
type scopedTokens struct {
	mu sync.Mutex
	m  map[string]entra.TokenSource
}

// tokenSource is the account's sign-in for scope: the one its Azure DevOps
// client uses for api.Scope, else one built from the same options.
func (a *account) tokenSource(scope string) (entra.TokenSource, error) {
	if scope == "" || strings.EqualFold(scope, api.Scope) {
		return a.ts, nil
	}
	key := strings.ToLower(scope)
	a.scoped.mu.Lock()
	defer a.scoped.mu.Unlock()
	if ts := a.scoped.m[key]; ts != nil {
		return ts, nil
	}
	o := a.signIn
	o.Scope = scope
	ts, err := entra.New(o)
	if err != nil {
		return nil, err
	}
	if a.scoped.m == nil {
		a.scoped.m = map[string]entra.TokenSource{}
	}
	a.scoped.m[key] = ts
	return ts, nil
}
