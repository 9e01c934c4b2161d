package charts

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/deploy"
	"github.com/patrol-dev/patrol/deploy/monitoring"
	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/manifestcheck"
	"github.com/patrol-dev/patrol/internal/sink"
	"github.com/patrol-dev/patrol/internal/testtool"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	sigsyaml "sigs.k8s.io/yaml"
)

const (
	chartDir = "patrol"
	// authDir is where the chart mounts the auth Secret's keys.
	authDir = "/var/run/secrets/patrol/auth"
)

// helmBin returns the helm that scripts/helm.sh built (PATROL_HELM, set by
// scripts/test-kube.sh), else helm on PATH; missing, it skips — or fails
// under CI=true / PATROL_REQUIRE_TOOLS=1. A helm of another version than
// tools/helm pins fails: the chart is tested with the pinned one.
func helmBin(t *testing.T) string {
	t.Helper()
	bin := testtool.Require(t, "helm", `bash scripts/helm.sh, then export PATROL_HELM="$(bash scripts/helm.sh | tail -n1)" (scripts/test-kube.sh does)`, os.Getenv("PATROL_HELM"))
	want := pinnedHelm(t)
	out, err := exec.Command(bin, "version", "--template", "{{.Version}}").Output()
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Fatalf("%s reports version %q (%v), want %s pinned in tools/helm/go.mod: use PATROL_HELM=\"$(bash scripts/helm.sh | tail -n1)\"", bin, out, err, want)
	}
	return bin
}

func pinnedHelm(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../tools/helm/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^require helm\.sh/helm/v[0-9]+ (v\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("tools/helm/go.mod has no `require helm.sh/helm/vN vX.Y.Z` line")
	}
	return string(m[1])
}

// examples are the documented values files, charts/patrol/examples/*.yaml.
func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no values examples in %s/examples (%v)", chartDir, err)
	}
	slices.Sort(files)
	return files
}

func exampleName(f string) string { return strings.TrimSuffix(filepath.Base(f), ".yaml") }

// helmTemplate runs helm template for release in namespace ns with the
// values file (may be "") and --set pairs.
func helmTemplate(t *testing.T, bin, release, ns, values string, sets ...string) ([]byte, error) {
	t.Helper()
	args := []string{"template", release, chartDir, "--namespace", ns, "--include-crds"}
	if values != "" {
		args = append(args, "--values", values)
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.New(strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// chart is one rendering of the chart, decoded strictly into client-go types.
type chart struct {
	ns                  string
	all                 []*unstructured.Unstructured // in order, for applying
	cronJob             *batchv1.CronJob
	deployment          *appsv1.Deployment // controller mode
	service             *corev1.Service
	clusterRoles        map[string]*rbacv1.ClusterRole
	clusterRoleBindings map[string]*rbacv1.ClusterRoleBinding
	serviceMonitor      *unstructured.Unstructured
	config              *corev1.ConfigMap
	sa                  *corev1.ServiceAccount
	roles               map[string]*rbacv1.Role // namespace → Role
	bindings            map[string]*rbacv1.RoleBinding
	secrets             []*corev1.Secret
	promRule            *unstructured.Unstructured
	crds                []*unstructured.Unstructured // crds/, installed by helm install
	file                *config.File
	kubeSinks           []kubeSink
	tokenCache          *kubeSink // refresh-token Secret, when auth.method is refresh-token
	values              string    // the values file rendered ("" for none)
}

type kubeSink struct {
	Credential           string
	Name, Namespace, Key string
	Create               *bool
	Kubeconfig           string
}

func render(t *testing.T, bin, release, ns, values string, sets ...string) *chart {
	t.Helper()
	out, err := helmTemplate(t, bin, release, ns, values, sets...)
	if err != nil {
		t.Fatalf("helm template %s: %v", values, err)
	}
	c := &chart{ns: ns, values: values, roles: map[string]*rbacv1.Role{}, bindings: map[string]*rbacv1.RoleBinding{},
		clusterRoles: map[string]*rbacv1.ClusterRole{}, clusterRoleBindings: map[string]*rbacv1.ClusterRoleBinding{}}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		js, err := sigsyaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		if string(js) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatalf("rendered object: %v\n%s", err, doc)
		}
		c.all = append(c.all, u)
		switch u.GetKind() {
		case "PrometheusRule":
			c.promRule = u
			continue
		case "CustomResourceDefinition":
			c.crds = append(c.crds, u)
			continue
		case "ServiceMonitor":
			c.serviceMonitor = u
			continue
		}
		obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(js, nil, nil)
		if err != nil {
			t.Fatalf("decode rendered %s: %v", u.GetKind(), err)
		}
		// Strict: an unknown or mistyped field is a template bug.
		if err := sigsyaml.UnmarshalStrict(doc, obj.DeepCopyObject()); err != nil {
			t.Fatalf("rendered %s %s has unknown or mistyped fields: %v", gvk.Kind, u.GetName(), err)
		}
		switch v := obj.(type) {
		case *batchv1.CronJob:
			c.cronJob = v
		case *appsv1.Deployment:
			c.deployment = v
		case *corev1.Service:
			c.service = v
		case *rbacv1.ClusterRole:
			c.clusterRoles[v.Name] = v
		case *rbacv1.ClusterRoleBinding:
			c.clusterRoleBindings[v.Name] = v
		case *corev1.ConfigMap:
			c.config = v
		case *corev1.ServiceAccount:
			c.sa = v
		case *rbacv1.Role:
			c.roles[v.Namespace+"/"+v.Name] = v
		case *rbacv1.RoleBinding:
			c.bindings[v.Namespace+"/"+v.Name] = v
		case *corev1.Secret:
			c.secrets = append(c.secrets, v)
		}
	}
	if c.sa == nil {
		t.Fatalf("%s: rendering lacks the ServiceAccount", values)
	}
	if c.deployment != nil {
		if c.cronJob != nil || c.config != nil {
			t.Fatalf("%s: controller mode renders a CronJob or patrol.yaml", values)
		}
		return c
	}
	if c.config == nil || c.cronJob == nil {
		t.Fatalf("%s: rendering lacks the ConfigMap or CronJob", values)
	}
	c.file = patrolFile(t, c.config, values)
	for _, cr := range c.file.Credentials {
		for _, s := range cr.Sinks {
			if s.Type != sink.KubernetesSecretTypeName {
				continue
			}
			var p kubeSink
			if err := json.Unmarshal(s.Params, &p); err != nil {
				t.Fatal(err)
			}
			p.Credential = cr.Name
			if p.Namespace == "" {
				p.Namespace = ns
			}
			c.kubeSinks = append(c.kubeSinks, p)
		}
	}
	if tc := c.file.Auth.TokenCache; tc != "" {
		m := regexp.MustCompile(`^k8s-secret://([a-z0-9-]+)/([a-z0-9.-]+)(?:#([-._a-zA-Z0-9]+))?$`).FindStringSubmatch(tc)
		if m == nil {
			t.Fatalf("auth.tokenCache %q is not a k8s-secret://<namespace>/<name>[#key] URI (docs/entra.md)", tc)
		}
		c.tokenCache = &kubeSink{Namespace: m[1], Name: m[2], Key: m[3]}
	}
	return c
}

// patrolFile validates the ConfigMap's patrol.yaml exactly as `patrol config
// validate` does (strict decoding, sink parameters, scopes), with no warnings.
func patrolFile(t *testing.T, cm *corev1.ConfigMap, values string) *config.File {
	t.Helper()
	src, ok := cm.Data["patrol.yaml"]
	if !ok {
		t.Fatal("ConfigMap has no patrol.yaml key")
	}
	f, err := manifestcheck.PatrolFile(src, values+"#patrol.yaml")
	if err != nil {
		t.Fatalf("the rendered patrol.yaml: %v\n%s", err, src)
	}
	if !slices.Contains(config.AuthMethods, f.Auth.Method) {
		t.Fatalf("%s: auth.method %q is not one of %v", values, f.Auth.Method, config.AuthMethods)
	}
	return f
}

// podTemplate is the Pod template of the CronJob or, in controller mode, the Deployment.
func (c *chart) podTemplate() *corev1.PodTemplateSpec {
	if c.deployment != nil {
		return &c.deployment.Spec.Template
	}
	return &c.cronJob.Spec.JobTemplate.Spec.Template
}

func (c *chart) pod() corev1.PodSpec { return c.podTemplate().Spec }

// rotatorRole is the cronjob-mode Role in namespace ns.
func (c *chart) rotatorRole(ns string) (*rbacv1.Role, *rbacv1.RoleBinding) {
	for k, r := range c.roles {
		if strings.HasPrefix(k, ns+"/") && strings.HasSuffix(r.Name, "-rotator") {
			return r, c.bindings[k]
		}
	}
	return nil, nil
}

// TestLint: helm lint --strict passes for every documented example.
func TestLint(t *testing.T) {
	bin := helmBin(t)
	for _, ex := range examples(t) {
		out, err := exec.Command(bin, "lint", "--strict", chartDir, "--namespace", "patrol", "--values", ex).CombinedOutput()
		if err != nil {
			t.Errorf("helm lint --strict --values %s: %v\n%s", ex, err, out)
		}
	}
}

// TestExamplesDocumented: every example is referenced from docs/helm.md,
// and every example docs/helm.md names exists.
func TestExamplesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/helm.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range examples(t) {
		ref := "charts/patrol/examples/" + filepath.Base(ex)
		if !bytes.Contains(doc, []byte(ref)) {
			t.Errorf("docs/helm.md does not reference %s", ref)
		}
	}
	for _, m := range regexp.MustCompile(`charts/patrol/examples/[a-z0-9-]+\.yaml`).FindAll(doc, -1) {
		if _, err := os.Stat(filepath.Join("..", string(m))); err != nil {
			t.Errorf("docs/helm.md references %s: %v", m, err)
		}
	}
}

// TestRulesAreDeployMonitoring: the chart's PrometheusRule carries exactly
// the rules of deploy/monitoring (no fork): files/patrol.rules.yaml is a
// byte-identical copy (PATROL_UPDATE_CHART=1 go test ./charts refreshes it),
// and the rendered spec equals deploy/monitoring/prometheusrule.yaml's.
func TestRulesAreDeployMonitoring(t *testing.T) {
	want, err := fs.ReadFile(monitoring.Files, "patrol.rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(chartDir, "files", "patrol.rules.yaml")
	if os.Getenv("PATROL_UPDATE_CHART") != "" {
		if err := os.WriteFile(copyPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(copyPath)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s differs from deploy/monitoring/patrol.rules.yaml (%v); refresh it with PATROL_UPDATE_CHART=1 go test ./charts", copyPath, err)
	}
	bin := helmBin(t)
	c := render(t, bin, "patrol", "patrol", "", "auth.username=u@contoso.com", "metrics.prometheusRule.enabled=true")
	if c.promRule == nil {
		t.Fatal("metrics.prometheusRule.enabled=true renders no PrometheusRule")
	}
	pr, err := fs.ReadFile(monitoring.Files, "prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var deployed map[string]any
	if err := sigsyaml.Unmarshal(pr, &deployed); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.promRule.Object["spec"], deployed["spec"]) {
		t.Error("the chart's PrometheusRule spec differs from deploy/monitoring/prometheusrule.yaml")
	}
	if off := render(t, bin, "patrol", "patrol", "", "auth.username=u@contoso.com"); off.promRule != nil {
		t.Error("a PrometheusRule is rendered by default (it needs the Prometheus Operator's CRD)")
	}
}

// TestCRDsAreGenerated: the chart's crds/ are exactly the CRDs controller-gen
// generates from api/ (deploy/crds, checked against a fresh generation by
// api/v1alpha1's TestCRDsUpToDate); PATROL_UPDATE_CHART=1 go test ./charts
// refreshes the copy.
func TestCRDsAreGenerated(t *testing.T) {
	gen, err := filepath.Glob("../deploy/crds/*.yaml")
	if err != nil || len(gen) == 0 {
		t.Fatalf("no generated CRDs in deploy/crds (%v)", err)
	}
	dir := filepath.Join(chartDir, "crds")
	if os.Getenv("PATROL_UPDATE_CHART") != "" {
		old, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range gen {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	have, _ := filepath.Glob(filepath.Join(dir, "*"))
	var names []string
	for _, f := range have {
		names = append(names, filepath.Base(f))
	}
	var want []string
	for _, f := range gen {
		want = append(want, filepath.Base(f))
		b, _ := os.ReadFile(f)
		c, err := os.ReadFile(filepath.Join(dir, filepath.Base(f)))
		if err != nil || !bytes.Equal(b, c) {
			t.Errorf("%s/%s differs from the generated deploy/crds/%s (%v); refresh with PATROL_UPDATE_CHART=1 go test ./charts", dir, filepath.Base(f), filepath.Base(f), err)
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("%s holds %v, want exactly the generated %v", dir, names, want)
	}
	bin := helmBin(t)
	c := render(t, bin, "patrol", "patrol", "", "auth.username=u@contoso.com")
	if len(c.crds) != len(want) {
		t.Errorf("helm template --include-crds renders %d CRDs, want %d", len(c.crds), len(want))
	}
}

// TestDefaultsMatchDeploy: the chart runs the image deploy/ runs, by the
// release tag (the chart's appVersion), with deploy/'s CronJob choices.
func TestDefaultsMatchDeploy(t *testing.T) {
	bin := helmBin(t)
	c := render(t, bin, "patrol", "patrol", "", "auth.username=u@contoso.com")
	data, err := fs.ReadFile(deploy.Manifests, "cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cj batchv1.CronJob
	if err := sigsyaml.Unmarshal(data, &cj); err != nil {
		t.Fatal(err)
	}
	want := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image
	if got := c.pod().Containers[0].Image; got != want {
		t.Errorf("chart image %q, want deploy/'s %q", got, want)
	}
	chartYAML, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		AppVersion string `json:"appVersion"`
	}
	if err := sigsyaml.Unmarshal(chartYAML, &meta); err != nil {
		t.Fatal(err)
	}
	if _, tag, _ := strings.Cut(want, ":"); meta.AppVersion != tag {
		t.Errorf("Chart.yaml appVersion %q, want deploy/'s image tag %q", meta.AppVersion, tag)
	}
	if got, want := c.cronJob.Spec.Schedule, cj.Spec.Schedule; got != want {
		t.Errorf("default schedule %q, want deploy/'s %q", got, want)
	}
	if len(c.kubeSinks) != 0 || len(c.secrets) != 0 {
		t.Errorf("no credentials configured, yet %d kubernetes sinks / %d Secrets rendered", len(c.kubeSinks), len(c.secrets))
	}
	pinned := render(t, bin, "patrol", "patrol", "", "auth.username=u@contoso.com", "image.digest=sha256:"+strings.Repeat("ab", 32))
	if got := pinned.pod().Containers[0].Image; got != "ghcr.io/patrol-dev/patrol@sha256:"+strings.Repeat("ab", 32) {
		t.Errorf("image.digest renders image %q", got)
	}
}

// TestValuesRefused: values.schema.json and the templates refuse what
// cannot work, with the value named.
func TestValuesRefused(t *testing.T) {
	bin := helmBin(t)
	for _, c := range []struct {
		sets []string
		want string
	}{
		{[]string{"auth.username=u@x", "mode=daemon"}, "mode"},
		{[]string{"auth.method=magic"}, "method"},
		{nil, "auth.username"},                                                  // ropc without a user
		{[]string{"auth.method=workload-identity"}, "workloadIdentity.enabled"}, // no webhook, no token
		{[]string{"auth.method=workload-identity", "workloadIdentity.enabled=true"}, "workloadIdentity.clientId"},
		{[]string{"auth.username=u@x", "cronjob.schedule="}, "schedule"},
		{[]string{"auth.username=u@x", "credentials[0].name=x"}, "sinks"},
		{[]string{"auth.username=u@x", "securityContext.readOnlyRootFilesystem=false"}, "readOnlyRootFilesystem"},
		{[]string{"auth.username=u@x", "podSecurityContext.runAsUser=0"}, "runAsUser"},
		{[]string{"auth.username=u@x", "lock.leaseDuration=soon"}, "leaseDuration"},
		{[]string{"auth.username=u@x", "metrics.serviceMonitor.enabled=true"}, "mode: controller"}, // a CronJob serves no /metrics
		{[]string{"mode=controller", "controller.replicas=2", "controller.leaderElection.enabled=false"}, "leaderElection"},
		{[]string{"mode=controller", "controller.watchNamespaces={a}"}, "watchNamespaces"},
		{[]string{"mode=controller", "controller.namespaced=true", "controller.clusterIdentities=false", "controller.serviceAccountTokens[0].namespace=team-a",
			"controller.serviceAccountTokens[0].name=deployer"}, "controller.serviceAccountTokens: team-a/deployer is outside the release namespace"},
		{[]string{"mode=controller", "controller.serviceAccountTokens[0].name=Not_A_Name"}, "serviceAccountTokens"},
		{[]string{"mode=controller", "controller.serviceAccountTokens[0].namespace=team-a"}, "name"},
		{[]string{"auth.username=u@x", "extraEnv[0].name=SONAR_TOKEN", "extraEnv[0].value=s3cr3t"}, "extraEnv"}, // secrets by secretKeyRef only
		{[]string{"auth.username=u@x", "securityContext.capabilities.add={NET_RAW}"}, "capabilities"},
	} {
		_, err := helmTemplate(t, bin, "patrol", "patrol", "", c.sets...)
		if err == nil {
			t.Errorf("helm template --set %v succeeded, want a refusal naming %q", c.sets, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("helm template --set %v: %v; want it to name %q", c.sets, err, c.want)
		}
	}
}

// TestValuesDocumented: every value of values.yaml is in docs/helm.md's
// tables, by its path or (in a row listing siblings) its last segment.
func TestValuesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/helm.md")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := sigsyaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			// Kubernetes structures passed through whole are documented as one value.
			opaque := slices.Contains([]string{"resources", "podSecurityContext", "securityContext"}, p)
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 && !opaque {
				walk(p, sub)
				continue
			}
			if !bytes.Contains(doc, []byte("`"+p+"`")) && !bytes.Contains(doc, []byte("/ `"+k+"`")) && !bytes.Contains(doc, []byte("`"+k+"` /")) {
				t.Errorf("value %s is not documented in docs/helm.md", p)
			}
		}
	}
	walk("", values)
}
