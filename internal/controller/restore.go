package controller

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/sink"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A PAT's secret is returned once, when it is created: Azure DevOps cannot
// give it again. A target Secret deleted (or its data edited) by hand would
// therefore make the rotation engine create a new PAT (and revoke the old
// one as an orphan). Instead the controller keeps, per PersonalAccessToken,
// the target Secret as it last saw it holding its current PAT (its "last
// good" copy, in memory only), and when the Secret is gone or its data
// differ while its annotations still name that PAT, it verifies the copy's
// PAT against Azure DevOps and writes the copy back: the same PAT, no new
// one. Only when the copy is lost (the controller restarted since the
// Secret went) or its PAT no longer authenticates (revoked, expired) does
// the engine issue a new PAT and revoke the old one.
//
// EntraAccessTokens need no copy: a new access token costs a sign-in, not a
// credential to revoke.

// targetCopy is the last good copy of a target Secret.
type targetCopy struct {
	secret          string // the Secret's name (a new spec.secretTarget.name is another Secret)
	authorizationID string
	key             string // the data key of the PAT
	data            map[string][]byte
	labels          map[string]string
	annotations     map[string]string
}

type targetCopies struct {
	mu sync.Mutex
	m  map[string]*targetCopy // by lower-case credential
}

func (c *targetCopies) get(cred string) *targetCopy {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[strings.ToLower(cred)]
}

func (c *targetCopies) put(cred string, t *targetCopy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*targetCopy{}
	}
	c.m[strings.ToLower(cred)] = t
}

func (c *targetCopies) drop(cred string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, strings.ToLower(cred))
}

func targetDataKey(t patrolv1.SecretTarget) string {
	if t.Key == "" {
		return "token"
	}
	return t.Key
}

// restoreTarget writes the last good copy of pat's target Secret back when
// the Secret is gone or its data were edited (see above). It returns a
// failure (and false) only when the copy's PAT could not be verified for a
// reason that may pass (Azure DevOps unreachable): the reconcile then
// retries rather than replacing a PAT that may still be good.
func (r *PATReconciler) restoreTarget(ctx context.Context, pat *patrolv1.PersonalAccessToken, cred string, acct *account) (failure, bool) {
	cp := r.copies.get(cred)
	t := pat.Spec.SecretTarget
	if cp == nil || cp.secret != t.Name || cp.key != targetDataKey(t) {
		return failure{}, true
	}
	var s corev1.Secret
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: pat.Namespace, Name: t.Name}, &s)
	missing := apierrors.IsNotFound(err)
	if err != nil && !missing {
		return failure{}, true // checkTarget reports it
	}
	what := "deleted"
	if !missing {
		if !strings.EqualFold(s.Annotations[sink.AnnotationCredential], cred) || s.Annotations[sink.AnnotationAuthorizationID] != cp.authorizationID || !edited(&s, cp) {
			return failure{}, true // intact, or holding another PAT: the engine decides
		}
		what = "edited"
	}
	if _, err := acct.pats.VerifyPAT(ctx, string(cp.data[cp.key])); err != nil {
		if k := errkind.Of(err); k == errkind.Auth || k == errkind.Usage {
			r.copies.drop(cred)
			r.log().Info("the target Secret's last good PAT no longer authenticates; a new PAT replaces it", slog.String("namespace", pat.Namespace),
				slog.String("name", pat.Name), slog.String("authorizationId", cp.authorizationID), slog.String("error", redact.Error(err)))
			return failure{}, true
		}
		return failure{reason: patrolv1.ReasonFailed, msg: fmt.Sprintf("Secret %s was %s; its last good PAT %s could not be verified before writing it back (%s), so no new PAT is issued yet",
			t.Name, what, cp.authorizationID, redact.Error(err))}, false
	}
	secrets := r.Kube.CoreV1().Secrets(pat.Namespace)
	if missing {
		_, err = secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: pat.Namespace, Name: t.Name,
			Labels: maps.Clone(cp.labels), Annotations: maps.Clone(cp.annotations)}, Type: corev1.SecretTypeOpaque, Data: cloneData(cp.data)},
			metav1.CreateOptions{FieldManager: "patrol"})
	} else {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		maps.Copy(s.Data, cloneData(cp.data))
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		maps.Copy(s.Labels, cp.labels)
		_, err = secrets.Update(ctx, &s, metav1.UpdateOptions{FieldManager: "patrol"})
	}
	if err != nil {
		// The engine runs next and repairs it its way.
		r.log().Warn("could not write the target Secret's last good copy back", slog.String("namespace", pat.Namespace), slog.String("secret", t.Name), slog.String("error", redact.Error(err)))
		return failure{}, true
	}
	r.event(pat, corev1.EventTypeNormal, patrolv1.ReasonRestored, "Restore", "Secret %s was %s; wrote its last good PAT %s back (it still authenticates), no new PAT issued", t.Name, what, cp.authorizationID)
	return failure{}, true
}

// edited reports whether s lost data of the copy (a key removed or changed)
// or patrol's label.
func edited(s *corev1.Secret, cp *targetCopy) bool {
	for k, v := range cp.data {
		if !bytes.Equal(s.Data[k], v) {
			return true
		}
	}
	return s.Labels[sink.LabelManagedBy] != sink.ManagedByPatrol
}

// rememberTarget keeps the target Secret as the last good copy once it
// holds the current PAT authorizationID: after a rotation, and on the first
// reconcile (after a restart) that finds it holding that PAT.
func (r *PATReconciler) rememberTarget(ctx context.Context, pat *patrolv1.PersonalAccessToken, cred, authorizationID string, rotated bool) {
	t := pat.Spec.SecretTarget
	if cp := r.copies.get(cred); !rotated && cp != nil && cp.authorizationID == authorizationID && cp.secret == t.Name && cp.key == targetDataKey(t) {
		return
	}
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: pat.Namespace, Name: t.Name}, &s); err != nil {
		return
	}
	key := targetDataKey(t)
	if s.Annotations[sink.AnnotationAuthorizationID] != authorizationID || !strings.EqualFold(s.Annotations[sink.AnnotationCredential], cred) || len(s.Data[key]) == 0 {
		return
	}
	r.copies.put(cred, &targetCopy{secret: t.Name, authorizationID: authorizationID, key: key,
		data: cloneData(s.Data), labels: maps.Clone(s.Labels), annotations: maps.Clone(s.Annotations)})
}

func cloneData(d map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(d))
	for k, v := range d {
		out[k] = bytes.Clone(v)
	}
	return out
}
