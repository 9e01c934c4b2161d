package sink

import (
	"context"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/kubetest"
)

// BenchmarkKubernetesSecretWrite measures one rotation write (Get + Update)
// against the real apiserver.
func BenchmarkKubernetesSecretWrite(b *testing.B) {
	c := kubetest.Start(b)
	ns := c.Namespace(b)
	snk, err := NewKubernetesSecret(KubernetesSecretOptions{Client: c.AdminClient(b), Namespace: ns, Name: "bench", Create: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	meta := Meta{Credential: "bench", AuthorizationID: "a", ValidTo: time.Now().Add(time.Hour), RotatedAt: time.Now()}
	b.ResetTimer()
	for b.Loop() {
		if err := snk.Write(ctx, kubeTestPAT, meta); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeyVaultWrite measures SetSecret through azsecrets against the
// TLS wire fake (challenge once, then cached token).
func BenchmarkKeyVaultWrite(b *testing.B) {
	f := &kvFake{versions: map[string][]map[string]any{}}
	snk, _ := newKVSinkB(b, f)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if err := snk.Write(ctx, kvTestPAT, Meta{AuthorizationID: "a", ValidTo: time.Now().Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
}
