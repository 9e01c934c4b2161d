package controller_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/controller"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/kubetest"
	"github.com/patrol-dev/patrol/internal/sink"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func (w *world) eat(name string, mut ...func(*patrolv1.EntraAccessToken)) *patrolv1.EntraAccessToken {
	e := &patrolv1.EntraAccessToken{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}, Spec: patrolv1.EntraAccessTokenSpec{
		IdentityRef: patrolv1.IdentityRef{Name: "bot"},
		SecretTarget: patrolv1.SecretTarget{Name: name + "-secret", ValidToKey: "expiresOn",
			Templates: map[string]string{"extraheader": "Authorization: Bearer {{{token}}}", "expiry": "until {{expiresOn}}"}},
	}}
	for _, m := range mut {
		m(e)
	}
	return e
}

func (w *world) getEAT(name string) *patrolv1.EntraAccessToken {
	w.t.Helper()
	var e patrolv1.EntraAccessToken
	if err := w.cl.Get(context.Background(), client.ObjectKey{Namespace: w.ns, Name: name}, &e); err != nil {
		w.t.Fatal(err)
	}
	return &e
}

// bearerWorks reports whether the emulator's Azure DevOps accepts tok as
// a Bearer token (connectionData).
func (w *world) bearerWorks(tok string) bool {
	w.t.Helper()
	req, _ := http.NewRequest("GET", w.emu.DevOpsURL()+"/"+emulator.DefaultOrg+"/_apis/connectionData", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := w.emu.HTTPClient().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// eatReadyWith waits until name is Ready with a Secret token other than not.
func (w *world) eatReadyWith(name, not string) (*patrolv1.EntraAccessToken, string) {
	w.t.Helper()
	var e *patrolv1.EntraAccessToken
	var tok string
	w.eventually(name+" Ready", 60*time.Second, func() error {
		e = w.getEAT(name)
		c := meta.FindStatusCondition(e.Status.Conditions, patrolv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue || e.Status.NotAfter == nil || e.Status.ObservedGeneration != e.Generation {
			return fmt.Errorf("status %+v", e.Status)
		}
		var s corev1.Secret
		if err := w.cl.Get(context.Background(), client.ObjectKey{Namespace: w.ns, Name: e.Spec.SecretTarget.Name}, &s); err != nil {
			return err
		}
		if tok = string(s.Data["token"]); tok == "" || tok == not {
			return errors.New("no new token in the Secret yet")
		}
		return nil
	})
	return e, tok
}

// The life of an EntraAccessToken with the controller running: created →
// the Secret holds a token the emulator's Azure DevOps accepts, with the
// templates rendered → forced renewal → the identity's deletion waits while
// the EntraAccessToken references it → deleting it (no finalizer) lets the
// identity go.
func TestEntraAccessTokenLifecycle(t *testing.T) {
	w := newWorld(t)
	_, metricsURL := w.runController(controller.Options{})
	ctx := context.Background()
	if err := w.cl.Create(ctx, w.eat("git")); err != nil {
		t.Fatal(err)
	}
	e, first := w.eatReadyWith("git", "")
	cred := "entra_" + w.ns + ".git"
	if e.Status.CredentialName != cred || e.Status.RenewalTime == nil || len(e.Finalizers) != 0 || e.Spec.Scope != patrolv1.DefaultEntraScope {
		t.Fatalf("object: finalizers %v, spec %+v, status %+v", e.Finalizers, e.Spec, e.Status)
	}
	// A third of the lifetime (an emulator token lives 1h, back-dated 5m
	// by iat; the Secret's life counts from the write): 20m before expiry.
	if got := e.Status.NotAfter.Sub(e.Status.RenewalTime.Time); got < 19*time.Minute || got > 21*time.Minute {
		t.Errorf("renewal %s before expiry, want a third of the token's hour", got)
	}
	if !w.bearerWorks(first) {
		t.Fatal("the Secret's token is not accepted by Azure DevOps")
	}
	sec := w.secret("git-secret")
	exp := e.Status.NotAfter.UTC().Format(time.RFC3339)
	if got := string(sec.Data["extraheader"]); got != "Authorization: Bearer "+first {
		t.Errorf("template extraheader = %q", got)
	}
	if string(sec.Data["expiry"]) != "until "+exp || string(sec.Data["expiresOn"]) != exp || sec.Annotations[sink.AnnotationCredential] != cred {
		t.Errorf("Secret data/annotations: expiry %q expiresOn %q annotations %v", sec.Data["expiry"], sec.Data["expiresOn"], sec.Annotations)
	}
	if c := meta.FindStatusCondition(e.Status.Conditions, patrolv1.ConditionIssuing); c == nil || c.Status != metav1.ConditionFalse || c.Reason != patrolv1.ReasonIssued {
		t.Errorf("Issuing: %+v", c)
	}
	if cols, row := w.table("entraaccesstokens"); strings.Join(cols, ",") != "Name,Ready,Secret,Scope,Expires,Renewal,Age" ||
		len(row) < 6 || row[1] != "True" || row[4] != exp || row[5] != e.Status.RenewalTime.UTC().Format(time.RFC3339) {
		t.Errorf("printer columns %v, first row %v", cols, row)
	}

	// Forced renewal.
	e.Annotations = map[string]string{patrolv1.AnnotationRenewNow: "1"}
	if err := w.cl.Update(ctx, e); err != nil {
		t.Fatal(err)
	}
	_, second := w.eatReadyWith("git", first)
	// The Secret is written before the status: wait for the status too.
	w.eventually("lastRenewRequest", 10*time.Second, func() error {
		if e = w.getEAT("git"); e.Status.LastRenewRequest != "1" {
			return fmt.Errorf("lastRenewRequest %q", e.Status.LastRenewRequest)
		}
		return nil
	})
	if !w.bearerWorks(second) {
		t.Fatal("the renewed token does not work")
	}
	code, body := httpGet(t, metricsURL)
	for _, want := range []string{
		fmt.Sprintf(`patrol_credential_ready{credential=%q} 1`, cred),
		fmt.Sprintf(`patrol_credential_info{credential=%q,identity="AzureDevOpsIdentity/%s/bot",kind="entra-token",organization="contoso"} 1`, cred, w.ns),
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}

	// The identity's deletion waits while the EntraAccessToken uses it.
	var id patrolv1.AzureDevOpsIdentity
	if err := w.cl.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "bot"}, &id); err != nil {
		t.Fatal(err)
	}
	if err := w.cl.Delete(ctx, &id); err != nil {
		t.Fatal(err)
	}
	w.eventually("identity InUse", 20*time.Second, func() error {
		if err := w.cl.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "bot"}, &id); err != nil {
			return err
		}
		c := meta.FindStatusCondition(id.Status.Conditions, patrolv1.ConditionReady)
		if c == nil || c.Reason != patrolv1.ReasonInUse || !strings.Contains(c.Message, "EntraAccessToken(s) "+w.ns+"/git") {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	if got := string(w.secret("git-secret").Data["token"]); got != second {
		t.Error("the identity's deletion changed the Secret: the renew-now request was acted on twice?")
	}
	if err := w.cl.Delete(ctx, e); err != nil {
		t.Fatal(err)
	}
	w.eventually("identity gone", 60*time.Second, func() error {
		err := w.cl.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "bot"}, &patrolv1.AzureDevOpsIdentity{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	if got := string(w.secret("git-secret").Data["token"]); got != second {
		t.Error("deleting the EntraAccessToken changed its Secret")
	}
}

// On a clock shared with the emulator: the token is replaced at its
// renewal time, before it expires; a failed renewal keeps the old token
// (Ready while it is valid, Issuing=False reason Failed), and once it has
// expired Ready=False reason Expired, the Secret still not emptied; a
// Secret the EntraAccessToken does not own is refused.
func TestEntraAccessTokenRenewalAndFailure(t *testing.T) {
	var off atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(off.Load())) }
	w := newWorldClock(t, now)
	ctx := context.Background()
	if err := w.cl.Create(ctx, w.eat("feed", func(e *patrolv1.EntraAccessToken) {
		e.Spec.RenewBefore = &metav1.Duration{Duration: 10 * time.Minute}
	})); err != nil {
		t.Fatal(err)
	}
	pr := w.reconciler(nil, nil)
	pr.Now = now
	r := &controller.EntraTokenReconciler{PATReconciler: pr}
	run := func() reconcile.Result {
		t.Helper()
		res, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: w.ns, Name: "feed"}})
		if err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		return res
	}
	res := run()
	e := w.getEAT("feed")
	first := string(w.secret("feed-secret").Data["token"])
	if first == "" || !w.bearerWorks(first) || e.Status.RenewalTime == nil {
		t.Fatalf("first token: status %+v", e.Status)
	}
	if got := e.Status.NotAfter.Sub(e.Status.RenewalTime.Time); got != 10*time.Minute {
		t.Errorf("renewal %s before expiry, want renewBefore 10m", got)
	}
	if res.RequeueAfter <= 0 || res.RequeueAfter > controller.DefaultResync {
		t.Errorf("requeue after %s", res.RequeueAfter)
	}
	// Not due: the same token stays.
	run()
	if got := string(w.secret("feed-secret").Data["token"]); got != first {
		t.Fatal("replaced before the renewal time")
	}
	// At the renewal time (10 minutes before expiry) a new token.
	off.Store(int64(time.Until(e.Status.RenewalTime.Time) + time.Second))
	run()
	e = w.getEAT("feed")
	second := string(w.secret("feed-secret").Data["token"])
	if second == first || !w.bearerWorks(second) || !e.Status.NotAfter.After(now().Add(30*time.Minute)) {
		t.Fatalf("no fresh token at the renewal time: status %+v", e.Status)
	}

	// Sign-in breaks: the next renewal fails and keeps the token.
	var login corev1.Secret
	if err := w.cl.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "ado-login"}, &login); err != nil {
		t.Fatal(err)
	}
	login.Data["password"] = []byte("wrong")
	if err := w.cl.Update(ctx, &login); err != nil {
		t.Fatal(err)
	}
	off.Store(int64(time.Until(e.Status.RenewalTime.Time) + time.Second))
	res = run()
	e = w.getEAT("feed")
	if got := string(w.secret("feed-secret").Data["token"]); got != second {
		t.Fatal("the failed renewal changed the Secret")
	}
	ready := meta.FindStatusCondition(e.Status.Conditions, patrolv1.ConditionReady)
	issuing := meta.FindStatusCondition(e.Status.Conditions, patrolv1.ConditionIssuing)
	if ready == nil || ready.Status != metav1.ConditionTrue || issuing == nil || issuing.Status != metav1.ConditionFalse || issuing.Reason != patrolv1.ReasonFailed ||
		e.Status.FailedIssuanceAttempts != 1 || e.Status.LastFailure == "" || res.RequeueAfter <= 0 {
		t.Errorf("after a failure with a valid token: Ready %+v Issuing %+v status %+v", ready, issuing, e.Status)
	}
	// Past its expiry: Ready=False Expired, the Secret keeps the token.
	off.Store(int64(time.Until(e.Status.NotAfter.Time) + time.Second))
	run()
	e = w.getEAT("feed")
	if ready = meta.FindStatusCondition(e.Status.Conditions, patrolv1.ConditionReady); ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != patrolv1.ReasonExpired || e.Status.FailedIssuanceAttempts != 2 {
		t.Errorf("after expiry: Ready %+v status %+v", ready, e.Status)
	}
	if got := string(w.secret("feed-secret").Data["token"]); got != second {
		t.Error("the Secret was changed or emptied")
	}

	// A foreign Secret is refused and left alone.
	if err := w.cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "app-token"}, Data: map[string][]byte{"token": []byte("someone else's")}}); err != nil {
		t.Fatal(err)
	}
	if err := w.cl.Create(ctx, w.eat("steal", func(e *patrolv1.EntraAccessToken) { e.Spec.SecretTarget.Name = "app-token" })); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: w.ns, Name: "steal"}}); err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(w.getEAT("steal").Status.Conditions, patrolv1.ConditionReady); c == nil || c.Reason != patrolv1.ReasonInvalidSpec || !strings.Contains(c.Message, "that patrol did not write") {
		t.Errorf("foreign Secret: Ready %+v", c)
	}
	if got := string(w.secret("app-token").Data["token"]); got != "someone else's" {
		t.Errorf("the foreign Secret was overwritten: %q", got)
	}
}

// Admission refuses what the EntraAccessToken CRD's rules can check.
func TestEntraAccessTokenAdmission(t *testing.T) {
	kc := kubetest.Start(t)
	cl := installCRDs(t, kc)
	w := &world{t: t, ns: kc.Namespace(t)}
	d := func(s string) *metav1.Duration { v, _ := time.ParseDuration(s); return &metav1.Duration{Duration: v} }
	pct := func(v int32) *int32 { return &v }
	for _, tc := range []struct {
		name string
		mut  func(*patrolv1.EntraAccessToken)
		want string
	}{
		{"scope-not-default", func(e *patrolv1.EntraAccessToken) { e.Spec.Scope = "499b84ac-1321-427f-aa17-267ca6975798/vso.code" }, "scope must be a resource's .default scope"},
		{"scope-bare", func(e *patrolv1.EntraAccessToken) { e.Spec.Scope = ".default" }, "scope must be a resource's .default scope"},
		{"scope-http", func(e *patrolv1.EntraAccessToken) { e.Spec.Scope = "http://vault.azure.net/.default" }, "scope must be a resource's .default scope"},
		{"renew-too-long", func(e *patrolv1.EntraAccessToken) { e.Spec.RenewBefore = d("1h") }, "renewBefore must be at least 1m and under 1h"},
		{"renew-too-short", func(e *patrolv1.EntraAccessToken) { e.Spec.RenewBefore = d("30s") }, "renewBefore must be at least 1m and under 1h"},
		{"renew-both", func(e *patrolv1.EntraAccessToken) {
			e.Spec.RenewBefore, e.Spec.RenewBeforePercentage = d("10m"), pct(20)
		}, "not both"},
		{"renew-percentage", func(e *patrolv1.EntraAccessToken) { e.Spec.RenewBeforePercentage = pct(95) }, "renewBeforePercentage"},
		{"authorization-id-key", func(e *patrolv1.EntraAccessToken) { e.Spec.SecretTarget.AuthorizationIDKey = "id" }, "has no authorizationId"},
		{"same-keys", func(e *patrolv1.EntraAccessToken) { e.Spec.SecretTarget.ValidToKey = "token" }, "key and validToKey must be distinct"},
		{"template-clash", func(e *patrolv1.EntraAccessToken) {
			e.Spec.SecretTarget.Templates = map[string]string{"expiresOn": "x"}
		}, "a template key is also key or validToKey"},
		{"identity-kind", func(e *patrolv1.EntraAccessToken) { e.Spec.IdentityRef.Kind = "Secret" }, "spec.identityRef.kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cl.Create(context.Background(), w.eat("bad-"+tc.name, tc.mut))
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want a refusal naming %q, got %v", tc.want, err)
			}
		})
	}
	for _, scope := range []string{"https://vault.azure.net/.default", "https://management.azure.com//.default", "api://patrol-test/.default", "00000003-0000-0000-c000-000000000000/.default"} {
		e := w.eat("ok-"+fmt.Sprint(len(scope)), func(e *patrolv1.EntraAccessToken) { e.Spec.Scope = scope })
		if err := cl.Create(context.Background(), e); err != nil {
			t.Errorf("scope %s refused: %v", scope, err)
		}
	}
	good := w.eat("good")
	if err := cl.Create(context.Background(), good); err != nil {
		t.Fatalf("a valid EntraAccessToken was refused: %v", err)
	}
	if good.Spec.Scope != patrolv1.DefaultEntraScope || good.Spec.SecretTarget.Key != "token" || good.Spec.IdentityRef.Kind != "AzureDevOpsIdentity" {
		t.Errorf("defaults not applied: %+v", good.Spec)
	}
}
