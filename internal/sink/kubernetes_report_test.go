package sink

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/kubetest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// A rotation and a failure leave the outcome in the Secret's annotations
// and an Event regarding the Secret; an ok run after an ok run writes nothing.
func TestKubernetesSecretReport(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	cs := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ado-pat", Namespace: "patrol", UID: "u-1",
		Annotations: map[string]string{"keep": "me"}}})
	k, err := NewKubernetesSecret(KubernetesSecretOptions{Client: cs, Namespace: "patrol", Name: "ado-pat"})
	if err != nil {
		t.Fatal(err)
	}
	get := func() map[string]string {
		s, err := cs.CoreV1().Secrets("patrol").Get(ctx, "ado-pat", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Annotations
	}
	events := func() []string {
		l, err := cs.EventsV1().Events("patrol").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range l.Items {
			if e.Regarding.Kind != "Secret" || e.Regarding.Name != "ado-pat" || e.Regarding.UID != "u-1" || e.ReportingController != ReportingController || e.Action != "Rotate" {
				t.Errorf("event not about the Secret: %+v", e)
			}
			out = append(out, e.Type+"/"+e.Reason+": "+e.Note)
		}
		return out
	}
	if err := k.Report(ctx, Outcome{Credential: "agents", Result: OutcomeFailed, Reason: "verify", Message: "sonar refused it", At: at}); err != nil {
		t.Fatal(err)
	}
	a := get()
	if a[AnnotationLastResult] != "failed" || a[AnnotationLastReason] != "verify" || a[AnnotationLastMessage] != "sonar refused it" || a[AnnotationLastRun] != "2026-11-23T10:00:00Z" || a["keep"] != "me" {
		t.Fatalf("annotations after a failure: %v", a)
	}
	if err := k.Report(ctx, Outcome{Credential: "agents", Result: OutcomeRotated, AuthorizationID: "id-2", At: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	a = get()
	if a[AnnotationLastResult] != "rotated" || a[AnnotationLastReason] != "" || a[AnnotationLastMessage] != "" {
		t.Fatalf("annotations after a rotation: %v", a)
	}
	evs := events()
	if len(evs) != 2 || !strings.Contains(strings.Join(evs, "\n"), "Warning/VerificationFailed: credential agents: a consumer refused the new PAT: sonar refused it") ||
		!strings.Contains(strings.Join(evs, "\n"), "Normal/Rotated: credential agents: new PAT id-2 delivered") {
		t.Fatalf("events: %q", evs)
	}
	// ok, then ok again: annotations once, no Event.
	k.Report(ctx, Outcome{Credential: "agents", Result: OutcomeOK, At: at.Add(2 * time.Hour)})
	if get()[AnnotationLastRun] != "2026-11-23T12:00:00Z" {
		t.Fatal("first ok not recorded")
	}
	k.Report(ctx, Outcome{Credential: "agents", Result: OutcomeOK, At: at.Add(3 * time.Hour)})
	if get()[AnnotationLastRun] != "2026-11-23T12:00:00Z" || len(events()) != 2 {
		t.Fatal("an ok run after an ok run wrote the Secret or an Event")
	}
	// A Secret that does not exist: nothing to report on.
	missing, _ := NewKubernetesSecret(KubernetesSecretOptions{Client: cs, Namespace: "patrol", Name: "absent"})
	if err := missing.Report(ctx, Outcome{Result: OutcomeFailed, At: at}); err != nil {
		t.Fatal(err)
	}
}

// Against a real apiserver: the Event validates (events.k8s.io/v1 rules on
// names, reportingController, note length) and regards the Secret.
func TestKubernetesSecretReportRealServer(t *testing.T) {
	c := kubetest.Start(t)
	ctx := kubeCtx(t)
	ns := c.Namespace(t)
	cs := c.AdminClient(t)
	k, _ := NewKubernetesSecret(KubernetesSecretOptions{Client: cs, Namespace: ns, Name: "ado-pat", Create: true})
	if err := k.Write(ctx, kubeTestPAT, Meta{Credential: "agents", AuthorizationID: "id-1", Kind: "pat"}); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 3000)
	if err := k.Report(ctx, Outcome{Credential: "agents", Result: OutcomeFailed, Reason: "sink", Message: long, At: time.Now()}); err != nil {
		t.Fatalf("report on a real apiserver: %v", err)
	}
	l, err := cs.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(l.Items) != 1 || l.Items[0].Reason != "RotationFailed" || l.Items[0].Regarding.Name != "ado-pat" || l.Items[0].Regarding.UID == "" {
		t.Fatalf("events: %v %+v", err, l)
	}
	s, _ := cs.CoreV1().Secrets(ns).Get(ctx, "ado-pat", metav1.GetOptions{})
	if s.Annotations[AnnotationLastResult] != "failed" || len(s.Annotations[AnnotationLastMessage]) > 512 || string(s.Data["token"]) != kubeTestPAT {
		t.Fatalf("secret after the report: %v", s.Annotations)
	}
}
