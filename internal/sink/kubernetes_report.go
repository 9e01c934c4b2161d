package sink

// The kubernetes-secret sink reports each run's outcome on its Secret:
//
//	patrol.dev/last-result   rotated | failed | ok
//	patrol.dev/last-reason   failure reason (absent unless failed)
//	patrol.dev/last-run      when the run ended (RFC 3339, UTC)
//	patrol.dev/last-message  the failure, one line (absent unless failed)
//
// (a JSON merge patch of the annotations; an ok run patches only when the
// recorded result differs), and an events.k8s.io/v1 Event regarding the
// Secret for a rotation (Normal, reason Rotated) or a failure (Warning,
// reason VerificationFailed or RotationFailed). RBAC: patch on the Secret,
// create on events.k8s.io events (deploy/rbac.yaml).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Outcome annotations and the Event's reporting controller.
const (
	AnnotationLastResult  = "patrol.dev/last-result"
	AnnotationLastReason  = "patrol.dev/last-reason"
	AnnotationLastRun     = "patrol.dev/last-run"
	AnnotationLastMessage = "patrol.dev/last-message"
	ReportingController   = "patrol.dev/patrol"
	maxEventNote          = 1024 // the API's limit on Event.note
	maxAnnotationMessage  = 512
)

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// Report implements Reporter.
func (k *KubernetesSecret) Report(ctx context.Context, o Outcome) error {
	secrets := k.o.Client.CoreV1().Secrets(k.o.Namespace)
	cur, err := secrets.Get(ctx, k.o.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil // nothing to annotate (a failed first delivery)
	}
	if err != nil {
		return k.wrap("get", err)
	}
	if o.Result != OutcomeOK || cur.Annotations[AnnotationLastResult] != OutcomeOK {
		ann := map[string]any{
			AnnotationLastResult: o.Result, AnnotationLastRun: kubeRFC3339(o.At),
			AnnotationLastReason: nil, AnnotationLastMessage: nil,
		}
		if o.Result == OutcomeFailed {
			ann[AnnotationLastReason], ann[AnnotationLastMessage] = o.Reason, truncate(o.Message, maxAnnotationMessage)
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
		if cur, err = secrets.Patch(ctx, k.o.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "patrol"}); err != nil {
			return k.wrap("patch", err)
		}
	}
	if o.Result == OutcomeOK {
		return nil
	}
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", k.o.Name, time.Now().UnixNano()), Namespace: k.o.Namespace},
		EventTime:           metav1.NewMicroTime(o.At),
		ReportingController: ReportingController,
		ReportingInstance:   reportingInstance(),
		Action:              "Rotate",
		Regarding: corev1.ObjectReference{APIVersion: "v1", Kind: "Secret", Namespace: k.o.Namespace, Name: k.o.Name,
			UID: cur.UID, ResourceVersion: cur.ResourceVersion},
	}
	switch {
	case o.Result == OutcomeRotated:
		ev.Type, ev.Reason = corev1.EventTypeNormal, "Rotated"
		ev.Note = fmt.Sprintf("credential %s: new PAT %s delivered", o.Credential, o.AuthorizationID)
		if o.AuthorizationID == "" {
			ev.Note = fmt.Sprintf("credential %s: new token delivered", o.Credential)
		}
	case o.Reason == "verify":
		ev.Type, ev.Reason = corev1.EventTypeWarning, "VerificationFailed"
		ev.Note = fmt.Sprintf("credential %s: a consumer refused the new PAT: %s", o.Credential, o.Message)
	default:
		ev.Type, ev.Reason = corev1.EventTypeWarning, "RotationFailed"
		ev.Note = fmt.Sprintf("credential %s failed (%s): %s", o.Credential, o.Reason, o.Message)
	}
	ev.Note = truncate(ev.Note, maxEventNote)
	if _, err := k.o.Client.EventsV1().Events(k.o.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return kubeErr("create", "Event in namespace "+k.o.Namespace, err,
			fmt.Sprintf("the ServiceAccount patrol runs as needs a Role in namespace %q with rule {apiGroups: [\"events.k8s.io\"], resources: [\"events\"], verbs: [\"create\"]} (see deploy/rbac.yaml)", k.o.Namespace))
	}
	return nil
}

// reportingInstance is the Pod (POD_NAME, set by deploy/cronjob.yaml) or host.
func reportingInstance() string {
	if p := os.Getenv("POD_NAME"); p != "" {
		return truncate(p, 128)
	}
	h, _ := os.Hostname()
	return truncate("patrol-"+h, 128)
}
