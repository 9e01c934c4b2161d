// The documented values examples, rendered and checked: Pod security, RBAC
// generated from the sinks, workload identity and controller mode.
package charts

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/manifestcheck"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

// TestExamples renders every documented example and checks what the chart
// promises: a valid patrol.yaml, restricted-Pod-Security settings, and RBAC
// generated from the configured sinks — nothing more.
func TestExamples(t *testing.T) {
	bin := helmBin(t)
	for _, ex := range examples(t) {
		t.Run(exampleName(ex), func(t *testing.T) {
			c := render(t, bin, "patrol", "patrol", ex)
			if c.deployment != nil {
				checkController(t, c)
				checkWorkloadIdentity(t, c)
				return
			}
			checkPod(t, c)
			checkRBAC(t, c)
			checkWorkloadIdentity(t, c)
		})
	}
}

func checkPod(t *testing.T, c *chart) {
	t.Helper()
	if c.cronJob == nil {
		t.Fatal("no CronJob rendered")
	}
	s := c.cronJob.Spec
	if s.ConcurrencyPolicy != batchv1.ForbidConcurrent || s.StartingDeadlineSeconds == nil {
		t.Error("CronJob needs concurrencyPolicy Forbid and startingDeadlineSeconds")
	}
	js := s.JobTemplate.Spec
	if js.BackoffLimit == nil || *js.BackoffLimit > 3 || js.ActiveDeadlineSeconds == nil {
		t.Error("Job needs backoffLimit ≤ 3 and activeDeadlineSeconds (a hung run must not hold the Lease)")
	}
	pod := c.pod()
	if pod.RestartPolicy != corev1.RestartPolicyNever || pod.ServiceAccountName != c.sa.Name {
		t.Errorf("restartPolicy %q serviceAccountName %q", pod.RestartPolicy, pod.ServiceAccountName)
	}
	for _, bad := range manifestcheck.Pod(pod, "rotate") {
		t.Error(bad)
	}
	if len(pod.Containers) != 1 {
		t.FailNow()
	}
	ct := pod.Containers[0]
	// patrol.yaml is the ConfigMap's, mounted where PATROL_CONFIG points;
	// every secret file patrol.yaml names is a key of the mounted auth Secret.
	mounts := map[string]corev1.Volume{}
	for _, vm := range ct.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == vm.Name {
				mounts[vm.MountPath] = v
			}
		}
	}
	var cfg string
	for _, e := range ct.Env {
		if e.Name == "PATROL_CONFIG" {
			cfg = e.Value
		}
	}
	if v, ok := mounts[path.Dir(cfg)]; !ok || v.ConfigMap == nil || v.ConfigMap.Name != c.config.Name || path.Base(cfg) != "patrol.yaml" {
		t.Errorf("PATROL_CONFIG=%q is not the patrol.yaml of ConfigMap %s mounted in the container", cfg, c.config.Name)
	}
	a := c.file.Auth
	for field, p := range map[string]string{"passwordFile": a.PasswordFile, "clientSecretFile": a.ClientSecretFile, "certificatePath": a.CertificatePath} {
		if p == "" {
			continue
		}
		if v, ok := mounts[path.Dir(p)]; !ok || v.Secret == nil || path.Dir(p) != authDir {
			t.Errorf("auth.%s %s is not a file of a mounted Secret at %s", field, p, authDir)
		}
	}
	if _, ok := mounts["/tmp"]; !ok {
		t.Error("no writable /tmp (emptyDir) for a read-only root filesystem")
	}
}

// checkRBAC: one Role per namespace patrol writes Secrets in, granting
// get/update/patch on exactly those names, events create there, the lock
// Lease by name in the release namespace; create on Secrets only where a
// sink asks for it; pre-created empty Secrets for the others.
func checkRBAC(t *testing.T, c *chart) {
	t.Helper()
	if c.file.Rotation.Lock.Type != "lease" {
		t.Fatalf("rotation.lock.type %q, want lease", c.file.Rotation.Lock.Type)
	}
	type nsNeed struct {
		names  []string
		create bool
	}
	need := map[string]*nsNeed{c.ns: {}}
	pre := map[string]bool{}
	for _, s := range c.secrets {
		pre[s.Namespace+"/"+s.Name] = true
		if len(s.Data)+len(s.StringData) != 0 {
			t.Errorf("pre-created Secret %s declares data; an upgrade would overwrite the PAT", s.Name)
		}
		if s.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("pre-created Secret %s lacks helm.sh/resource-policy: keep (uninstall would delete the PAT)", s.Name)
		}
	}
	sinks := append([]kubeSink(nil), c.kubeSinks...)
	if c.tokenCache != nil {
		f := false
		sinks = append(sinks, kubeSink{Name: c.tokenCache.Name, Namespace: c.tokenCache.Namespace, Create: &f})
	}
	for _, s := range sinks {
		n := need[s.Namespace]
		if n == nil {
			n = &nsNeed{}
			need[s.Namespace] = n
		}
		n.names = append(n.names, s.Name)
		create := s.Create == nil || *s.Create
		n.create = n.create || create
		if create == pre[s.Namespace+"/"+s.Name] {
			t.Errorf("Secret %s/%s: create %v but pre-created %v (exactly one of them)", s.Namespace, s.Name, create, pre[s.Namespace+"/"+s.Name])
		}
	}
	if len(c.roles) != len(need) {
		t.Errorf("%d Roles rendered, want one per namespace patrol writes in: %v", len(c.roles), slices.Collect(maps.Keys(need)))
	}
	for ns, n := range need {
		role, rb := c.rotatorRole(ns)
		if role == nil {
			t.Errorf("no Role in namespace %s", ns)
			continue
		}
		var granted []string
		create, events, leaseNamed, leaseCreate := false, false, false, false
		for i, r := range role.Rules {
			for _, res := range r.Resources {
				switch {
				case slices.Equal(r.APIGroups, []string{""}) && res == "secrets" && len(r.ResourceNames) > 0:
					if !slices.Equal(r.Verbs, []string{"get", "update", "patch"}) {
						t.Errorf("%s rule %d grants %v on Secrets, want get/update/patch", ns, i, r.Verbs)
					}
					granted = append(granted, r.ResourceNames...)
				case slices.Equal(r.APIGroups, []string{""}) && res == "secrets":
					if !slices.Equal(r.Verbs, []string{"create"}) {
						t.Errorf("%s rule %d grants %v on ALL Secrets; only create may be unrestricted", ns, i, r.Verbs)
					}
					create = true
				case slices.Equal(r.APIGroups, []string{"coordination.k8s.io"}) && res == "leases" && ns == c.ns:
					if len(r.ResourceNames) == 0 {
						leaseCreate = slices.Equal(r.Verbs, []string{"create"})
					} else {
						leaseNamed = slices.Equal(r.ResourceNames, []string{c.file.Rotation.Lock.LeaseName}) && slices.Equal(r.Verbs, []string{"get", "update"})
					}
				case slices.Equal(r.APIGroups, []string{"events.k8s.io"}) && res == "events":
					events = slices.Equal(r.Verbs, []string{"create"})
				default:
					t.Errorf("%s rule %d grants %v on %v/%s, which patrol does not need", ns, i, r.Verbs, r.APIGroups, res)
				}
			}
		}
		slices.Sort(granted)
		want := slices.Compact(slices.Sorted(slices.Values(n.names)))
		if !slices.Equal(granted, want) {
			t.Errorf("Role in %s grants Secrets %v, want exactly %v", ns, granted, want)
		}
		if create != n.create {
			t.Errorf("Role in %s: create on Secrets %v, want %v (a sink with create: true)", ns, create, n.create)
		}
		if events != (len(n.names) > 0) {
			t.Errorf("Role in %s: events create %v, want %v (only where Secrets are written)", ns, events, len(n.names) > 0)
		}
		if ns == c.ns && (!leaseNamed || !leaseCreate) {
			t.Errorf("Role in %s lacks get/update on Lease %q or create on leases", ns, c.file.Rotation.Lock.LeaseName)
		}
		if rb == nil || rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name || len(rb.Subjects) != 1 ||
			rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != c.sa.Name || rb.Subjects[0].Namespace != c.ns {
			t.Errorf("RoleBinding in %s does not bind Role %s to ServiceAccount %s/%s: %+v", ns, role.Name, c.ns, c.sa.Name, rb)
		}
	}
}

func checkWorkloadIdentity(t *testing.T, c *chart) {
	t.Helper()
	wi := c.file != nil && c.file.Auth.Method == "workload-identity"
	_, annotated := c.sa.Annotations["azure.workload.identity/client-id"]
	labelled := c.podTemplate().Labels["azure.workload.identity/use"] == "true"
	if wi && (!annotated || !labelled) {
		t.Errorf("workload identity: ServiceAccount annotated %v, Pod labelled %v; want both", annotated, labelled)
	}
	if annotated != labelled {
		t.Errorf("ServiceAccount annotated %v but Pod labelled %v", annotated, labelled)
	}
}

// boolArg reports whether args say --name or --name=true.
func boolArg(args []string, name string) bool {
	v, ok := controllerArg(args, name)
	return ok && (v == "" || v == "true")
}

// controllerArg returns the value of --name=value in args, and whether it is there.
func controllerArg(args []string, name string) (string, bool) {
	for _, a := range args {
		if a == "--"+name {
			return "", true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// checkController: controller mode runs `patrol controller` with restricted
// Pod Security, its servers on the Pod's IP (not every interface) behind
// probes and a metrics Service, leader election whenever more than one
// replica runs, and exactly the RBAC the controller needs.
func checkController(t *testing.T, c *chart) {
	t.Helper()
	d := c.deployment
	pod := c.pod()
	for _, bad := range manifestcheck.Pod(pod, "controller") {
		t.Error(bad)
	}
	if len(pod.Containers) != 1 {
		t.FailNow()
	}
	ct := pod.Containers[0]
	ports := map[string]int32{}
	for _, p := range ct.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for flag, port := range map[string]string{"metrics-bind-address": "metrics", "health-probe-bind-address": "health"} {
		v, _ := controllerArg(ct.Args, flag)
		if want := fmt.Sprintf("$(POD_IP):%d", ports[port]); v != want || ports[port] == 0 {
			t.Errorf("--%s=%q, want %q (the Pod's IP and the container port %q)", flag, v, want, port)
		}
	}
	var podIP bool
	for _, e := range ct.Env {
		podIP = podIP || e.Name == "POD_IP" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP"
	}
	if !podIP {
		t.Error("no POD_IP from status.podIP for the $(POD_IP) of the listen addresses")
	}
	if ct.LivenessProbe == nil || ct.LivenessProbe.HTTPGet == nil || ct.LivenessProbe.HTTPGet.Path != "/healthz" || ct.LivenessProbe.HTTPGet.Port.String() != "health" ||
		ct.ReadinessProbe == nil || ct.ReadinessProbe.HTTPGet == nil || ct.ReadinessProbe.HTTPGet.Path != "/readyz" || ct.ReadinessProbe.HTTPGet.Port.String() != "health" {
		t.Error("probes must be /healthz (liveness) and /readyz (readiness) on port health")
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("Deployment selector %s=%s does not match its Pod template", k, v)
		}
	}
	if _, ok := controllerArg(ct.Args, "leader-elect"); !ok {
		t.Error("--leader-elect must be explicit (patrol controller defaults it to true)")
	}
	elect := boolArg(ct.Args, "leader-elect")
	if d.Spec.Replicas != nil && *d.Spec.Replicas > 1 && !elect {
		t.Errorf("%d replicas without --leader-elect: every replica would rotate", *d.Spec.Replicas)
	}
	if c.service == nil || c.service.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Error("no metrics Service targeting the metrics port")
	} else {
		for k, v := range c.service.Spec.Selector {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("metrics Service selector %s=%s does not select the controller's Pods", k, v)
			}
		}
	}
	if sm := c.serviceMonitor; sm != nil {
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(eps) != 1 || eps[0].(map[string]any)["port"] != "metrics" {
			t.Errorf("ServiceMonitor endpoints %v, want the Service's metrics port", eps)
		}
	}
	// RBAC: a ClusterRole, or with --namespace a Role in the release namespace.
	ns, namespaced := controllerArg(ct.Args, "namespace")
	var rules []rbacv1.PolicyRule
	switch {
	case namespaced && (ns != c.ns || len(c.clusterRoles) != 0):
		t.Errorf("--namespace=%s with %d ClusterRoles: a namespaced controller gets a Role in %s only", ns, len(c.clusterRoles), c.ns)
	case namespaced:
		r, ok := c.roles[c.ns+"/"+d.Name+"-controller"]
		if !ok {
			t.Fatalf("no Role %s-controller in %s", d.Name, c.ns)
		}
		rules = r.Rules
	default:
		r, ok := c.clusterRoles[d.Name+"-controller"]
		if !ok {
			t.Fatalf("no ClusterRole %s-controller", d.Name)
		}
		rules = r.Rules
	}
	if _, ok := controllerArg(ct.Args, "cluster-identities"); !ok {
		t.Error("--cluster-identities must be explicit (patrol controller defaults it to true)")
	}
	clusterIDs := boolArg(ct.Args, "cluster-identities")
	want := map[string][]string{
		"patrol.dev/personalaccesstokens": {"get", "list", "watch", "update", "patch"}, "patrol.dev/azuredevopsidentities": {"get", "list", "watch", "update", "patch"},
		"patrol.dev/personalaccesstokens/status": {"get", "update", "patch"}, "patrol.dev/azuredevopsidentities/status": {"get", "update", "patch"},
		"patrol.dev/personalaccesstokens/finalizers": {"update"}, "patrol.dev/azuredevopsidentities/finalizers": {"update"},
		"patrol.dev/entraaccesstokens": {"get", "list", "watch"}, "patrol.dev/entraaccesstokens/status": {"get", "update", "patch"},
		"/secrets": {"get", "list", "watch", "create", "update", "patch"}, "/events": {"create", "patch"}, "events.k8s.io/events": {"create", "patch"},
	}
	if clusterIDs {
		want["patrol.dev/clusterazuredevopsidentities"] = want["patrol.dev/azuredevopsidentities"]
		want["patrol.dev/clusterazuredevopsidentities/status"] = want["patrol.dev/azuredevopsidentities/status"]
		want["patrol.dev/clusterazuredevopsidentities/finalizers"] = want["patrol.dev/azuredevopsidentities/finalizers"]
	}
	got := map[string][]string{}
	for _, r := range rules {
		if len(r.ResourceNames) != 0 || len(r.NonResourceURLs) != 0 {
			t.Errorf("unexpected rule %+v", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				got[g+"/"+res] = append(got[g+"/"+res], r.Verbs...)
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("controller rules grant\n%v\nwant exactly\n%v", got, want)
	}
	checkServiceAccountTokens(t, c)
	if elect {
		id, _ := controllerArg(ct.Args, "leader-election-id")
		r, ok := c.roles[c.ns+"/"+d.Name+"-controller-leader-election"]
		if !ok || len(r.Rules) != 2 || !slices.Equal(r.Rules[0].ResourceNames, []string{id}) || !slices.Equal(r.Rules[0].Verbs, []string{"get", "update"}) ||
			len(r.Rules[1].ResourceNames) != 0 || !slices.Equal(r.Rules[1].Verbs, []string{"create"}) {
			t.Errorf("leader election needs a Role with get/update on Lease %q and create on leases; got %+v", id, r)
		}
	}
}

// serviceAccountTokens is controller.serviceAccountTokens of the values
// file c rendered: namespace (default the release's) → sorted names.
func (c *chart) serviceAccountTokens(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	if c.values == "" {
		return out
	}
	b, err := os.ReadFile(c.values)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Controller struct {
			ServiceAccountTokens []struct{ Namespace, Name string } `json:"serviceAccountTokens"`
		} `json:"controller"`
	}
	if err := sigsyaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for _, sa := range v.Controller.ServiceAccountTokens {
		ns := cmp.Or(sa.Namespace, c.ns)
		if !slices.Contains(out[ns], sa.Name) {
			out[ns] = append(out[ns], sa.Name)
		}
	}
	for _, names := range out {
		slices.Sort(names)
	}
	return out
}

// checkServiceAccountTokens: for identities' workloadIdentity.serviceAccountRef
// the controller may create tokens of exactly the ServiceAccounts of
// controller.serviceAccountTokens — a Role per namespace with their
// resourceNames, bound to the controller's ServiceAccount — and of no other.
func checkServiceAccountTokens(t *testing.T, c *chart) {
	t.Helper()
	want := c.serviceAccountTokens(t)
	name := c.deployment.Name + "-controller-sa-tokens"
	got := map[string][]string{}
	for key, r := range c.roles {
		ns, n, _ := strings.Cut(key, "/")
		if n != name {
			continue
		}
		if len(r.Rules) != 1 || !slices.Equal(r.Rules[0].APIGroups, []string{""}) || !slices.Equal(r.Rules[0].Resources, []string{"serviceaccounts/token"}) ||
			!slices.Equal(r.Rules[0].Verbs, []string{"create"}) || len(r.Rules[0].ResourceNames) == 0 {
			t.Errorf("Role %s: rules %+v, want create on serviceaccounts/token with resourceNames only", key, r.Rules)
			continue
		}
		got[ns] = r.Rules[0].ResourceNames
		rb := c.bindings[key]
		if rb == nil || rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != name || len(rb.Subjects) != 1 ||
			rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != c.sa.Name || rb.Subjects[0].Namespace != c.ns {
			t.Errorf("RoleBinding %s does not bind Role %s to the controller's ServiceAccount %s/%s: %+v", key, name, c.ns, c.sa.Name, rb)
		}
	}
	for _, r := range c.clusterRoles {
		for _, rule := range r.Rules {
			if slices.Contains(rule.Resources, "serviceaccounts/token") || slices.Contains(rule.Resources, "serviceaccounts") {
				t.Errorf("ClusterRole %s grants %+v: ServiceAccount tokens only by name, per namespace", r.Name, rule)
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("serviceaccounts/token Roles grant %v, want exactly controller.serviceAccountTokens %v", got, want)
	}
}
