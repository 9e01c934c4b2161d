package sink

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KubernetesTokenStore keeps the device-code refresh token in one key of a
// Kubernetes Secret; it implements entra.RefreshTokenStore. In a CronJob
// the refresh token must be written back after every sign-in (Entra rotates
// it), which a read-only Secret volume cannot do — hence this store.
//
// The Secret gets the label app.kubernetes.io/managed-by=patrol and the
// annotations patrol.dev/kind=refresh-token and patrol.dev/rotated-at. Other
// keys are kept. The ServiceAccount needs get/update/patch on the Secret
// (resourceNames), and create unless the Secret is pre-created
// (set Create=false then).
type KubernetesTokenStore struct {
	s   *KubernetesSecret
	now func() time.Time
}

// NewKubernetesTokenStore returns a store using o.Namespace/o.Name, key o.Key
// (default "refresh-token").
func NewKubernetesTokenStore(o KubernetesSecretOptions, now func() time.Time) (*KubernetesTokenStore, error) {
	if o.Key == "" {
		o.Key = "refresh-token"
	}
	s, err := NewKubernetesSecret(o)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &KubernetesTokenStore{s: s, now: now}, nil
}

var _ entra.RefreshTokenStore = (*KubernetesTokenStore)(nil)

// Name is "kubernetes-secret:ns/name#key".
func (t *KubernetesTokenStore) Name() string { return t.s.Name() + "#" + t.s.o.Key }

// Load returns the stored refresh token; a missing Secret or key wraps
// entra.ErrNoRefreshToken.
func (t *KubernetesTokenStore) Load(ctx context.Context) (string, error) {
	sec, err := t.s.o.Client.CoreV1().Secrets(t.s.o.Namespace).Get(ctx, t.s.o.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", errkind.New(errkind.Auth, fmt.Errorf("refresh-token Secret %s/%s does not exist: run `patrol login` with this store to bootstrap it: %w", t.s.o.Namespace, t.s.o.Name, entra.ErrNoRefreshToken))
	}
	if err != nil {
		return "", t.s.wrap("get", err)
	}
	v := sec.Data[t.s.o.Key]
	if len(v) == 0 {
		return "", errkind.New(errkind.Auth, fmt.Errorf("refresh-token Secret %s/%s has no key %q: run `patrol login` with this store to bootstrap it: %w", t.s.o.Namespace, t.s.o.Name, t.s.o.Key, entra.ErrNoRefreshToken))
	}
	return string(v), nil
}

// Save stores refreshToken (refusing an empty one).
func (t *KubernetesTokenStore) Save(ctx context.Context, refreshToken string) error {
	if refreshToken == "" {
		return kubeUsageErr("%s: refusing to store an empty refresh token", t.Name())
	}
	now := t.now()
	return t.s.update(ctx, func(s *corev1.Secret) {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		s.Data[t.s.o.Key] = []byte(refreshToken)
		s.StringData = nil
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		maps.Copy(s.Labels, t.s.o.Labels)
		s.Labels[LabelManagedBy] = ManagedByPatrol
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		maps.Copy(s.Annotations, t.s.o.Annotations)
		s.Annotations[AnnotationKind] = "refresh-token"
		s.Annotations[AnnotationRotatedAt] = kubeRFC3339(now)
	})
}
