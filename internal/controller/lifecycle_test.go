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
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The whole life of a PersonalAccessToken with the controller running
// in-process against the real kube-apiserver and the emulator: created →
// the Secret holds a PAT that authenticates → forced renewal
// (patrol.dev/renew-now) → the old PAT is revoked → the identity's
// deletion waits while referenced → the CR is deleted → its PAT is revoked
// → the identity goes.
func TestPersonalAccessTokenLifecycle(t *testing.T) {
	w := newWorld(t)
	probe := freeAddr(t)
	_, metricsURL := w.runController(controller.Options{ProbeAddr: probe})
	ctx := context.Background()

	if err := w.cl.Create(ctx, w.pat("agents")); err != nil {
		t.Fatal(err)
	}
	p := w.readyWith("agents", "")
	cred := w.ns + ".agents"
	if p.Status.CredentialName != cred || p.Status.NotAfter == nil || p.Status.RenewalTime == nil {
		t.Fatalf("status: %+v", p.Status)
	}
	if got := p.Status.NotAfter.Sub(p.Status.RenewalTime.Time); got < 9*24*time.Hour || got > 11*24*time.Hour {
		t.Errorf("renewal %s before expiry, want a third of 30d", got)
	}
	sec := w.secret("agents-secret")
	first := string(sec.Data["token"])
	if !w.works(first) {
		t.Fatal("the Secret's PAT does not authenticate")
	}
	if string(sec.Data["authorizationId"]) != p.Status.AuthorizationID || sec.Labels["team"] != "build" {
		t.Errorf("Secret data/labels: %v %v", string(sec.Data["authorizationId"]), sec.Labels)
	}
	if got, want := string(sec.Data[".git-credentials"]), "https://pat:"+first+"@dev.azure.com\n"; got != want {
		t.Errorf("template .git-credentials = %q", got)
	}
	if got, want := string(sec.Data["expiry"]), "valid to "+p.Status.NotAfter.UTC().Format(time.RFC3339)+" ("+p.Status.AuthorizationID+")"; got != want {
		t.Errorf("template expiry = %q, want %q", got, want)
	}
	if c := meta.FindStatusCondition(p.Status.Conditions, patrolv1.ConditionIssuing); c == nil || c.Status != metav1.ConditionFalse || c.Reason != patrolv1.ReasonIssued {
		t.Errorf("Issuing condition: %+v", c)
	}
	if !controllerFinalizer(p.Finalizers, controller.FinalizerRevoke) {
		t.Errorf("finalizers %v", p.Finalizers)
	}

	// kubectl get's columns.
	if cols, row := w.table("personalaccesstokens"); strings.Join(cols, ",") != "Name,Ready,Secret,Expires,Renewal,Age" ||
		len(row) < 5 || row[1] != "True" || row[3] != p.Status.NotAfter.UTC().Format(time.RFC3339) || row[4] != p.Status.RenewalTime.UTC().Format(time.RFC3339) {
		t.Errorf("printer columns %v, first row %v", cols, row)
	}

	// Forced renewal.
	p.Annotations = map[string]string{patrolv1.AnnotationRenewNow: "1"}
	if err := w.cl.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	p2 := w.readyWith("agents", p.Status.AuthorizationID)
	sec = w.secret("agents-secret")
	second := string(sec.Data["token"])
	if got := string(sec.Data[".git-credentials"]); got != "https://pat:"+second+"@dev.azure.com\n" {
		t.Errorf("template not rendered again at renewal: %q", got)
	}
	if second == first || !w.works(second) {
		t.Fatal("the renewed PAT is not in the Secret or does not authenticate")
	}
	w.eventually("old PAT revoked", 10*time.Second, func() error {
		if w.works(first) {
			return errors.New("the replaced PAT still authenticates")
		}
		return nil
	})
	if ids := w.managed(cred); len(ids) != 1 || ids[0] != p2.Status.AuthorizationID {
		t.Errorf("active managed PATs %v, want only %s", ids, p2.Status.AuthorizationID)
	}
	if p2.Status.LastRenewRequest != "1" {
		t.Errorf("lastRenewRequest %q", p2.Status.LastRenewRequest)
	}

	// Metrics, probes, Events.
	code, body := httpGet(t, metricsURL)
	for _, want := range []string{
		fmt.Sprintf(`patrol_credential_ready{credential=%q} 1`, cred),
		fmt.Sprintf(`patrol_rotations_total{credential=%q} 2`, cred),
		fmt.Sprintf(`patrol_credential_info{credential=%q,identity="AzureDevOpsIdentity/%s/bot",kind="pat",organization="contoso"} 1`, cred, w.ns),
		`patrol_build_info{`, `controller_runtime_reconcile_total{controller="personalaccesstoken"`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := httpGet(t, "http://"+probe+path); code != 200 {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	var evs eventsv1.EventList
	if err := w.cl.List(ctx, &evs, client.InNamespace(w.ns)); err != nil {
		t.Fatal(err)
	}
	issued := 0
	for _, e := range evs.Items {
		if e.Regarding.Kind == "PersonalAccessToken" && e.Reason == patrolv1.ReasonIssued {
			issued++
		}
	}
	if issued < 2 {
		t.Errorf("%d Issued Events regarding the PersonalAccessToken, want 2", issued)
	}

	// Deleting the identity waits while it is referenced.
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
		if c == nil || c.Reason != patrolv1.ReasonInUse || !strings.Contains(c.Message, w.ns+"/agents") {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})

	// Deleting the PersonalAccessToken revokes its PAT, then the identity goes.
	if err := w.cl.Delete(ctx, p2); err != nil {
		t.Fatal(err)
	}
	w.eventually("PersonalAccessToken gone", 30*time.Second, func() error {
		err := w.cl.Get(ctx, client.ObjectKeyFromObject(p2), &patrolv1.PersonalAccessToken{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	if w.works(second) {
		t.Error("the PAT of the deleted PersonalAccessToken still authenticates")
	}
	if ids := w.managed(cred); len(ids) != 0 {
		t.Errorf("active managed PATs after deletion: %v", ids)
	}
	w.eventually("identity gone", 60*time.Second, func() error {
		err := w.cl.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "bot"}, &patrolv1.AzureDevOpsIdentity{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	code, body = httpGet(t, metricsURL)
	if code != 200 || strings.Contains(body, fmt.Sprintf(`patrol_credential_ready{credential=%q}`, cred)) {
		t.Errorf("the deleted credential's series are still exported")
	}
}

func controllerFinalizer(fs []string, f string) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}
