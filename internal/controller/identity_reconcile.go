package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// indexIdentity indexes PersonalAccessTokens and EntraAccessTokens by the
// identity they reference: "AzureDevOpsIdentity/<namespace>/<name>" or
// "ClusterAzureDevOpsIdentity/<name>".
const indexIdentity = "patrol.dev/identity"

func identityKey(kind, namespace, name string) string {
	if kind == kindCluster {
		return kindCluster + "/" + name
	}
	return kindNamespaced + "/" + namespace + "/" + name
}

func patIdentityKey(o client.Object) []string {
	if ref, ok := identityRefOf(o); ok {
		return []string{identityKey(refKind(ref), o.GetNamespace(), ref.Name)}
	}
	return nil
}

// identityRefOf is the identityRef of a PersonalAccessToken or EntraAccessToken.
func identityRefOf(o client.Object) (patrolv1.IdentityRef, bool) {
	switch v := o.(type) {
	case *patrolv1.PersonalAccessToken:
		return v.Spec.IdentityRef, true
	case *patrolv1.EntraAccessToken:
		return v.Spec.IdentityRef, true
	}
	return patrolv1.IdentityRef{}, false
}

// InUseRecheck is how often a deleted identity that is still referenced
// looks again (besides the PersonalAccessToken events that wake it).
const InUseRecheck = 30 * time.Second

// IdentityReconciler keeps the finalizer and Ready condition of
// AzureDevOpsIdentities (Cluster false) or ClusterAzureDevOpsIdentities.
type IdentityReconciler struct {
	Client  client.Client
	Cluster bool
	// AllowedHosts are the hosts spec.endpoints may name (nil: the default).
	AllowedHosts *HostAllowList
}

func (r *IdentityReconciler) kind() string {
	if r.Cluster {
		return kindCluster
	}
	return kindNamespaced
}

// object is the identity kind's object.
func (r *IdentityReconciler) object() (client.Object, *patrolv1.AzureDevOpsIdentityStatus) {
	if r.Cluster {
		o := &patrolv1.ClusterAzureDevOpsIdentity{}
		return o, &o.Status
	}
	o := &patrolv1.AzureDevOpsIdentity{}
	return o, &o.Status
}

// Reconcile implements reconcile.Reconciler.
func (r *IdentityReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj, st := r.object()
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	orig := obj.DeepCopyObject().(client.Object)
	var list patrolv1.PersonalAccessTokenList
	var tokens patrolv1.EntraAccessTokenList
	opts := []client.ListOption{client.MatchingFields{indexIdentity: identityKey(r.kind(), obj.GetNamespace(), obj.GetName())}}
	if !r.Cluster {
		opts = append(opts, client.InNamespace(obj.GetNamespace()))
	}
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.Client.List(ctx, &tokens, opts...); err != nil {
		return reconcile.Result{}, err
	}
	var users, tokenUsers []string
	for _, p := range list.Items {
		users = append(users, p.Namespace+"/"+p.Name)
	}
	for _, e := range tokens.Items {
		tokenUsers = append(tokenUsers, e.Namespace+"/"+e.Name)
	}
	slices.Sort(users)
	slices.Sort(tokenUsers)
	msg := fmt.Sprintf("referenced by %d PersonalAccessToken(s)", len(users))
	if len(tokenUsers) > 0 {
		msg += fmt.Sprintf(" and %d EntraAccessToken(s)", len(tokenUsers))
	}
	cond := metav1.Condition{Type: patrolv1.ConditionReady, Status: metav1.ConditionTrue, Reason: patrolv1.ReasonReady, ObservedGeneration: obj.GetGeneration(), Message: msg}
	if !obj.GetDeletionTimestamp().IsZero() {
		if len(users)+len(tokenUsers) == 0 {
			if controllerutil.RemoveFinalizer(obj, FinalizerInUse) {
				if err := r.Client.Update(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
					return reconcile.Result{}, err
				}
			}
			return reconcile.Result{}, nil
		}
		var by []string
		if len(users) > 0 {
			by = append(by, "PersonalAccessToken(s) "+listSome(users, 20)+", which need this identity to revoke their PATs")
		}
		if len(tokenUsers) > 0 {
			by = append(by, "EntraAccessToken(s) "+listSome(tokenUsers, 20)+", whose Secrets would hold expired tokens within the hour")
		}
		cond.Status, cond.Reason = metav1.ConditionFalse, patrolv1.ReasonInUse
		cond.Message = fmt.Sprintf("deletion waits: still referenced by %s; delete them (or point their identityRef elsewhere) first", strings.Join(by, "; and by "))
	} else {
		if controllerutil.AddFinalizer(obj, FinalizerInUse) {
			if err := r.Client.Update(ctx, obj); err != nil {
				return reconcile.Result{}, err
			}
		}
		if err := checkEndpoints(r.identityOf(obj), r.AllowedHosts); err != nil {
			cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, patrolv1.ReasonEndpointNotAllowed, err.Error()+"; "+msg
		}
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	st.ObservedGeneration = obj.GetGeneration()
	if err := r.Client.Status().Patch(ctx, obj, client.MergeFrom(orig)); err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	if cond.Reason == patrolv1.ReasonInUse {
		return reconcile.Result{RequeueAfter: InUseRecheck}, nil
	}
	return reconcile.Result{}, nil
}

// identityOf is obj (an identity of the reconciler's kind) as resolved identity.
func (r *IdentityReconciler) identityOf(obj client.Object) identity {
	id := identity{kind: r.kind(), namespace: obj.GetNamespace(), name: obj.GetName(), generation: obj.GetGeneration(), uid: obj.GetUID()}
	switch o := obj.(type) {
	case *patrolv1.AzureDevOpsIdentity:
		id.spec = o.Spec
	case *patrolv1.ClusterAzureDevOpsIdentity:
		id.spec = o.Spec
	}
	return id
}

// listSome joins the first n of names, saying how many more there are.
func listSome(names []string, n int) string {
	if len(names) > n {
		names = append(names[:n:n], fmt.Sprintf("and %d more", len(names)-n))
	}
	return strings.Join(names, ", ")
}
