package controller_test

import (
	"context"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/controller"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/sink"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// readyWithin waits at most d until name is Ready.
func (w *world) readyWithin(name string, d time.Duration) *patrolv1.PersonalAccessToken {
	w.t.Helper()
	var p *patrolv1.PersonalAccessToken
	w.eventually(name+" Ready", d, func() error {
		p = w.get(name)
		if c := meta.FindStatusCondition(p.Status.Conditions, patrolv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})
	return p
}

// watchResync is far longer than any test: what happens within seconds is
// the Secret watch's doing, not the periodic resync's.
const watchResync = 10 * time.Hour

// A target Secret deleted by hand is back within seconds with the same PAT
// (its last good copy, verified; no new PAT is issued); its data edited by
// hand are written back the same way; and when the copy's PAT no longer
// authenticates (revoked), a deleted Secret gets a new PAT instead.
func TestTargetSecretDeletedOrEditedIsRestored(t *testing.T) {
	w := newWorld(t)
	w.runController(controller.Options{Resync: watchResync})
	ctx := context.Background()
	if err := w.cl.Create(ctx, w.pat("agents")); err != nil {
		t.Fatal(err)
	}
	p := w.readyWith("agents", "")
	cred := w.ns + ".agents"
	orig := w.secret("agents-secret")
	tok := string(orig.Data["token"])

	holds := func(what string, want string) {
		t.Helper()
		w.eventually(what, 10*time.Second, func() error {
			var s corev1.Secret
			if err := w.cl.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "agents-secret"}, &s); err != nil {
				return err
			}
			if got := string(s.Data["token"]); got != want {
				return fmt.Errorf("token %.8q…, want %.8q…", got, want)
			}
			if string(s.Data[".git-credentials"]) != string(orig.Data[".git-credentials"]) || s.Annotations[sink.AnnotationAuthorizationID] != p.Status.AuthorizationID ||
				s.Labels["team"] != "build" {
				return fmt.Errorf("data/annotations/labels not restored: %v %v", s.Annotations, s.Labels)
			}
			return nil
		})
	}

	// Deleted.
	if err := w.cl.Delete(ctx, orig); err != nil {
		t.Fatal(err)
	}
	holds("deleted Secret back with the same PAT", tok)
	if ids := w.managed(cred); len(ids) != 1 || ids[0] != p.Status.AuthorizationID {
		t.Errorf("active managed PATs %v, want only %s (no new PAT for a deleted Secret)", ids, p.Status.AuthorizationID)
	}
	if !w.works(tok) {
		t.Error("the restored PAT does not authenticate")
	}
	w.eventually("Restored Event", 10*time.Second, func() error {
		var evs eventsv1.EventList
		if err := w.cl.List(ctx, &evs, client.InNamespace(w.ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Regarding.Kind == "PersonalAccessToken" && e.Reason == patrolv1.ReasonRestored {
				return nil
			}
		}
		return fmt.Errorf("no Restored Event among %d", len(evs.Items))
	})

	// Edited.
	s := w.secret("agents-secret")
	s.Data["token"] = []byte("not-the-pat")
	delete(s.Data, ".git-credentials")
	if err := w.cl.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	holds("edited Secret's data written back", tok)
	if ids := w.managed(cred); len(ids) != 1 {
		t.Errorf("active managed PATs %v after an edit, want 1", ids)
	}

	// The copy's PAT revoked elsewhere, then the Secret deleted: a new PAT.
	if err := w.verf.RevokePAT(ctx, p.Status.AuthorizationID); err != nil {
		t.Fatal(err)
	}
	if err := w.cl.Delete(ctx, w.secret("agents-secret")); err != nil {
		t.Fatal(err)
	}
	w.eventually("a new PAT in a new Secret", 15*time.Second, func() error {
		var s corev1.Secret
		if err := w.cl.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "agents-secret"}, &s); err != nil {
			return err
		}
		if id := s.Annotations[sink.AnnotationAuthorizationID]; id == "" || id == p.Status.AuthorizationID || !w.works(string(s.Data["token"])) {
			return fmt.Errorf("Secret holds %q", id)
		}
		return nil
	})
}

// A wrong password: the PersonalAccessToken and the EntraAccessToken of
// the identity fail and back off (a minute here). Fixing the password
// Secret wakes both at once: the watch on the Secrets identities reference.
func TestFixedPasswordSecretWakesTheTokensAtOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	login := w.secret("ado-login")
	login.Data["password"] = []byte("wrong password")
	if err := w.cl.Update(ctx, login); err != nil {
		t.Fatal(err)
	}
	w.runController(controller.Options{Resync: watchResync, Backoff: controller.Backoff{Base: time.Minute, Max: time.Hour}})
	if err := w.cl.Create(ctx, w.pat("agents")); err != nil {
		t.Fatal(err)
	}
	if err := w.cl.Create(ctx, w.eat("feed")); err != nil {
		t.Fatal(err)
	}
	w.eventually("both failed", 30*time.Second, func() error {
		p, e := w.get("agents"), w.getEAT("feed")
		if p.Status.FailedIssuanceAttempts < 1 || e.Status.FailedIssuanceAttempts < 1 {
			return fmt.Errorf("attempts %d, %d", p.Status.FailedIssuanceAttempts, e.Status.FailedIssuanceAttempts)
		}
		return nil
	})
	// The hint names the identity's fields, not environment variables the
	// controller never reads for it.
	for _, msg := range []string{w.get("agents").Status.LastFailure, w.getEAT("feed").Status.LastFailure} {
		if strings.Contains(msg, "AZURE_") || !strings.Contains(msg, "spec.passwordRef") {
			t.Errorf("the sign-in failure should name spec.passwordRef and no AZURE_* variable: %s", msg)
		}
	}
	login = w.secret("ado-login")
	login.Data["password"] = []byte(emulator.DefaultPassword)
	if err := w.cl.Update(ctx, login); err != nil {
		t.Fatal(err)
	}
	fixed := time.Now()
	w.readyWithin("agents", 15*time.Second)
	w.eventually("token issued after the fix", 15*time.Second, func() error {
		e := w.getEAT("feed")
		if c := meta.FindStatusCondition(e.Status.Conditions, patrolv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})
	if d := time.Since(fixed); d > 30*time.Second {
		t.Errorf("took %s after the fix; the backoff was a minute", d)
	}
	if !w.works(string(w.secret("agents-secret").Data["token"])) {
		t.Error("the PAT issued after the fix does not authenticate")
	}
}

// A Secret a sink references (the http sink's bearer token) missing: the
// PersonalAccessToken fails and backs off (a minute); creating the Secret
// wakes it at once.
func TestSinkSecretCreatedWakesThePAT(t *testing.T) {
	w := newWorld(t)
	tl := newTool(t)
	ctx := context.Background()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tl.srv.Certificate().Raw})
	if err := w.cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "tool-ca"}, Data: map[string][]byte{"ca.pem": ca}}); err != nil {
		t.Fatal(err)
	}
	w.runController(controller.Options{Resync: watchResync, Backoff: controller.Backoff{Base: time.Minute, Max: time.Hour}})
	if err := w.cl.Create(ctx, w.pat("tooled", func(p *patrolv1.PersonalAccessToken) {
		p.Spec.Sinks = []patrolv1.PATSink{{Name: "tool", HTTP: &patrolv1.HTTPSink{URL: tl.srv.URL + "/api/token", Body: "pat={{token}}", ContentType: "application/x-www-form-urlencoded",
			Auth:        &patrolv1.HTTPSinkAuth{Type: "bearer", TokenRef: &patrolv1.SecretKeyRef{Name: "tool-admin", Key: "token"}},
			CABundleRef: &patrolv1.SecretKeyRef{Name: "tool-ca", Key: "ca.pem"}}}}
	})); err != nil {
		t.Fatal(err)
	}
	w.eventually("failed for the missing Secret", 30*time.Second, func() error {
		if p := w.get("tooled"); p.Status.FailedIssuanceAttempts < 1 {
			return fmt.Errorf("attempts %d", p.Status.FailedIssuanceAttempts)
		}
		return nil
	})
	if err := w.cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "tool-admin"}, Data: map[string][]byte{"token": []byte("tool-admin-token")}}); err != nil {
		t.Fatal(err)
	}
	p := w.readyWithin("tooled", 15*time.Second)
	if got, auth := tl.holds(); !w.works(got) || auth != "Bearer tool-admin-token" || p.Status.AuthorizationID == "" {
		t.Errorf("the tool holds a PAT that works: %t, Authorization %q", w.works(got), auth)
	}
}
