package controller_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/controller"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func (w *world) condition(name, typ string) *metav1.Condition {
	return meta.FindStatusCondition(w.get(name).Status.Conditions, typ)
}

// A failed renewal keeps the Secret and the PAT it holds (Ready stays True
// while that PAT is valid), reports the failure on Issuing and lastFailure,
// counts the attempts, and the next success clears them.
func TestFailedRenewalKeepsTheLastGoodPAT(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.cl.Create(ctx, w.pat("keep")); err != nil {
		t.Fatal(err)
	}
	r := w.reconciler(nil, nil)
	w.reconcile(r, "keep")
	w.reconcile(r, "keep")
	good := w.check("keep")
	tok := string(w.secret("keep-secret").Data["token"])

	// The password changes in the Secret but not in Entra: sign-in fails.
	var login corev1.Secret
	if err := w.cl.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "ado-login"}, &login); err != nil {
		t.Fatal(err)
	}
	login.Data["password"] = []byte("wrong")
	if err := w.cl.Update(ctx, &login); err != nil {
		t.Fatal(err)
	}
	p := w.get("keep")
	p.Annotations = map[string]string{patrolv1.AnnotationRenewNow: "x"}
	if err := w.cl.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		w.reconcile(r, "keep")
		p = w.get("keep")
		if p.Status.FailedIssuanceAttempts != int32(i) || p.Status.LastFailure == "" || p.Status.LastFailureTime == nil {
			t.Fatalf("attempt %d: status %+v", i, p.Status)
		}
	}
	if c := w.condition("keep", patrolv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Ready while the old PAT is valid: %+v", c)
	}
	if c := w.condition("keep", patrolv1.ConditionIssuing); c == nil || c.Status != metav1.ConditionFalse || c.Reason != patrolv1.ReasonFailed {
		t.Errorf("Issuing after the failure: %+v", c)
	}
	if got := string(w.secret("keep-secret").Data["token"]); got != tok || !w.works(tok) {
		t.Fatal("the failed renewal changed the Secret or broke its PAT")
	}
	if p.Status.AuthorizationID != good || p.Status.LastRenewRequest != "" {
		t.Errorf("status after failures: %+v", p.Status)
	}

	// Fixed: the renewal asked for happens and the failure is cleared.
	login.Data["password"] = []byte(emulator.DefaultPassword)
	if err := w.cl.Update(ctx, &login); err != nil {
		t.Fatal(err)
	}
	w.reconcile(r, "keep")
	if now := w.check("keep"); now == good {
		t.Error("no renewal after the fix")
	}
	p = w.get("keep")
	if p.Status.FailedIssuanceAttempts != 0 || p.Status.LastFailure != "" || p.Status.LastRenewRequest != "x" {
		t.Errorf("status after the fix: %+v", p.Status)
	}
}

// Changing the scopes renews the PAT with the new scopes and revokes the old one.
func TestSpecChangeRenews(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.cl.Create(ctx, w.pat("scoped")); err != nil {
		t.Fatal(err)
	}
	r := w.reconciler(nil, nil)
	w.reconcile(r, "scoped")
	w.reconcile(r, "scoped")
	before := w.check("scoped")
	w.reconcile(r, "scoped")
	if again := w.check("scoped"); again != before {
		t.Fatal("renewed without a change")
	}
	p := w.get("scoped")
	p.Spec.Scopes = []patrolv1.Scope{"vso.code", "vso.packaging"}
	if err := w.cl.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	w.reconcile(r, "scoped")
	after := w.check("scoped")
	if after == before {
		t.Fatal("the scope change did not renew the PAT")
	}
	for q, err := range w.verf.ListPATs(ctx, devops.ListOptions{Filter: api.FilterActive}) {
		if err != nil {
			t.Fatal(err)
		}
		if q.AuthorizationID == after && q.Scope != "vso.code vso.packaging" {
			t.Errorf("new PAT scopes %q", q.Scope)
		}
	}
}

// deletionPolicy Retain: deleting the PersonalAccessToken leaves its PAT working.
func TestDeletionPolicyRetain(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.cl.Create(ctx, w.pat("kept", func(p *patrolv1.PersonalAccessToken) { p.Spec.DeletionPolicy = patrolv1.DeletionPolicyRetain })); err != nil {
		t.Fatal(err)
	}
	r := w.reconciler(nil, nil)
	w.reconcile(r, "kept")
	w.reconcile(r, "kept")
	w.check("kept")
	tok := string(w.secret("kept-secret").Data["token"])
	if err := w.cl.Delete(ctx, w.get("kept")); err != nil {
		t.Fatal(err)
	}
	w.reconcile(r, "kept")
	if err := w.cl.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "kept"}, &patrolv1.PersonalAccessToken{}); !apierrors.IsNotFound(err) {
		t.Fatalf("still there after the finalizer ran: %v", err)
	}
	if !w.works(tok) {
		t.Error("Retain revoked the PAT")
	}
}

// A PersonalAccessToken whose identity does not exist yet waits with
// Ready=False reason IdentityMissing; creating the identity (a
// ClusterAzureDevOpsIdentity here, Secrets in the cluster resource
// namespace) wakes it and it becomes Ready.
func TestClusterIdentityCreatedLater(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.runController(controller.Options{ClusterIdentities: true, ClusterResourceNamespace: w.ns})
	name := w.ns // cluster-scoped: unique per test
	if err := w.cl.Create(ctx, w.pat("later", func(p *patrolv1.PersonalAccessToken) {
		p.Spec.IdentityRef = patrolv1.IdentityRef{Kind: "ClusterAzureDevOpsIdentity", Name: name}
	})); err != nil {
		t.Fatal(err)
	}
	w.eventually("IdentityMissing", 30*time.Second, func() error {
		c := w.condition("later", patrolv1.ConditionReady)
		if c == nil || c.Reason != patrolv1.ReasonIdentityMissing {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})
	var ns patrolv1.AzureDevOpsIdentity
	if err := w.cl.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "bot"}, &ns); err != nil {
		t.Fatal(err)
	}
	cid := &patrolv1.ClusterAzureDevOpsIdentity{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: ns.Spec}
	if err := w.cl.Create(ctx, cid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = w.cl.Delete(context.Background(), cid)
	})
	p := w.readyWith("later", "")
	if !w.works(string(w.secret("later-secret").Data["token"])) || p.Status.AuthorizationID == "" {
		t.Fatal("no working PAT from the cluster identity")
	}
	w.eventually("cluster identity Ready with its user", 20*time.Second, func() error {
		var got patrolv1.ClusterAzureDevOpsIdentity
		if err := w.cl.Get(ctx, client.ObjectKey{Name: name}, &got); err != nil {
			return err
		}
		c := meta.FindStatusCondition(got.Status.Conditions, patrolv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue || c.Message != "referenced by 1 PersonalAccessToken(s)" {
			return errors.New("not yet")
		}
		return nil
	})
}

// A PersonalAccessToken does not take over a Secret it does not own:
// another credential's, a non-Opaque one, or one holding a value patrol
// did not write; the Secret is left untouched.
func TestTargetSecretOwnership(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	r := w.reconciler(nil, nil)
	if err := w.cl.Create(ctx, w.pat("first")); err != nil {
		t.Fatal(err)
	}
	w.reconcile(r, "first")
	w.reconcile(r, "first")
	w.check("first")
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "app-token"}, Data: map[string][]byte{"token": []byte("someone else's")}}
	typed := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "registry"}, Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte("{}")}}
	for _, s := range []*corev1.Secret{foreign, typed} {
		if err := w.cl.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for target, want := range map[string]string{"first-secret": "is managed by credential", "app-token": "that patrol did not write", "registry": "has type kubernetes.io/dockerconfigjson"} {
		name := "steal-" + target
		if err := w.cl.Create(ctx, w.pat(name, func(p *patrolv1.PersonalAccessToken) { p.Spec.SecretTarget.Name = target })); err != nil {
			t.Fatal(err)
		}
		w.reconcile(r, name)
		w.reconcile(r, name)
		c := w.condition(name, patrolv1.ConditionReady)
		if c == nil || c.Reason != patrolv1.ReasonInvalidSpec || !strings.Contains(c.Message, want) {
			t.Errorf("target %s: Ready %+v, want InvalidSpec with %q", target, c, want)
		}
	}
	if got := string(w.secret("app-token").Data["token"]); got != "someone else's" {
		t.Errorf("the foreign Secret was overwritten: %q", got)
	}
	w.check("first")
}

// Deleting a namespace may delete the identity's Secrets before the
// PersonalAccessTokens: the controller still revokes their PATs with the
// sign-in it has cached, so the namespace does not hang on the finalizer.
func TestRevokeAfterTheIdentitySecretIsGone(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.cl.Create(ctx, w.pat("gone")); err != nil {
		t.Fatal(err)
	}
	r := w.reconciler(nil, nil)
	w.reconcile(r, "gone")
	w.reconcile(r, "gone")
	w.check("gone")
	tok := string(w.secret("gone-secret").Data["token"])
	if err := w.cl.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "ado-login"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.cl.Delete(ctx, w.get("gone")); err != nil {
		t.Fatal(err)
	}
	w.reconcile(r, "gone")
	if err := w.cl.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "gone"}, &patrolv1.PersonalAccessToken{}); !apierrors.IsNotFound(err) {
		t.Fatalf("still there: %v", err)
	}
	if w.works(tok) {
		t.Error("the PAT was not revoked")
	}
}
