package e2e

// `patrol rotate` in Kubernetes, end to end: the real binary, a real
// kube-apiserver (internal/kubetest) and the emulator. The rotator user gets
// exactly the Role of deploy/rbac.yaml (get/update/patch on the one Secret,
// get/update on the lock Lease, create Leases) and the target Secret is
// pre-created empty as deploy/target-secret.yaml does; patrol.yaml uses
// rotation.lock.type: lease and a kubernetes-secret sink with create: false.

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/deploy"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/kubetest"
	"github.com/patrol-dev/patrol/internal/lock"
	"github.com/patrol-dev/patrol/internal/sink"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	sigsyaml "sigs.k8s.io/yaml"
)

// rotateJSON is the part of `rotate -o json` the test reads.
type rotateJSON struct {
	DryRun bool `json:"dryRun"`
	Plan   struct {
		Items []struct {
			Credential string   `json:"credential"`
			Action     string   `json:"action"`
			Reasons    []string `json:"reasons"`
			Revoke     []struct {
				AuthorizationID string `json:"authorizationId"`
				Reason          string `json:"reason"`
			} `json:"revoke"`
		} `json:"items"`
	} `json:"plan"`
	Results []struct {
		Credential      string    `json:"credential"`
		Action          string    `json:"action"`
		AuthorizationID string    `json:"authorizationId"`
		ValidTo         time.Time `json:"validTo"`
		Revoked         []string  `json:"revoked"`
		Error           string    `json:"error"`
	} `json:"results"`
}

// deployRole is the Role deploy/rbac.yaml grants patrol.
func deployRole(t *testing.T) *rbacv1.Role {
	t.Helper()
	data, err := fs.ReadFile(deploy.Manifests, "rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range bytes.Split(data, []byte("\n---")) {
		var meta metav1.TypeMeta
		if err := sigsyaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("deploy/rbac.yaml: %v", err)
		}
		if meta.Kind != "Role" {
			continue
		}
		var r rbacv1.Role
		if err := sigsyaml.UnmarshalStrict(doc, &r); err != nil {
			t.Fatalf("deploy/rbac.yaml Role: %v", err)
		}
		return &r
	}
	t.Fatal("deploy/rbac.yaml has no Role")
	return nil
}

// kubeWorld is the emulator world plus a namespace in the shared cluster.
type kubeWorld struct {
	*world
	cl    *kubetest.Cluster
	admin kubernetes.Interface
	ns    string
	cfg   string // patrol.yaml
	env   env
}

const (
	kubeSecretName = "ado-pat"       // deploy/target-secret.yaml
	kubeLeaseName  = "patrol-rotate" // deploy/rbac.yaml, config.DefaultLeaseName
)

func startKube(t *testing.T) *kubeWorld {
	t.Helper()
	cl := kubetest.Start(t)
	w := start(t, nil)
	kw := &kubeWorld{world: w, cl: cl, admin: cl.AdminClient(t), ns: cl.Namespace(t)}
	ctx := t.Context()

	// RBAC exactly as deploy/ grants, bound to the rotator user.
	role := deployRole(t)
	var names []string
	for _, r := range role.Rules {
		names = append(names, r.ResourceNames...)
	}
	if !strings.Contains(strings.Join(names, ","), kubeSecretName) || !strings.Contains(strings.Join(names, ","), kubeLeaseName) {
		t.Fatalf("deploy/rbac.yaml no longer names %s and %s: %v", kubeSecretName, kubeLeaseName, names)
	}
	cl.BindRole(t, kw.ns, "patrol-rotator", kubetest.RotatorUser, role.Rules)

	// The Secret, pre-created without data (deploy/target-secret.yaml).
	if _, err := kw.admin.CoreV1().Secrets(kw.ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: kubeSecretName, Labels: map[string]string{sink.LabelManagedBy: sink.ManagedByPatrol}},
		Type:       corev1.SecretTypeOpaque,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	kw.cfg = filepath.Join(w.dir, "patrol.yaml")
	cfg := fmt.Sprintf(`organization: %s
rotation:
  orphanAge: 1s
  lock:
    type: lease
    leaseName: %s
    leaseNamespace: %s
    leaseDuration: 1m
credentials:
  - name: kube
    scopes: [vso.build]
    lifetime: 30d
    sinks:
      - {type: kubernetes-secret, namespace: %s, name: %s, create: false}
`, emulator.DefaultOrg, kubeLeaseName, kw.ns, kw.ns, kubeSecretName)
	if err := os.WriteFile(kw.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	kw.env = with(w.env, env{"KUBECONFIG": cl.RotatorKubeconfig, "PATROL_CONFIG": kw.cfg})
	return kw
}

func (kw *kubeWorld) rotate(t *testing.T, args ...string) (result, rotateJSON) {
	t.Helper()
	r := kw.patrol(kw.env, append([]string{"rotate", "-o", "json"}, args...)...)
	var out rotateJSON
	if r.code == 0 || r.code == 8 {
		out = decode[rotateJSON](t, r.stdout)
	}
	return r, out
}

// secret returns the Secret's token and annotations.
func (kw *kubeWorld) secret(t *testing.T) (string, map[string]string) {
	t.Helper()
	s, err := kw.admin.CoreV1().Secrets(kw.ns).Get(t.Context(), kubeSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok := string(s.Data["token"])
	if tok != "" {
		addSecret(tok, "PAT in the Kubernetes Secret")
	}
	return tok, s.Annotations
}

// managedPATs lists the active PATs of credential kube (via the binary).
func (kw *kubeWorld) managedPATs(t *testing.T) []patJSON {
	t.Helper()
	r := kw.patrol(kw.env, "pat", "list", "--name-prefix", "patrol:kube:", "-o", "json").must(t, "pat list")
	return decode[[]patJSON](t, r.stdout)
}

func ids(ps []patJSON) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.AuthorizationID)
	}
	return out
}

func (kw *kubeWorld) leaseHolder(t *testing.T) string {
	t.Helper()
	l, err := kw.admin.CoordinationV1().Leases(kw.ns).Get(t.Context(), kubeLeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("lock Lease: %v", err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func TestKubeRotateLease(t *testing.T) {
	kw := startKube(t)

	// 1. First run: creates the PAT, writes the Secret, releases the Lease.
	r, out := kw.rotate(t)
	if r.code != 0 || len(out.Results) != 1 || out.Results[0].Action != "create" || out.Results[0].Error != "" {
		t.Fatalf("first rotate: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	first := out.Results[0]
	tok1, ann := kw.secret(t)
	if tok1 == "" || !kw.patWorks(tok1) {
		t.Fatal("the Secret's token does not authenticate against Azure DevOps")
	}
	if strings.Contains(r.stdout+r.stderr, tok1) {
		t.Fatal("rotate printed the PAT")
	}
	if ann[sink.AnnotationAuthorizationID] != first.AuthorizationID || ann[sink.AnnotationCredential] != "kube" || ann[sink.AnnotationKind] != "pat" {
		t.Fatalf("annotations %v do not describe PAT %s", ann, first.AuthorizationID)
	}
	vt, err := time.Parse(time.RFC3339, ann[sink.AnnotationValidTo])
	if err != nil || !vt.Equal(first.ValidTo.Truncate(time.Second)) && !vt.Equal(first.ValidTo) {
		t.Fatalf("annotation valid-to %q, result validTo %s (%v)", ann[sink.AnnotationValidTo], first.ValidTo, err)
	}
	if d := time.Until(vt); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Fatalf("valid-to %s is not ~30 days away", vt)
	}
	if h := kw.leaseHolder(t); h != "" {
		t.Fatalf("the Lease is still held by %q after the run ended", h)
	}
	if got := ids(kw.managedPATs(t)); len(got) != 1 || got[0] != first.AuthorizationID {
		t.Fatalf("managed PATs after the first run: %v", got)
	}

	// 2. Second run: nothing is due, nothing changes.
	kw.e.ResetCounters()
	r, out = kw.rotate(t)
	if r.code != 0 || out.Results[0].Action != "none" || len(out.Results[0].Revoked) != 0 {
		t.Fatalf("second rotate must be a no-op: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if n := counter(kw.e.Counters(), "POST", "tokens/pats"); n != 0 {
		t.Fatalf("second run created %d PAT(s)", n)
	}
	if tok, _ := kw.secret(t); tok != tok1 {
		t.Fatal("second run changed the Secret")
	}

	// 3. --force: renews, delivers, revokes the old PAT.
	r, out = kw.rotate(t, "--force")
	if r.code != 0 || out.Results[0].Action != "renew" || out.Results[0].Error != "" {
		t.Fatalf("forced rotate: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	second := out.Results[0]
	if second.AuthorizationID == first.AuthorizationID || len(second.Revoked) != 1 || second.Revoked[0] != first.AuthorizationID {
		t.Fatalf("forced rotate: new %s, revoked %v; want a new PAT and %s revoked", second.AuthorizationID, second.Revoked, first.AuthorizationID)
	}
	tok2, ann := kw.secret(t)
	if tok2 == tok1 || !kw.patWorks(tok2) || ann[sink.AnnotationAuthorizationID] != second.AuthorizationID {
		t.Fatalf("after --force the Secret must hold the new working PAT %s (annotations %v)", second.AuthorizationID, ann)
	}
	if kw.patWorks(tok1) {
		t.Fatal("the replaced PAT still authenticates")
	}
	if got := ids(kw.managedPATs(t)); len(got) != 1 || got[0] != second.AuthorizationID {
		t.Fatalf("managed PATs after --force: %v", got)
	}

	// 4. Another holder: exit 7 naming it, nothing touched.
	other := lock.NewLease(lock.LeaseOptions{Client: kw.admin, Namespace: kw.ns, Name: kubeLeaseName, Identity: "other-run/4711", Duration: time.Minute})
	release, err := other.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	kw.e.ResetCounters()
	r, _ = kw.rotate(t, "--force")
	if r.code != 7 || !strings.Contains(r.stderr, "other-run/4711") {
		t.Fatalf("held Lease: want exit 7 naming other-run/4711, got %d\n%s", r.code, r.stderr)
	}
	if n := counter(kw.e.Counters(), "POST", "tokens/pats"); n != 0 {
		t.Fatal("a run that did not get the Lease created a PAT")
	}
	if h := kw.leaseHolder(t); h != "other-run/4711" {
		t.Fatalf("the refused run changed the Lease holder to %q", h)
	}
	if err := release(t.Context()); err != nil {
		t.Fatal(err)
	}

	// 5. Killed after create (before delivery): the new PAT is an orphan.
	// connectionData (the new PAT's check, right after create) hangs, and
	// the process is killed once the create has been answered.
	kw.e.SetFaults(emulator.Faults{Latency: emulator.Duration(2 * time.Minute), Routes: []string{"connectionData"}})
	kw.e.ResetCounters()
	pid := kw.killAfterCreate(t)
	kw.e.SetFaults(emulator.Faults{})
	if tok, _ := kw.secret(t); tok != tok2 {
		t.Fatal("the killed run changed the Secret")
	}
	pats := kw.managedPATs(t)
	if len(pats) != 2 {
		t.Fatalf("want the held PAT and the orphan, got %v", ids(pats))
	}
	orphan, orphanFrom := "", time.Time{}
	for _, p := range pats {
		if p.AuthorizationID != second.AuthorizationID {
			orphan, orphanFrom = p.AuthorizationID, p.ValidFrom
		}
	}
	// The dead run still holds the Lease: the next run is refused (exit 7,
	// naming it) until the lease expires.
	r, _ = kw.rotate(t)
	if r.code != 7 || !strings.Contains(r.stderr, fmt.Sprintf("/%d", pid)) {
		t.Fatalf("Lease of the killed run (pid %d): want exit 7 naming it, got %d\n%s", pid, r.code, r.stderr)
	}
	// Let the lease expire (leaseDuration 1m) by ageing its renewTime.
	kw.expireLease(t, 2*time.Minute)

	// 6. Next run repairs: the orphan is revoked (it is older than
	// rotation.orphanAge, 1s here), the Secret keeps its PAT.
	time.Sleep(time.Until(orphanFrom.Add(1500 * time.Millisecond)))
	r, out = kw.rotate(t)
	if r.code != 0 || out.Results[0].Action != "none" {
		t.Fatalf("repair run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if rv := out.Results[0].Revoked; len(rv) != 1 || rv[0] != orphan {
		t.Fatalf("repair run revoked %v, want the orphan %s\n%s\n%s", rv, orphan, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "taking over expired lock lease") {
		t.Fatalf("the takeover of the expired Lease must be logged:\n%s", r.stderr)
	}
	tok3, ann := kw.secret(t)
	if tok3 != tok2 || !kw.patWorks(tok3) || ann[sink.AnnotationAuthorizationID] != second.AuthorizationID {
		t.Fatal("after the repair the Secret must still hold the working PAT")
	}
	if got := ids(kw.managedPATs(t)); len(got) != 1 || got[0] != second.AuthorizationID {
		t.Fatalf("managed PATs after the repair: %v (orphan %s)", got, orphan)
	}
	if h := kw.leaseHolder(t); h != "" {
		t.Fatalf("Lease still held by %q", h)
	}
}

// killAfterCreate starts `patrol rotate --force`, waits until the emulator
// answered the PAT create and the check of the new PAT arrived, and kills the
// process (SIGKILL: no clean-up, no lease release). It returns the pid.
func (kw *kubeWorld) killAfterCreate(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "rotate", "--force", "-o", "json")
	for k, v := range kw.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(60 * time.Second)
	for {
		c := kw.e.Counters()
		if counter(c, "POST", "tokens/pats") >= 1 && counter(c, "connectiondata") >= 1 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the run never reached the new PAT's check; counters %v\nstderr: %s", c, errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	collectMu.Lock()
	fmt.Fprintf(&collected, "\n--- patrol rotate --force (killed)\n%s%s", errb.String(), out.String())
	collectMu.Unlock()
	return pid
}

// expireLease moves the Lease's renewTime back by age (as admin), standing
// in for the passing of leaseDuration after a holder died.
func (kw *kubeWorld) expireLease(t *testing.T, age time.Duration) {
	t.Helper()
	leases := kw.admin.CoordinationV1().Leases(kw.ns)
	l, err := leases.Get(t.Context(), kubeLeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old := metav1.NewMicroTime(time.Now().Add(-age))
	l.Spec.RenewTime, l.Spec.AcquireTime = &old, &old
	if _, err := leases.Update(t.Context(), l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
