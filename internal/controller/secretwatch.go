package controller

import (
	"context"
	"maps"
	"slices"
	"strings"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/sink"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Secret watches. The controller reads Secrets uncached (APIReader: their
// data never enters the cache) but watches their metadata, so that
//   - a target Secret deleted or edited by hand is repaired within seconds
//     (restore.go), not at the next resync;
//   - a Secret an identity references (passwordRef, …) that is created or
//     changed wakes at once the PersonalAccessTokens and EntraAccessTokens
//     of that identity, instead of their backoff; so does a Secret of a
//     PersonalAccessToken's spec.sinks for that PersonalAccessToken.
//
// One metadata-only informer serves both (a label selector cannot select the
// referenced Secrets, which carry no label of patrol's). secretMetadata
// strips what the cached copies need not hold: a Secret patrol does not
// manage is kept as its namespace, name, UID and resourceVersion; a target
// Secret (label app.kubernetes.io/managed-by=patrol) also keeps that label
// and its patrol.dev/ annotations, for targetChanged.

// Field indexes of the Secret watches.
const (
	// indexTarget indexes PersonalAccessTokens and EntraAccessTokens by
	// their spec.secretTarget.name.
	indexTarget = "patrol.dev/target"
	// indexSecretRef indexes identities by the names of the Secrets they
	// reference, and PersonalAccessTokens by those of their spec.sinks.
	indexSecretRef = "patrol.dev/secret-ref"
)

// secretCacheOptions limits the cache's Secrets: metadata only (the
// controller reads data with its APIReader), stripped by secretMetadata, in
// the namespaces served (namespaces, nil: all).
func secretCacheOptions(namespaces []string) cache.ByObject {
	bo := cache.ByObject{Transform: secretMetadata}
	if len(namespaces) > 0 {
		bo.Namespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			bo.Namespaces[ns] = cache.Config{}
		}
	}
	return bo
}

// secretMetadata is the cache transform of Secrets (see above).
func secretMetadata(in any) (any, error) {
	o, ok := in.(*metav1.PartialObjectMetadata)
	if !ok {
		if s, isSecret := in.(*corev1.Secret); isSecret {
			// Not expected (only metadata is watched): never keep data.
			o = &metav1.PartialObjectMetadata{TypeMeta: s.TypeMeta, ObjectMeta: s.ObjectMeta}
		} else {
			return in, nil
		}
	}
	out := &metav1.PartialObjectMetadata{TypeMeta: o.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion, DeletionTimestamp: o.DeletionTimestamp,
	}}
	if o.Labels[sink.LabelManagedBy] == sink.ManagedByPatrol {
		out.Labels = map[string]string{sink.LabelManagedBy: sink.ManagedByPatrol}
		for k, v := range o.Annotations {
			if strings.HasPrefix(k, "patrol.dev/") {
				if out.Annotations == nil {
					out.Annotations = map[string]string{}
				}
				out.Annotations[k] = v
			}
		}
	}
	return out, nil
}

func secretMeta() *metav1.PartialObjectMetadata {
	o := &metav1.PartialObjectMetadata{}
	o.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return o
}

func managedByPatrol(o client.Object) bool {
	return o != nil && o.GetLabels()[sink.LabelManagedBy] == sink.ManagedByPatrol
}

// ownWrites are the annotations only the controller's own writes change:
// the outcome report's, written on every failed reconcile
// (kubernetes_report.go; waking on them would retry at once instead of after
// the backoff, forever), and the delivery's (every Write sets rotated-at, a
// new PAT's authorization-id, a new token's valid-to). An update that
// changes one of them is the controller's and wakes nothing: the reconcile
// that wrote it is still running or just ended (and a second one could read
// its object from a cache that does not have its status yet).
var ownWrites = []string{sink.AnnotationLastResult, sink.AnnotationLastReason, sink.AnnotationLastRun, sink.AnnotationLastMessage,
	sink.AnnotationRotatedAt, sink.AnnotationAuthorizationID, sink.AnnotationValidTo}

// targetChanged passes what may need a target Secret repaired: its
// deletion, the loss of patrol's label, and an update of a Secret patrol
// manages that is not the controller's own (its data edited by hand).
// Creations do not: the controller creates target Secrets itself (and a
// Secret created by hand is checked at the next reconcile).
var targetChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	DeleteFunc:  func(e event.DeleteEvent) bool { return managedByPatrol(e.Object) },
	UpdateFunc: func(e event.UpdateEvent) bool {
		if e.ObjectOld.GetResourceVersion() == e.ObjectNew.GetResourceVersion() || !managedByPatrol(e.ObjectOld) && !managedByPatrol(e.ObjectNew) {
			return false
		}
		if !managedByPatrol(e.ObjectNew) {
			return true // the label removed
		}
		oa, na := e.ObjectOld.GetAnnotations(), e.ObjectNew.GetAnnotations()
		for _, k := range ownWrites {
			if oa[k] != na[k] {
				return false
			}
		}
		return true
	},
}

// referenceChanged passes every change of a Secret (the mapping finds the
// identities referencing it, usually none) except informer resyncs.
var referenceChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetResourceVersion() != e.ObjectNew.GetResourceVersion()
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
}

func targetKey(o client.Object) []string {
	switch v := o.(type) {
	case *patrolv1.PersonalAccessToken:
		return []string{v.Spec.SecretTarget.Name}
	case *patrolv1.EntraAccessToken:
		return []string{v.Spec.SecretTarget.Name}
	}
	return nil
}

func secretRefKeys(o client.Object) []string {
	seen := map[string]bool{}
	var sp patrolv1.AzureDevOpsIdentitySpec
	switch v := o.(type) {
	case *patrolv1.AzureDevOpsIdentity:
		sp = v.Spec
	case *patrolv1.ClusterAzureDevOpsIdentity:
		sp = v.Spec
	case *patrolv1.PersonalAccessToken:
		// spec.sinks' SecretKeyRefs (an http sink's credentials and CA).
		for _, s := range v.Spec.Sinks {
			if _, refs, err := sinkParams(s, ""); err == nil {
				for _, ref := range refs {
					if ref != nil {
						seen[ref.Name] = true
					}
				}
			}
			if s.HTTP != nil && s.HTTP.CABundleRef != nil {
				seen[s.HTTP.CABundleRef.Name] = true
			}
		}
		return slices.Sorted(maps.Keys(seen))
	default:
		return nil
	}
	for _, ref := range identitySecretRefs(sp) {
		seen[ref.Name] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// indexSecrets adds the field indexes of the Secret watches.
func indexSecrets(ctx context.Context, mgr manager.Manager, clusterIdentities bool) error {
	for _, o := range []client.Object{&patrolv1.PersonalAccessToken{}, &patrolv1.EntraAccessToken{}} {
		if err := mgr.GetFieldIndexer().IndexField(ctx, o, indexTarget, targetKey); err != nil {
			return err
		}
	}
	referrers := []client.Object{&patrolv1.AzureDevOpsIdentity{}, &patrolv1.PersonalAccessToken{}}
	if clusterIdentities {
		referrers = append(referrers, &patrolv1.ClusterAzureDevOpsIdentity{})
	}
	for _, o := range referrers {
		if err := mgr.GetFieldIndexer().IndexField(ctx, o, indexSecretRef, secretRefKeys); err != nil {
			return err
		}
	}
	return nil
}

// targetUsers maps a target Secret to the objects of list's kind (in its
// namespace) whose spec.secretTarget names it.
func targetUsers(cl client.Client, list client.ObjectList) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		l := list.DeepCopyObject().(client.ObjectList)
		if err := cl.List(ctx, l, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexTarget: o.GetName()}); err != nil {
			return nil
		}
		return requestsOf(l)
	})
}

// referenceUsers maps a Secret to the objects of list's kind that use an
// identity referencing it: AzureDevOpsIdentities of its namespace, and
// ClusterAzureDevOpsIdentities when it is in clusterNS; and to the
// PersonalAccessTokens whose spec.sinks reference it.
func referenceUsers(cl client.Client, list client.ObjectList, clusterIdentities bool, clusterNS string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var out []reconcile.Request
		if _, ok := list.(*patrolv1.PersonalAccessTokenList); ok {
			var pats patrolv1.PersonalAccessTokenList
			if err := cl.List(ctx, &pats, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexSecretRef: o.GetName()}); err == nil {
				out = append(out, requestsOf(&pats)...)
			}
		}
		var ids patrolv1.AzureDevOpsIdentityList
		if err := cl.List(ctx, &ids, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexSecretRef: o.GetName()}); err == nil {
			for _, id := range ids.Items {
				out = append(out, identityUsers(ctx, cl, kindNamespaced, id.Namespace, id.Name, list)...)
			}
		}
		if clusterIdentities && clusterNS != "" && o.GetNamespace() == clusterNS {
			var cids patrolv1.ClusterAzureDevOpsIdentityList
			if err := cl.List(ctx, &cids, client.MatchingFields{indexSecretRef: o.GetName()}); err == nil {
				for _, id := range cids.Items {
					out = append(out, identityUsers(ctx, cl, kindCluster, "", id.Name, list)...)
				}
			}
		}
		return out
	})
}

// identityUsers lists the objects of list's kind whose identityRef names
// the identity kind namespace/name.
func identityUsers(ctx context.Context, cl client.Client, kind, namespace, name string, list client.ObjectList) []reconcile.Request {
	opts := []client.ListOption{client.MatchingFields{indexIdentity: identityKey(kind, namespace, name)}}
	if kind == kindNamespaced {
		opts = append(opts, client.InNamespace(namespace))
	}
	l := list.DeepCopyObject().(client.ObjectList)
	if err := cl.List(ctx, l, opts...); err != nil {
		return nil
	}
	return requestsOf(l)
}

func requestsOf(l client.ObjectList) []reconcile.Request {
	var out []reconcile.Request
	_ = meta.EachListItem(l, func(item runtime.Object) error {
		if co, ok := item.(client.Object); ok {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(co)})
		}
		return nil
	})
	return out
}
