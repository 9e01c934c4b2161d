package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/redact"
	authv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ServiceAccount tokens of spec.workloadIdentity.serviceAccountRef: the
// controller requests them for ServiceAccountTokenSeconds (the apiserver
// may shorten that, --service-account-max-token-expiration) and asks again
// when less than ServiceAccountTokenRenew (or a fifth of the token's life)
// remains, so every Entra sign-in presents one that is valid for minutes.
const (
	ServiceAccountTokenSeconds = 3600
	ServiceAccountTokenRenew   = 10 * time.Minute
)

const fieldServiceAccount = "spec.workloadIdentity.serviceAccountRef.name"

// saTokens obtains and caches the tokens of one ServiceAccount through the
// TokenRequest API (create serviceaccounts/token); its get is the
// identity's entra.Options.FederatedToken.
type saTokens struct {
	kube               kubernetes.Interface
	ns, name, audience string
	clusterKind        bool
	now                func() time.Time

	mu    sync.Mutex
	token string
	exp   time.Time
	renew time.Time
}

// serviceAccountTokens returns the token source of id's
// workloadIdentity.serviceAccountRef (nil when it has none).
func (r *PATReconciler) serviceAccountTokens(id identity) (*saTokens, error) {
	wi := id.spec.WorkloadIdentity
	if wi == nil || wi.ServiceAccountRef == nil {
		return nil, nil
	}
	if id.secretNS == "" {
		return nil, fmt.Errorf("%s: the ServiceAccount of a ClusterAzureDevOpsIdentity lives in the controller's cluster resource namespace, and none is set: start the controller with --cluster-resource-namespace (Helm: controller.clusterResourceNamespace)", fieldServiceAccount)
	}
	if r.Kube == nil {
		return nil, fmt.Errorf("%s: the controller has no Kubernetes clientset to request ServiceAccount tokens with", fieldServiceAccount)
	}
	aud := wi.Audience
	if aud == "" {
		aud = patrolv1.DefaultWorkloadIdentityAudience
	}
	return &saTokens{kube: r.Kube, ns: id.secretNS, name: wi.ServiceAccountRef.Name, audience: aud,
		clusterKind: id.kind == kindCluster, now: r.now}, nil
}

// account returns the signed-in client of id (signedIn); for a
// serviceAccountRef it first obtains the ServiceAccount's token (cached, so
// usually no request), so that a missing ServiceAccount or a forbidden
// TokenRequest is reported as the identity's problem, naming the field,
// before any sign-in.
func (r *PATReconciler) account(ctx context.Context, id identity) (*account, error) {
	a, err := r.signedIn(ctx, id)
	if err != nil || a.sat == nil {
		return a, err
	}
	if _, err := a.sat.get(ctx); err != nil {
		return nil, &IdentityInvalidError{Identity: id.String(), Err: err}
	}
	return a, nil
}

// get returns a token of the ServiceAccount valid for a while yet,
// requesting a new one when the cached one is near its expiry.
func (s *saTokens) get(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.token != "" && now.Before(s.renew) {
		return s.token, nil
	}
	secs := int64(ServiceAccountTokenSeconds)
	tr, err := s.kube.CoreV1().ServiceAccounts(s.ns).CreateToken(ctx, s.name, &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{Audiences: []string{s.audience}, ExpirationSeconds: &secs},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", s.explain(err)
	}
	if tr.Status.Token == "" {
		return "", fmt.Errorf("%s: the TokenRequest for ServiceAccount %s/%s returned no token", fieldServiceAccount, s.ns, s.name)
	}
	exp := tr.Status.ExpirationTimestamp.Time
	if exp.IsZero() {
		exp = now.Add(time.Duration(secs) * time.Second)
	}
	margin := max(ServiceAccountTokenRenew, exp.Sub(now)/5)
	s.token, s.exp, s.renew = tr.Status.Token, exp, exp.Add(-margin)
	return s.token, nil
}

// explain turns a TokenRequest failure into what to fix.
func (s *saTokens) explain(err error) error {
	sa := s.ns + "/" + s.name
	where := "the identity's namespace"
	if s.clusterKind {
		where = "the controller's cluster resource namespace"
	}
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s: ServiceAccount %s does not exist (it is looked up in %s): create it (kubectl create serviceaccount %s -n %s) or fix the name", fieldServiceAccount, sa, where, s.name, s.ns)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: the controller may not request tokens of ServiceAccount %s (create on serviceaccounts/token is forbidden): grant it, e.g. with the Helm chart's controller.serviceAccountTokens: [{namespace: %s, name: %s}]", fieldServiceAccount, sa, s.ns, s.name)
	}
	return fmt.Errorf("%s: request a token of ServiceAccount %s (TokenRequest API): %s", fieldServiceAccount, sa, redact.Error(err))
}
