package sink

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/kubetest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestKubernetesTokenStore(t *testing.T) {
	c := kubetest.Start(t)
	ctx := kubeCtx(t)
	ns := c.Namespace(t)
	admin := c.AdminClient(t)
	st, err := NewKubernetesTokenStore(KubernetesSecretOptions{Client: admin, Namespace: ns, Name: "patrol-token-cache", Create: true}, func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx); !errors.Is(err, entra.ErrNoRefreshToken) || errkind.Of(err) != errkind.Auth || !strings.Contains(err.Error(), "patrol login") {
		t.Fatalf("Load of a missing Secret: %v", err)
	}
	const rt1, rt2 = "refresh-token-one-0123", "refresh-token-two-4567"
	if err := st.Save(ctx, rt1); err != nil {
		t.Fatal(err)
	}
	// Someone adds a key; a later Save keeps it.
	s, _ := admin.CoreV1().Secrets(ns).Get(ctx, "patrol-token-cache", metav1.GetOptions{})
	s.Data["note"] = []byte("x")
	if _, err := admin.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, rt2); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(ctx)
	if err != nil || got != rt2 {
		t.Fatalf("Load = ok:%v, %v", got == rt2, err)
	}
	s, _ = admin.CoreV1().Secrets(ns).Get(ctx, "patrol-token-cache", metav1.GetOptions{})
	if string(s.Data["note"]) != "x" || s.Annotations[AnnotationKind] != "refresh-token" || s.Annotations[AnnotationRotatedAt] != "2026-11-23T00:00:00Z" {
		t.Fatalf("Secret metadata: %v %v", s.Annotations, keys(s.Data))
	}
	if err := st.Save(ctx, ""); errkind.Of(err) != errkind.Usage {
		t.Fatalf("empty Save: %v", err)
	}
	// A Secret without the key is "nothing stored".
	if _, err := admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Data: map[string][]byte{"x": []byte("y")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	st2, _ := NewKubernetesTokenStore(KubernetesSecretOptions{Client: admin, Namespace: ns, Name: "other"}, nil)
	if _, err := st2.Load(ctx); !errors.Is(err, entra.ErrNoRefreshToken) {
		t.Fatalf("Load without key: %v", err)
	}
}
