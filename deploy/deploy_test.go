package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/kubetest"
	"github.com/patrol-dev/patrol/internal/lock"
	"github.com/patrol-dev/patrol/internal/manifestcheck"
	"github.com/patrol-dev/patrol/internal/sink"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	sigsyaml "sigs.k8s.io/yaml"
)

const serviceAccountUser = "system:serviceaccount:patrol:patrol"

type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewTag  string `json:"newTag"`
		NewName string `json:"newName"`
	} `json:"images"`
}

type manifests struct {
	kust     kustomization
	objects  map[string][]runtime.Object // file → objects
	cronJob  *batchv1.CronJob
	role     *rbacv1.Role
	binding  *rbacv1.RoleBinding
	sa       *corev1.ServiceAccount
	config   *corev1.ConfigMap
	secrets  []*corev1.Secret
	template *corev1.Secret
}

func decodeFile(t *testing.T, name string) []runtime.Object {
	t.Helper()
	data, err := fs.ReadFile(Manifests, name)
	if err != nil {
		t.Fatal(err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		// Strict: unknown fields are mistakes in hand-written manifests.
		js, err := sigsyaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(js, nil, nil)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		strict := obj.DeepCopyObject()
		if err := sigsyaml.UnmarshalStrict(doc, strict); err != nil {
			t.Fatalf("%s: %s has unknown or mistyped fields: %v", name, gvk.Kind, err)
		}
		out = append(out, obj)
	}
	return out
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l...)
			out = append(out, '\n')
		}
	}
	return out
}

func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{objects: map[string][]runtime.Object{}}
	data, err := fs.ReadFile(Manifests, "kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := sigsyaml.UnmarshalStrict(data, &m.kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	files, _ := fs.Glob(Manifests, "*.yaml")
	for _, f := range files {
		if f == "kustomization.yaml" || f == "patrol.example.yaml" {
			continue
		}
		objs := decodeFile(t, f)
		m.objects[f] = objs
		for _, o := range objs {
			switch v := o.(type) {
			case *batchv1.CronJob:
				m.cronJob = v
			case *rbacv1.Role:
				m.role = v
			case *rbacv1.RoleBinding:
				m.binding = v
			case *corev1.ServiceAccount:
				m.sa = v
			case *corev1.ConfigMap:
				m.config = v
			case *corev1.Secret:
				if f == "auth-secret.template.yaml" {
					m.template = v
				} else {
					m.secrets = append(m.secrets, v)
				}
			}
		}
	}
	for _, need := range []struct {
		ok   bool
		what string
	}{{m.cronJob != nil, "CronJob"}, {m.role != nil, "Role"}, {m.binding != nil, "RoleBinding"}, {m.sa != nil, "ServiceAccount"}, {m.config != nil, "ConfigMap"}, {m.template != nil, "auth Secret template"}} {
		if !need.ok {
			t.Fatalf("deploy/ has no %s", need.what)
		}
	}
	return m
}

// patrolFile parses the ConfigMap's patrol.yaml with patrol's own loader.
func (m *manifests) patrolFile(t *testing.T) *config.File {
	t.Helper()
	src, ok := m.config.Data["patrol.yaml"]
	if !ok {
		t.Fatal("ConfigMap has no patrol.yaml key")
	}
	f, err := manifestcheck.PatrolFile(src, "deploy/configmap.yaml#patrol.yaml")
	if err != nil {
		t.Fatalf("patrol.yaml in the ConfigMap: %v", err)
	}
	return f
}

type kubeSinkParams struct {
	Name, Namespace, Key string
	Create               *bool
}

func (m *manifests) kubeSinks(t *testing.T) []kubeSinkParams {
	var out []kubeSinkParams
	for _, c := range m.patrolFile(t).Credentials {
		for _, s := range c.Sinks {
			if s.Type != sink.KubernetesSecretTypeName {
				continue
			}
			var p kubeSinkParams
			if err := json.Unmarshal(s.Params, &p); err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
	}
	return out
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	m := load(t)
	if m.kust.Kind != "Kustomization" || m.kust.Namespace != "patrol" {
		t.Fatalf("kustomization: %+v", m.kust)
	}
	for _, r := range m.kust.Resources {
		if _, err := fs.Stat(Manifests, r); err != nil {
			t.Errorf("kustomization resource %s: %v", r, err)
		}
	}
	for f := range m.objects {
		listed := slices.Contains(m.kust.Resources, f)
		if f == "auth-secret.template.yaml" {
			if listed {
				t.Error("the auth Secret template must not be applied by kustomize (a re-apply would overwrite real credentials)")
			}
			continue
		}
		if !listed {
			t.Errorf("%s is not listed in kustomization.yaml resources", f)
		}
	}
	for f, objs := range m.objects {
		for _, o := range objs {
			acc, _ := o.(metav1.Object)
			if _, isNS := o.(*corev1.Namespace); !isNS && acc.GetNamespace() != m.kust.Namespace {
				t.Errorf("%s: %s has namespace %q, want %q", f, acc.GetName(), acc.GetNamespace(), m.kust.Namespace)
			}
		}
	}
}

func TestCronJobInvariants(t *testing.T) {
	m := load(t)
	cj := m.cronJob
	s := cj.Spec
	if s.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy = %q, want Forbid", s.ConcurrencyPolicy)
	}
	if s.StartingDeadlineSeconds == nil || *s.StartingDeadlineSeconds <= 0 {
		t.Error("startingDeadlineSeconds must be set")
	}
	js := s.JobTemplate.Spec
	if js.BackoffLimit == nil || *js.BackoffLimit > 3 {
		t.Error("backoffLimit must be set (≤ 3)")
	}
	if js.ActiveDeadlineSeconds == nil {
		t.Error("activeDeadlineSeconds must be set so a hung run cannot hold the Lease forever")
	}
	pod := js.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy = %q, want Never", pod.RestartPolicy)
	}
	if pod.ServiceAccountName != m.sa.Name {
		t.Errorf("serviceAccountName = %q, want %q", pod.ServiceAccountName, m.sa.Name)
	}
	for _, bad := range manifestcheck.Pod(pod, "rotate") {
		t.Error(bad)
	}
	if len(pod.Containers) != 1 {
		t.FailNow()
	}
	c := pod.Containers[0]
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != m.template.Name {
		t.Errorf("envFrom must reference Secret %q", m.template.Name)
	}
	for _, k := range []string{"AZURE_PASSWORD"} {
		if _, ok := m.template.StringData[k]; !ok {
			t.Errorf("auth Secret template lacks %s", k)
		}
	}
	// patrol.yaml is mounted where PATROL_CONFIG points.
	var cfgPath string
	for _, e := range c.Env {
		if e.Name == "PATROL_CONFIG" {
			cfgPath = e.Value
		}
	}
	var mounted bool
	for _, vm := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == m.config.Name && path.Join(vm.MountPath, "patrol.yaml") == cfgPath {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("PATROL_CONFIG=%q is not the patrol.yaml of ConfigMap %s mounted in the container", cfgPath, m.config.Name)
	}
}

// TestCronJobImage: deploy/ runs the image scripts/image.sh builds
// (docs/image.md) by the version a release tag gives it, and leaves the
// image's entrypoint (/patrol) and user (65532) in charge.
func TestCronJobImage(t *testing.T) {
	m := load(t)
	const repo = "ghcr.io/patrol-dev/patrol"
	c := m.cronJob.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	name, tag, ok := strings.Cut(c.Image, ":")
	if !ok || name != repo {
		t.Fatalf("container image %q, want %s:<version>", c.Image, repo)
	}
	release := regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)
	if !release.MatchString(tag) {
		t.Errorf("image tag %q is not a release version vMAJOR.MINOR.PATCH (scripts/image.sh: VERSION from git describe of a release tag)", tag)
	}
	if len(m.kust.Images) != 1 || m.kust.Images[0].Name != repo || m.kust.Images[0].NewTag != tag {
		t.Errorf("kustomization images %+v, want one entry %s with newTag %s (the CronJob's tag)", m.kust.Images, repo, tag)
	}
	if len(c.Command) != 0 {
		t.Errorf("container command %q overrides the image's entrypoint [/patrol]: set only args", c.Command)
	}
	if psc := m.cronJob.Spec.JobTemplate.Spec.Template.Spec.SecurityContext; psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Error("runAsUser must be 65532, the image's user (its /home/nonroot belongs to it)")
	}
}

func TestRBACLeastPrivilege(t *testing.T) {
	m := load(t)
	f := m.patrolFile(t)
	if f.Rotation.Lock.Type != "lease" {
		t.Fatalf("the in-cluster config should use the Lease lock, has %q", f.Rotation.Lock.Type)
	}
	var secretNames, leaseNames []string
	leaseCreate, eventCreate := false, false
	for i, r := range m.role.Rules {
		for _, res := range r.Resources {
			switch {
			case slices.Equal(r.APIGroups, []string{""}) && res == "secrets":
				if len(r.ResourceNames) == 0 {
					t.Errorf("rule %d grants %v on ALL Secrets; restrict it with resourceNames", i, r.Verbs)
				}
				for _, v := range r.Verbs {
					if !slices.Contains([]string{"get", "update", "patch"}, v) {
						t.Errorf("rule %d grants %q on Secrets; patrol needs only get/update/patch", i, v)
					}
				}
				secretNames = append(secretNames, r.ResourceNames...)
			case slices.Equal(r.APIGroups, []string{"coordination.k8s.io"}) && res == "leases":
				if len(r.ResourceNames) == 0 {
					if !slices.Equal(r.Verbs, []string{"create"}) {
						t.Errorf("rule %d grants %v on all Leases; only create may be unrestricted", i, r.Verbs)
					}
					leaseCreate = true
				}
				leaseNames = append(leaseNames, r.ResourceNames...)
			case slices.Equal(r.APIGroups, []string{"events.k8s.io"}) && res == "events":
				if !slices.Equal(r.Verbs, []string{"create"}) {
					t.Errorf("rule %d grants %v on Events; patrol needs only create", i, r.Verbs)
				}
				eventCreate = true
			default:
				t.Errorf("rule %d grants %v on %v/%s, which patrol does not need", i, r.Verbs, r.APIGroups, res)
			}
		}
	}
	if !leaseCreate {
		t.Error("no create rule for leases: the first run could not create the lock Lease")
	}
	if !eventCreate {
		t.Error("no create rule for events.k8s.io events: rotations and failures could not be reported as Events on the Secret")
	}
	if !slices.Contains(leaseNames, f.Rotation.Lock.LeaseName) {
		t.Errorf("Lease %q of patrol.yaml is not in the Role's resourceNames %v", f.Rotation.Lock.LeaseName, leaseNames)
	}
	pre := map[string]bool{}
	for _, s := range m.secrets {
		pre[s.Name] = true
		if len(s.Data)+len(s.StringData) != 0 {
			t.Errorf("pre-created Secret %s declares data; re-applying would overwrite the rotated PAT", s.Name)
		}
	}
	sinks := m.kubeSinks(t)
	if len(sinks) == 0 {
		t.Fatal("patrol.yaml has no kubernetes-secret sink")
	}
	for _, s := range sinks {
		if !slices.Contains(secretNames, s.Name) {
			t.Errorf("sink Secret %q is not in the Role's resourceNames %v", s.Name, secretNames)
		}
		if s.Create == nil || *s.Create {
			t.Errorf("sink Secret %q: set create: false (the Role cannot grant create on one name)", s.Name)
		}
		if !pre[s.Name] {
			t.Errorf("sink Secret %q is not pre-created by a manifest", s.Name)
		}
	}
	rb := m.binding
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != m.role.Name {
		t.Errorf("RoleBinding refers to %s/%s, want Role/%s", rb.RoleRef.Kind, rb.RoleRef.Name, m.role.Name)
	}
	if len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "ServiceAccount" || rb.Subjects[0].Name != m.sa.Name || rb.Subjects[0].Namespace != m.sa.Namespace {
		t.Errorf("RoleBinding subjects = %+v, want the ServiceAccount %s/%s", rb.Subjects, m.sa.Namespace, m.sa.Name)
	}
}

// Apply the manifests to a real apiserver (validation of every object by the
// server), then check as the ServiceAccount what it may do, and run the
// kubernetes-secret sink and the Lease lock with its rights.
func TestManifestsOnRealAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	m := load(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	admin := c.AdminClient(t)
	order := []string{"namespace.yaml", "serviceaccount.yaml", "rbac.yaml", "configmap.yaml", "target-secret.yaml", "cronjob.yaml"}
	for _, f := range order {
		for _, o := range m.objects[f] {
			if err := create(ctx, admin, o); err != nil {
				t.Fatalf("apply %s: %v", f, err)
			}
		}
	}
	saCfg := rest.CopyConfig(c.Admin)
	saCfg.Impersonate = rest.ImpersonationConfig{UserName: serviceAccountUser, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:patrol", "system:authenticated"}}
	sa, err := kubernetes.NewForConfig(saCfg)
	if err != nil {
		t.Fatal(err)
	}
	can := func(verb, group, resource, name string) bool {
		t.Helper()
		r, err := sa.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "patrol", Verb: verb, Group: group, Resource: resource, Name: name}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("SelfSubjectAccessReview: %v", err)
		}
		return r.Status.Allowed
	}
	checks := []struct {
		verb, group, resource, name string
		want                        bool
	}{
		{"get", "", "secrets", "ado-pat", true},
		{"update", "", "secrets", "ado-pat", true},
		{"patch", "", "secrets", "ado-pat", true},
		{"delete", "", "secrets", "ado-pat", false},
		{"get", "", "secrets", "patrol-auth", false},
		{"get", "", "secrets", "other", false},
		{"list", "", "secrets", "", false},
		{"watch", "", "secrets", "", false},
		{"create", "", "secrets", "", false},
		{"get", "coordination.k8s.io", "leases", "patrol-rotate", true},
		{"update", "coordination.k8s.io", "leases", "patrol-rotate", true},
		{"create", "coordination.k8s.io", "leases", "", true},
		{"update", "coordination.k8s.io", "leases", "kube-controller-manager", false},
		{"delete", "coordination.k8s.io", "leases", "patrol-rotate", false},
		{"create", "events.k8s.io", "events", "", true},
		{"update", "events.k8s.io", "events", "", false},
		{"list", "events.k8s.io", "events", "", false},
		{"get", "", "configmaps", "patrol-config", false},
		{"get", "", "pods", "", false},
	}
	// RBAC informers catch up asynchronously after the apply.
	deadline := time.Now().Add(10 * time.Second)
	for !can("update", "", "secrets", "ado-pat") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, ch := range checks {
		if got := can(ch.verb, ch.group, ch.resource, ch.name); got != ch.want {
			t.Errorf("ServiceAccount may %s %s/%s %q: %v, want %v", ch.verb, ch.group, ch.resource, ch.name, got, ch.want)
		}
	}

	// The configured sink and lock work with exactly these rights.
	f := m.patrolFile(t)
	lk := lock.NewLease(lock.LeaseOptions{Client: sa, Namespace: "patrol", Name: f.Rotation.Lock.LeaseName, Identity: "deploy-test", Duration: time.Minute})
	release, err := lk.Acquire(ctx)
	if err != nil {
		t.Fatalf("Lease lock as the ServiceAccount: %v", err)
	}
	for _, sp := range m.kubeSinks(t) {
		snk, err := sink.NewKubernetesSecret(sink.KubernetesSecretOptions{Client: sa, Namespace: "patrol", Name: sp.Name, Key: sp.Key, Create: false})
		if err != nil {
			t.Fatal(err)
		}
		if err := snk.Write(ctx, "deploy-test-token-value", sink.Meta{Credential: "build-agent", AuthorizationID: "a", ValidTo: time.Now().Add(time.Hour)}); err != nil {
			t.Fatalf("sink %s as the ServiceAccount: %v", sp.Name, err)
		}
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	// Re-applying the pre-created Secret (as kubectl apply would, declaring no
	// data) must keep the token: a server-side apply of the manifest.
	for _, s := range m.secrets {
		body, _ := json.Marshal(s)
		if _, err := admin.CoreV1().Secrets("patrol").Patch(ctx, s.Name, "application/apply-patch+yaml", body, metav1.PatchOptions{FieldManager: "kubectl", Force: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		got, _ := admin.CoreV1().Secrets("patrol").Get(ctx, s.Name, metav1.GetOptions{})
		if len(got.Data["token"]) == 0 {
			t.Fatalf("re-applying %s emptied it", s.Name)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func create(ctx context.Context, cs kubernetes.Interface, o runtime.Object) error {
	opts := metav1.CreateOptions{FieldValidation: "Strict"}
	var err error
	switch v := o.(type) {
	case *corev1.Namespace:
		_, err = cs.CoreV1().Namespaces().Create(ctx, v, opts)
	case *corev1.ServiceAccount:
		_, err = cs.CoreV1().ServiceAccounts(v.Namespace).Create(ctx, v, opts)
	case *corev1.ConfigMap:
		_, err = cs.CoreV1().ConfigMaps(v.Namespace).Create(ctx, v, opts)
	case *corev1.Secret:
		_, err = cs.CoreV1().Secrets(v.Namespace).Create(ctx, v, opts)
	case *rbacv1.Role:
		_, err = cs.RbacV1().Roles(v.Namespace).Create(ctx, v, opts)
	case *rbacv1.RoleBinding:
		_, err = cs.RbacV1().RoleBindings(v.Namespace).Create(ctx, v, opts)
	case *batchv1.CronJob:
		_, err = cs.BatchV1().CronJobs(v.Namespace).Create(ctx, v, opts)
	default:
		return errors.New("no create for " + o.GetObjectKind().GroupVersionKind().String())
	}
	return err
}
