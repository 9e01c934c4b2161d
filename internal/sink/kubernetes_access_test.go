package sink

import (
	"context"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// TestCheckAccessNamesTheDeniedVerbs: a review per verb; the error names
// what RBAC denies and the Role that would fix it.
func TestCheckAccessNamesTheDeniedVerbs(t *testing.T) {
	for _, tc := range []struct {
		allow  map[string]bool
		create bool
		denied string
	}{
		{allow: map[string]bool{"get": true, "update": true}},
		{allow: map[string]bool{"get": true}, denied: "update"},
		{allow: map[string]bool{"get": true, "update": true}, create: true, denied: "create"},
	} {
		cs := fake.NewClientset()
		var reviews []authorizationv1.ResourceAttributes
		cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
			r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
			reviews = append(reviews, *r.Spec.ResourceAttributes)
			r.Status.Allowed = tc.allow[r.Spec.ResourceAttributes.Verb]
			return true, r, nil
		})
		k, err := NewKubernetesSecret(KubernetesSecretOptions{Client: cs, Namespace: "ci", Name: "agent-pat", Create: tc.create})
		if err != nil {
			t.Fatal(err)
		}
		err = k.CheckAccess(context.Background())
		if tc.denied == "" {
			if err != nil {
				t.Fatalf("%v: %v", tc.allow, err)
			}
		} else if err == nil || errkind.Of(err) != errkind.Permission || !strings.Contains(err.Error(), tc.denied) || !strings.Contains(err.Error(), "resourceNames: [agent-pat]") {
			t.Fatalf("%v: %v", tc.allow, err)
		}
		for _, ra := range reviews {
			if ra.Namespace != "ci" || ra.Resource != "secrets" || (ra.Verb != "create" && ra.Name != "agent-pat") {
				t.Fatalf("review %+v", ra)
			}
		}
	}
}
