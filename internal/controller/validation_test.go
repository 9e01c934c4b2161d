package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/kubetest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The apiserver refuses, at admission, what the CRDs' OpenAPI and CEL rules
// can check; each refusal names the problem.
func TestAdmissionRefusesBadSpecs(t *testing.T) {
	c := kubetest.Start(t)
	cl := installCRDs(t, c)
	ns := c.Namespace(t)
	w := &world{t: t, ns: ns}
	d := func(s string) *metav1.Duration { v, _ := time.ParseDuration(s); return &metav1.Duration{Duration: v} }
	pct := func(v int32) *int32 { return &v }
	for _, tc := range []struct {
		name string
		mut  func(*patrolv1.PersonalAccessToken)
		want string
	}{
		{"lifetime-too-short", func(p *patrolv1.PersonalAccessToken) { p.Spec.Lifetime = d("30m") }, "lifetime must be between 1h and 8760h"},
		{"lifetime-too-long", func(p *patrolv1.PersonalAccessToken) { p.Spec.Lifetime = d("9000h") }, "lifetime must be between 1h and 8760h"},
		{"renew-not-before-expiry", func(p *patrolv1.PersonalAccessToken) { p.Spec.RenewBefore = d("720h") }, "renewBefore must be shorter than lifetime"},
		{"renew-both", func(p *patrolv1.PersonalAccessToken) {
			p.Spec.RenewBefore, p.Spec.RenewBeforePercentage = d("24h"), pct(20)
		}, "not both"},
		{"renew-percentage", func(p *patrolv1.PersonalAccessToken) { p.Spec.RenewBeforePercentage = pct(100) }, "renewBeforePercentage"},
		{"unknown-scope", func(p *patrolv1.PersonalAccessToken) { p.Spec.Scopes = []patrolv1.Scope{"vso.cod"} }, `Unsupported value: "vso.cod"`},
		{"no-scopes", func(p *patrolv1.PersonalAccessToken) { p.Spec.Scopes = nil }, "spec.scopes"},
		{"full-access", func(p *patrolv1.PersonalAccessToken) { p.Spec.Scopes = []patrolv1.Scope{"app_token"} }, "set allowFullAccess: true"},
		{"all-orgs", func(p *patrolv1.PersonalAccessToken) { p.Spec.AllOrgs = true }, "global PATs"},
		{"secret-name", func(p *patrolv1.PersonalAccessToken) { p.Spec.SecretTarget.Name = "Bad_Name" }, "spec.secretTarget.name"},
		{"same-keys", func(p *patrolv1.PersonalAccessToken) { p.Spec.SecretTarget.AuthorizationIDKey = "token" }, "must be distinct"},
		{"template-key", func(p *patrolv1.PersonalAccessToken) {
			p.Spec.SecretTarget.Templates = map[string]string{"bad key": "x"}
		}, "valid Secret data keys"},
		{"template-clash", func(p *patrolv1.PersonalAccessToken) { p.Spec.SecretTarget.Templates = map[string]string{"token": "x"} }, "a template key is also key"},
		{"deletion-policy", func(p *patrolv1.PersonalAccessToken) { p.Spec.DeletionPolicy = "Keep" }, "spec.deletionPolicy"},
		{"identity-kind", func(p *patrolv1.PersonalAccessToken) { p.Spec.IdentityRef.Kind = "Secret" }, "spec.identityRef.kind"},
		{"long-name", func(p *patrolv1.PersonalAccessToken) { p.Name = strings.Repeat("a", 64) }, "at most 63 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cl.Create(context.Background(), w.pat("bad-"+tc.name, tc.mut))
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want a refusal naming %q, got %v", tc.want, err)
			}
		})
	}
	// The good one is accepted, with the defaults applied.
	good := w.pat("good")
	good.Spec.Lifetime = nil
	good.Spec.SecretTarget.AuthorizationIDKey = ""
	if err := cl.Create(context.Background(), good); err != nil {
		t.Fatalf("a valid PersonalAccessToken was refused: %v", err)
	}
	if good.Spec.Lifetime == nil || good.Spec.Lifetime.Duration != 720*time.Hour || good.Spec.SecretTarget.Key != "token" || good.Spec.DeletionPolicy != patrolv1.DeletionPolicyRevoke || good.Spec.IdentityRef.Kind != "AzureDevOpsIdentity" {
		t.Errorf("defaults not applied: %+v", good.Spec)
	}

	for _, tc := range []struct {
		name string
		spec patrolv1.AzureDevOpsIdentitySpec
		want string
	}{
		{"ropc-without-password", patrolv1.AzureDevOpsIdentitySpec{Organization: "contoso", Method: "ropc", TenantID: "t", ClientID: "e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7", Username: "u"}, "needs username and passwordRef"},
		{"bad-org", patrolv1.AzureDevOpsIdentitySpec{Organization: "https://dev.azure.com/contoso", Method: "managed-identity"}, "spec.organization"},
		{"bad-method", patrolv1.AzureDevOpsIdentitySpec{Organization: "contoso", Method: "password"}, "spec.method"},
		{"bad-client-id", patrolv1.AzureDevOpsIdentitySpec{Organization: "contoso", Method: "client-secret", TenantID: "t", ClientID: "app", ClientSecretRef: &patrolv1.SecretKeyRef{Name: "s", Key: "k"}}, "spec.clientId"},
		{"workload-identity-elsewhere", patrolv1.AzureDevOpsIdentitySpec{Organization: "contoso", Method: "managed-identity", WorkloadIdentity: &patrolv1.WorkloadIdentity{}}, "workloadIdentity applies to method workload-identity only"},
	} {
		t.Run("identity/"+tc.name, func(t *testing.T) {
			err := cl.Create(context.Background(), &patrolv1.AzureDevOpsIdentity{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tc.name}, Spec: tc.spec})
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want a refusal naming %q, got %v", tc.want, err)
			}
		})
	}
}
