package sink

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/errkind"
)

const twoContexts = `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://127.0.0.1:1"}
- name: b
  cluster: {server: "https://127.0.0.1:2"}
users:
- name: u
  user: {token: not-a-real-token}
contexts:
- name: ctx-a
  context: {cluster: a, user: u, namespace: team-a}
- name: ctx-b
  context: {cluster: b, user: u, namespace: team-b}
current-context: ctx-a
`

func TestKubeClientConfigContexts(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, []byte(twoContexts), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, ns, err := KubeClientConfig(p, "")
	if err != nil || cfg.Host != "https://127.0.0.1:1" || ns != "team-a" {
		t.Fatalf("current context: host %v ns %q err %v", cfg, ns, err)
	}
	cfg, ns, err = KubeClientConfig(p, "ctx-b")
	if err != nil || cfg.Host != "https://127.0.0.1:2" || ns != "team-b" {
		t.Fatalf("ctx-b: ns %q err %v", ns, err)
	}
	_, _, err = KubeClientConfig(p, "nope")
	if errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown context: %v", err)
	}
	// $KUBECONFIG is used when no kubeconfig parameter is given.
	t.Setenv("KUBECONFIG", p)
	_, ns, err = KubeClientConfig("", "ctx-b")
	if err != nil || ns != "team-b" {
		t.Fatalf("$KUBECONFIG: ns %q err %v", ns, err)
	}
	// The sink takes the context's namespace when none is configured.
	params, _ := json.Marshal(map[string]any{"type": "kubernetes-secret", "name": "x", "kubeconfig": p, "context": "ctx-b"})
	s, err := Build(Spec{Type: KubernetesSecretTypeName, Params: params, Where: "t"}, Deps{})
	if err != nil || s.Name() != "kubernetes-secret:team-b/x" {
		t.Fatalf("Build: %v %v", s, err)
	}
}

func TestKubeClientConfigInClusterWithoutToken(t *testing.T) {
	if _, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/token"); err == nil {
		t.Skip("running in a Pod")
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	_, _, err := KubeClientConfig("", "")
	if errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), "automountServiceAccountToken") {
		t.Fatalf("in-cluster without token: %v", err)
	}
}
