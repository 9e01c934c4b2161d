package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// CheckAccess asks the API server, with a SelfSubjectAccessReview per verb,
// whether patrol's identity may do what a rotation does to the Secret: get
// and update it, and create it when create is set. It writes nothing.
func (k *KubernetesSecret) CheckAccess(ctx context.Context) error {
	verbs := []string{"get", "update"}
	if k.o.Create {
		verbs = append(verbs, "create")
	}
	var denied []string
	for _, verb := range verbs {
		attrs := &authorizationv1.ResourceAttributes{Namespace: k.o.Namespace, Verb: verb, Resource: "secrets", Name: k.o.Name}
		if verb == "create" {
			attrs.Name = "" // RBAC cannot restrict create by resourceName
		}
		review, err := k.o.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
			&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}}, metav1.CreateOptions{})
		if err != nil {
			if apierrors.IsForbidden(err) {
				return &KubeError{Verb: "review access to", Resource: k.resource(), K: errkind.Permission,
					Hint: "the identity may not create SelfSubjectAccessReviews (every authenticated user may, by default)", Err: err}
			}
			return k.wrap("review access to", err)
		}
		if !review.Status.Allowed {
			denied = append(denied, verb)
		}
	}
	if len(denied) > 0 {
		return &KubeError{Verb: strings.Join(denied, ", "), Resource: k.resource(), K: errkind.Permission,
			Hint: fmt.Sprintf("grant the service account a Role with verbs [%s] on secrets (resourceNames: [%s]) in namespace %s", strings.Join(denied, ", "), k.o.Name, k.o.Namespace),
			Err:  errors.New("not allowed by RBAC")}
	}
	return nil
}
