package charts

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/kubetest"
	"github.com/patrol-dev/patrol/internal/lock"
	"github.com/patrol-dev/patrol/internal/sink"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// warnings collects the apiserver's Warning headers (Pod Security warns
// about workload resources whose Pod template would be refused).
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

// gvr maps the kinds the chart renders to their resources.
func gvr(u *unstructured.Unstructured) schema.GroupVersionResource {
	gv := u.GroupVersionKind().GroupVersion()
	return gv.WithResource(strings.ToLower(u.GetKind()) + "s")
}

// apply server-side applies u as field manager "helm" with strict field
// validation, as `helm install/upgrade` with server-side apply does.
func apply(ctx context.Context, dyn dynamic.Interface, u *unstructured.Unstructured) error {
	body, err := json.Marshal(u)
	if err != nil {
		return err
	}
	var ri dynamic.ResourceInterface = dyn.Resource(gvr(u))
	if ns := u.GetNamespace(); ns != "" {
		ri = dyn.Resource(gvr(u)).Namespace(ns)
	}
	force := true
	_, err = ri.Patch(ctx, u.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "helm", Force: &force, FieldValidation: "Strict"})
	return err
}

// standInCRD stands in for a Prometheus Operator CRD (the test checks the
// chart's object is accepted under its group/version/kind; the rule text is
// compared with deploy/monitoring by TestRulesAreDeployMonitoring).
func standInCRD(kind, plural string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": plural + ".monitoring.coreos.com"},
		"spec": map[string]any{
			"group": "monitoring.coreos.com",
			"names": map[string]any{"kind": kind, "listKind": kind + "List", "plural": plural, "singular": strings.ToLower(kind)},
			"scope": "Namespaced",
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"spec": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
					},
				}},
			}},
		},
	}}
}

// TestChartOnRealAPIServer renders every documented example into its own
// namespace enforcing restricted Pod Security and server-side applies it to
// a real kube-apiserver; then, as the chart's ServiceAccount, checks that it
// may do exactly what patrol.yaml needs, and runs the Lease lock, the
// kubernetes-secret sinks (write + report) and the refresh-token store with
// those rights; finally a re-apply (helm upgrade) keeps what patrol wrote.
func TestChartOnRealAPIServer(t *testing.T) {
	bin := helmBin(t)
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	warn := &warnings{}
	adminCfg := rest.CopyConfig(c.Admin)
	adminCfg.WarningHandler = warn
	admin, err := kubernetes.NewForConfig(adminCfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(adminCfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range []*unstructured.Unstructured{standInCRD("PrometheusRule", "prometheusrules"), standInCRD("ServiceMonitor", "servicemonitors")} {
		if err := apply(ctx, dyn, crd); err != nil {
			t.Fatal(err)
		}
	}
	ensureNS := func(ns string) {
		t.Helper()
		n := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": ns, "labels": map[string]any{
				"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
				"pod-security.kubernetes.io/warn": "restricted"}}}}
		if err := apply(ctx, dyn, n); err != nil {
			t.Fatalf("namespace %s: %v", ns, err)
		}
	}
	for _, ex := range examples(t) {
		name := exampleName(ex)
		t.Run(name, func(t *testing.T) {
			ns := "helm-" + name
			ch := render(t, bin, "patrol", ns, ex)
			ensureNS(ns)
			for _, s := range ch.kubeSinks {
				ensureNS(s.Namespace)
			}
			for ns := range ch.serviceAccountTokens(t) {
				ensureNS(ns)
			}
			warn.take()
			// crds/ first, as helm install does.
			for _, u := range ch.crds {
				if err := apply(ctx, dyn, u); err != nil {
					t.Fatalf("CRD %s: %v", u.GetName(), err)
				}
			}
			for _, u := range ch.all {
				if u.GetKind() == "CustomResourceDefinition" {
					continue
				}
				var err error
				for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
					// A just-created CRD is served a moment later.
					if err = apply(ctx, dyn, u); err == nil || u.GetAPIVersion() != "monitoring.coreos.com/v1" || time.Now().After(deadline) {
						break
					}
				}
				if err != nil {
					t.Fatalf("server-side apply %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
				}
			}
			for _, w := range warn.take() {
				t.Errorf("apiserver warning on apply: %s", w)
			}
			checkPodSecurity(ctx, t, admin, ch)
			if ch.deployment != nil {
				checkControllerRights(ctx, t, c, ch)
				return
			}
			checkRights(ctx, t, c, ch)
			// helm upgrade = the same server-side apply again: the keys patrol
			// wrote into the pre-created Secrets stay.
			for _, u := range ch.all {
				if u.GetKind() != "Secret" {
					continue
				}
				if err := apply(ctx, dyn, u); err != nil {
					t.Fatal(err)
				}
				got, err := admin.CoreV1().Secrets(u.GetNamespace()).Get(ctx, u.GetName(), metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Data) == 0 {
					t.Errorf("re-applying Secret %s/%s emptied it", u.GetNamespace(), u.GetName())
				}
			}
		})
	}
}

// checkPodSecurity: the CronJob's Pod is admitted by the namespace's
// enforced restricted level (a dry-run create of the Pod runs admission),
// and the same Pod with privilege escalation allowed is refused — so the
// check can fail.
func checkPodSecurity(ctx context.Context, t *testing.T, admin kubernetes.Interface, ch *chart) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "psa-check", Namespace: ch.ns, Labels: ch.podTemplate().Labels},
		Spec:       *ch.podTemplate().Spec.DeepCopy(),
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	if _, err := admin.CoreV1().Pods(ch.ns).Create(ctx, pod, dry); err != nil {
		t.Errorf("the CronJob's Pod is refused in a namespace enforcing restricted Pod Security: %v", err)
	}
	bad := pod.DeepCopy()
	yes := true
	bad.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = &yes
	_, err := admin.CoreV1().Pods(ch.ns).Create(ctx, bad, dry)
	if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "allowPrivilegeEscalation") {
		t.Errorf("a Pod allowing privilege escalation was not refused by restricted Pod Security (err %v): the namespace does not enforce it", err)
	}
}

// checkRights impersonates the chart's ServiceAccount: SelfSubjectAccessReviews
// for what it may and may not do, then patrol's own Kubernetes code with
// exactly those rights.
func checkRights(ctx context.Context, t *testing.T, c *kubetest.Cluster, ch *chart) {
	t.Helper()
	user, sa, can := asServiceAccount(ctx, t, c, ch)
	lease := ch.file.Rotation.Lock.LeaseName
	// RBAC informers catch up asynchronously after the apply.
	for deadline := time.Now().Add(10 * time.Second); !can(ch.ns, "update", "coordination.k8s.io", "leases", lease) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	checks := []accessCheck{
		{ch.ns, "get", "coordination.k8s.io", "leases", lease, true},
		{ch.ns, "update", "coordination.k8s.io", "leases", lease, true},
		{ch.ns, "create", "coordination.k8s.io", "leases", "", true},
		{ch.ns, "update", "coordination.k8s.io", "leases", "kube-controller-manager", false},
		{ch.ns, "delete", "coordination.k8s.io", "leases", lease, false},
		{ch.ns, "get", "", "secrets", "patrol-auth", false},
		{ch.ns, "get", "", "secrets", "other", false},
		{ch.ns, "list", "", "secrets", "", false},
		{ch.ns, "watch", "", "secrets", "", false},
		{ch.ns, "get", "", "configmaps", ch.config.Name, false},
		{ch.ns, "get", "", "pods", "", false},
		{ch.ns, "list", "events.k8s.io", "events", "", false},
		{"default", "get", "", "secrets", "ado-pat", false},
		{"kube-system", "get", "", "secrets", "other", false},
	}
	creates := map[string]bool{}
	targets := append([]kubeSink(nil), ch.kubeSinks...)
	if ch.tokenCache != nil {
		f := false
		targets = append(targets, kubeSink{Name: ch.tokenCache.Name, Namespace: ch.tokenCache.Namespace, Key: ch.tokenCache.Key, Create: &f})
	}
	for _, s := range targets {
		checks = append(checks,
			accessCheck{s.Namespace, "get", "", "secrets", s.Name, true},
			accessCheck{s.Namespace, "update", "", "secrets", s.Name, true},
			accessCheck{s.Namespace, "patch", "", "secrets", s.Name, true},
			accessCheck{s.Namespace, "delete", "", "secrets", s.Name, false},
			accessCheck{s.Namespace, "create", "events.k8s.io", "events", "", true},
			accessCheck{s.Namespace, "update", "events.k8s.io", "events", "", false})
		creates[s.Namespace] = creates[s.Namespace] || s.Create == nil || *s.Create
	}
	for ns, want := range creates {
		checks = append(checks, accessCheck{ns, "create", "", "secrets", "", want})
	}
	checkAccess(t, user, can, checks)

	// patrol's Lease lock, sinks and refresh-token store, as the ServiceAccount.
	lk := lock.NewLease(lock.LeaseOptions{Client: sa, Namespace: ch.ns, Name: lease, Identity: "chart-test", Duration: time.Minute})
	release, err := lk.Acquire(ctx)
	if err != nil {
		t.Fatalf("Lease lock as the ServiceAccount: %v", err)
	}
	for _, s := range ch.kubeSinks {
		snk, err := sink.NewKubernetesSecret(sink.KubernetesSecretOptions{Client: sa, Namespace: s.Namespace, Name: s.Name, Key: s.Key, Create: s.Create != nil && *s.Create})
		if err != nil {
			t.Fatal(err)
		}
		if err := snk.Write(ctx, "chart-test-token-value", sink.Meta{Credential: s.Credential, AuthorizationID: "a", ValidTo: time.Now().Add(time.Hour)}); err != nil {
			t.Errorf("sink %s/%s as the ServiceAccount: %v", s.Namespace, s.Name, err)
			continue
		}
		if err := snk.Report(ctx, sink.Outcome{Credential: s.Credential, Result: sink.OutcomeRotated, AuthorizationID: "a", At: time.Now()}); err != nil {
			t.Errorf("report (annotations + Event) on %s/%s as the ServiceAccount: %v", s.Namespace, s.Name, err)
		}
	}
	if tc := ch.tokenCache; tc != nil {
		store, err := sink.NewKubernetesTokenStore(sink.KubernetesSecretOptions{Client: sa, Namespace: tc.Namespace, Name: tc.Name, Key: tc.Key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Save(ctx, "chart-test-refresh-token"); err != nil {
			t.Errorf("refresh-token store %s/%s as the ServiceAccount: %v", tc.Namespace, tc.Name, err)
		} else if got, err := store.Load(ctx); err != nil || got != "chart-test-refresh-token" {
			t.Errorf("refresh-token store Load = %q, %v", got, err)
		}
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
}

type canFunc func(ns, verb, group, resource, name string) bool

// asServiceAccount returns the chart's ServiceAccount's user name, a
// clientset impersonating it, and a SelfSubjectAccessReview as it.
func asServiceAccount(ctx context.Context, t *testing.T, c *kubetest.Cluster, ch *chart) (string, kubernetes.Interface, canFunc) {
	t.Helper()
	user := fmt.Sprintf("system:serviceaccount:%s:%s", ch.ns, ch.sa.Name)
	cfg := rest.CopyConfig(c.Admin)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ch.ns, "system:authenticated"}}
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	can := func(ns, verb, group, resource, name string) bool {
		t.Helper()
		r, err := sa.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: group, Resource: resource, Name: name}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SelfSubjectAccessReview: %v", err)
		}
		return r.Status.Allowed
	}
	return user, sa, can
}

// accessCheck is one SelfSubjectAccessReview and its wanted answer.
type accessCheck struct {
	ns, verb, group, resource, name string
	want                            bool
}

func checkAccess(t *testing.T, user string, can canFunc, checks []accessCheck) {
	t.Helper()
	for _, k := range checks {
		if got := can(k.ns, k.verb, k.group, k.resource, k.name); got != k.want {
			t.Errorf("%s may %s %s/%s %q in %s: %v, want %v", user, k.verb, k.group, k.resource, k.name, k.ns, got, k.want)
		}
	}
}

// checkControllerRights: the controller's ServiceAccount may run patrol
// controller — its CRDs, Secrets by get/list/watch/create/update/patch,
// Events, its leader-election Lease — and nothing else: no deleting
// Secrets, no creating or deleting the resources users own, no ConfigMaps,
// no other Lease; namespaced, nothing outside the release namespace.
func checkControllerRights(ctx context.Context, t *testing.T, c *kubetest.Cluster, ch *chart) {
	t.Helper()
	user, _, can := asServiceAccount(ctx, t, c, ch)
	args := ch.pod().Containers[0].Args
	_, namespaced := controllerArg(args, "namespace")
	clusterIDs := boolArg(args, "cluster-identities")
	elect := boolArg(args, "leader-elect")
	id, _ := controllerArg(args, "leader-election-id")
	for deadline := time.Now().Add(10 * time.Second); !can(ch.ns, "list", "patrol.dev", "personalaccesstokens", "") && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	other := "team-a" // a namespace the controller serves unless namespaced
	checks := []accessCheck{}
	for _, ns := range []string{ch.ns, other} {
		served := ns == ch.ns || !namespaced
		checks = append(checks,
			accessCheck{ns, "list", "patrol.dev", "personalaccesstokens", "", served},
			accessCheck{ns, "watch", "patrol.dev", "personalaccesstokens", "", served},
			accessCheck{ns, "update", "patrol.dev", "personalaccesstokens", "p", served},
			accessCheck{ns, "update", "patrol.dev", "personalaccesstokens/status", "p", served},
			accessCheck{ns, "update", "patrol.dev", "personalaccesstokens/finalizers", "p", served},
			accessCheck{ns, "watch", "patrol.dev", "azuredevopsidentities", "", served},
			accessCheck{ns, "watch", "patrol.dev", "entraaccesstokens", "", served},
			accessCheck{ns, "update", "patrol.dev", "entraaccesstokens/status", "e", served},
			accessCheck{ns, "update", "patrol.dev", "entraaccesstokens", "e", false},
			accessCheck{ns, "delete", "patrol.dev", "entraaccesstokens", "e", false},
			accessCheck{ns, "create", "patrol.dev", "personalaccesstokens", "", false},
			accessCheck{ns, "delete", "patrol.dev", "personalaccesstokens", "p", false},
			accessCheck{ns, "delete", "patrol.dev", "azuredevopsidentities", "i", false},
			accessCheck{ns, "get", "", "secrets", "ado-pat", served},
			accessCheck{ns, "create", "", "secrets", "", served},
			accessCheck{ns, "update", "", "secrets", "ado-pat", served},
			// list/watch: the metadata-only Secret watch (deleted targets,
			// fixed password Secrets); never delete.
			accessCheck{ns, "list", "", "secrets", "", served},
			accessCheck{ns, "watch", "", "secrets", "", served},
			accessCheck{ns, "delete", "", "secrets", "ado-pat", false},
			accessCheck{ns, "create", "events.k8s.io", "events", "", served},
			accessCheck{ns, "create", "", "events", "", served},
			accessCheck{ns, "get", "", "configmaps", "c", false},
			accessCheck{ns, "list", "", "pods", "", false},
		)
	}
	// ServiceAccount tokens: exactly controller.serviceAccountTokens.
	sat := ch.serviceAccountTokens(t)
	for _, ns := range []string{ch.ns, other, "kube-system"} {
		for _, n := range sat[ns] {
			checks = append(checks, accessCheck{ns, "create", "", "serviceaccounts/token", n, true},
				accessCheck{ns, "get", "", "serviceaccounts", n, false})
		}
		checks = append(checks, accessCheck{ns, "create", "", "serviceaccounts/token", "default", false},
			accessCheck{ns, "create", "", "serviceaccounts/token", "", false})
	}
	checks = append(checks,
		accessCheck{"", "watch", "patrol.dev", "clusterazuredevopsidentities", "", clusterIDs},
		accessCheck{"", "delete", "patrol.dev", "clusterazuredevopsidentities", "c", false},
		accessCheck{ch.ns, "update", "coordination.k8s.io", "leases", id, elect},
		accessCheck{ch.ns, "update", "coordination.k8s.io", "leases", "kube-scheduler", false},
		accessCheck{"kube-system", "update", "coordination.k8s.io", "leases", id, false},
	)
	checkAccess(t, user, can, checks)
}
