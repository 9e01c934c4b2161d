package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/rotation"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// What the PersonalAccessToken and EntraAccessToken reconcilers share
// besides the PATReconciler's methods (identity.go, pat.go).

// getLatest reads the reconciled object (a PersonalAccessToken or an
// EntraAccessToken) as the API server holds it now, through the APIReader,
// not the cache's copy. The cache lags behind the reconciler's own writes:
// a reconcile woken by another watch (the identity's deletion, a Secret)
// can run before the informer has the status patches of the reconcile
// before it, or the object's deletion. Working from such a copy, a
// reconcile would act on a renew-now request again (its lastRenewRequest
// not there yet), take an http sink's delivery record (status.sinks) for
// missing and re-deliver, or issue a credential for an object already
// deleted (its PATs revoked, the finalizer gone) and export its series
// again after Metrics.forget. One GET per reconcile: reconciles run at
// events and at the renewal time or resync, not in a loop.
func (r *PATReconciler) getLatest(ctx context.Context, key client.ObjectKey, obj client.Object) error {
	if r.APIReader == nil {
		return r.Client.Get(ctx, key, obj)
	}
	return r.APIReader.Get(ctx, key, obj)
}

// identityFailure is the failure of an identity that cannot be read:
// IdentityMissing when none has that name, else IdentityInvalid.
func identityFailure(err error) failure {
	reason := patrolv1.ReasonIdentityInvalid
	var me *IdentityMissingError
	if errors.As(err, &me) {
		reason = patrolv1.ReasonIdentityMissing
	}
	return failure{reason: reason, msg: err.Error(), metric: "config"}
}

// accountFailure is the failure of an identity that cannot sign in:
// EndpointNotAllowed when its endpoints name a host outside the allow-list,
// else IdentityInvalid.
func accountFailure(err error) failure {
	reason := patrolv1.ReasonIdentityInvalid
	if endpointNotAllowed(err) {
		reason = patrolv1.ReasonEndpointNotAllowed
	}
	return failure{reason: reason, msg: redact.Error(err), metric: "config"}
}

// setCondition sets one condition of an object of generation gen.
func setCondition(conds *[]metav1.Condition, gen int64, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason,
		Message: truncate(msg, 32768), ObservedGeneration: gen})
}

// forcedRenewal: renew-now has a value other than last (the one acted on),
// or the fingerprint fp of the spec differs from issuedFor (what changes
// it: fields).
func forcedRenewal(annotations map[string]string, last, issuedFor, fp, fields string) (bool, string) {
	if v := annotations[patrolv1.AnnotationRenewNow]; v != "" && v != last {
		return true, fmt.Sprintf("renewal requested (annotation %s=%q)", patrolv1.AnnotationRenewNow, v)
	}
	if issuedFor != "" && issuedFor != fp {
		return true, "the spec changed (" + fields + ")"
	}
	return false, ""
}

// secretsReachable refuses a ClusterAzureDevOpsIdentity that references
// Secrets when the controller has no namespace to read them from.
func (r *PATReconciler) secretsReachable(id identity) error {
	if id.kind == kindCluster && r.ClusterResourceNamespace == "" && needsSecret(id.spec) {
		return fmt.Errorf("%s references Secrets, but the controller has no cluster resource namespace (--cluster-resource-namespace)", id)
	}
	return nil
}

// apply runs plan and records its outcome on the sinks (the Secret's
// patrol.dev/last-result annotations and Events); now is when it ended.
func (r *PATReconciler) apply(ctx context.Context, eng *rotation.Engine, plan rotation.Plan) (rotation.Report, time.Time) {
	rep := eng.Apply(ctx, plan)
	now := r.now()
	for _, err := range eng.ReportOutcomes(ctx, rep, now) {
		r.log().Warn("outcome not recorded on the Secret", slog.String("error", redact.Error(err)))
	}
	return rep, now
}

// attemptFailed counts failure f of credential cred (kind) in a status
// (failed attempts, lastFailure and its time) and its metrics; it returns
// the time, the backoff delay and the condition message saying when the
// next attempt is.
func (r *PATReconciler) attemptFailed(failed *int32, last *string, at **metav1.Time, cred, kind string, f failure, start time.Time) (time.Time, time.Duration, string) {
	now := r.now()
	*failed++
	*last = truncate(f.msg, 1024)
	*at = &metav1.Time{Time: now}
	if f.metric != "" {
		r.Metrics.recordFailure(cred, kind, f.metric, f.msg, now, time.Since(start))
	}
	delay := r.Backoff.Delay(*failed)
	return now, delay, fmt.Sprintf("%s; attempt %d failed, retrying in %s", truncate(f.msg, 900), *failed, delay)
}
