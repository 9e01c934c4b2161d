package kubetest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestMain(m *testing.M) { Main(m) }

func TestAssetsMissingMessage(t *testing.T) {
	t.Setenv("PATROL_KUBE_ASSETS", t.TempDir())
	t.Setenv("PATROL_KUBE_CACHE", t.TempDir())
	dir, why := Assets()
	if dir != "" {
		t.Fatalf("Assets() = %q for empty dirs", dir)
	}
	if !strings.Contains(why, "kube-apiserver not found") || !strings.Contains(why, "scripts/kube-tools.sh") {
		t.Fatalf("reason does not say what is missing and how to fix it: %s", why)
	}
}

func TestClusterUsersAndRBAC(t *testing.T) {
	c := Start(t)
	if st, err := os.Stat(c.RotatorKubeconfig); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("rotator kubeconfig: %v %v", st, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := c.Namespace(t)
	admin := c.AdminClient(t)
	if _, err := admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The rotator, loaded from its kubeconfig file, is denied until bound.
	cfg, err := clientcmd.BuildConfigFromFlags("", c.RotatorKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	rot, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rot.CoreV1().Secrets(ns).Get(ctx, "s", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("rotator get before RBAC: want Forbidden, got %v", err)
	}
	c.BindRole(t, ns, "reader", RotatorUser, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"s"}, Verbs: []string{"get"}}})
	// RBAC caches refresh quickly but asynchronously; poll briefly.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = rot.CoreV1().Secrets(ns).Get(ctx, "s", metav1.GetOptions{})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("rotator get after RBAC: %v", err)
	}
	rev, err := rot.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "secrets", Name: "other"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rev.Status.Allowed {
		t.Fatal("rotator may get an unrelated Secret")
	}
	if Start(t) != c {
		t.Fatal("Start returned a second cluster in the same test binary")
	}
}

// With PATROL_REQUIRE_KUBE=1 a missing binary fails the test instead of
// skipping it (CI must not silently skip the Kubernetes tests).
func TestRequireKubeFailsWhenMissing(t *testing.T) {
	if os.Getenv("KUBETEST_HELPER") == "1" {
		Start(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRequireKubeFailsWhenMissing$", "-test.v")
	cmd.Env = append(os.Environ(), "KUBETEST_HELPER=1", "PATROL_REQUIRE_KUBE=1",
		"PATROL_KUBE_ASSETS="+t.TempDir(), "PATROL_KUBE_CACHE="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--- FAIL") || !strings.Contains(string(out), "PATROL_REQUIRE_KUBE=1") {
		t.Fatalf("want a failure naming PATROL_REQUIRE_KUBE, got err=%v:\n%s", err, out)
	}
	cmd = exec.Command(os.Args[0], "-test.run=^TestRequireKubeFailsWhenMissing$", "-test.v")
	cmd.Env = append(os.Environ(), "KUBETEST_HELPER=1", "PATROL_REQUIRE_KUBE=",
		"PATROL_KUBE_ASSETS="+t.TempDir(), "PATROL_KUBE_CACHE="+t.TempDir())
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- SKIP") {
		t.Fatalf("want a skip without PATROL_REQUIRE_KUBE, got err=%v:\n%s", err, out)
	}
}
