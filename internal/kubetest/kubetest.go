// Package kubetest starts a real etcd + kube-apiserver on 127.0.0.1 for
// integration tests, without Docker, kind or controller-runtime's envtest.
//
// The binaries come from scripts/kube-tools.sh (kube-apiserver built from the
// Go module proxy, etcd from Debian's etcd-server package). They are looked up
// in $PATROL_KUBE_ASSETS, then in the cache directory kube-tools.sh uses
// (${XDG_CACHE_HOME:-$HOME/.cache}/patrol/kube/v1.37.2-<goversion>-<goos>-<goarch>).
// When they are absent, Start skips the test with a message saying how to
// build them — unless PATROL_REQUIRE_KUBE=1, in which case the test fails (CI).
//
// One cluster is shared by all tests of a test binary: Start starts it on first
// use and returns the same *Cluster afterwards. Use Main from TestMain to stop
// it when the binary ends (optional: the processes are started with a
// parent-death signal, so they never outlive the test binary, and directories
// of dead test binaries are swept by the next Start). Tests isolate themselves with
// Cluster.Namespace, which creates a fresh namespace deleted on t.Cleanup.
// StartIsolated starts a dedicated cluster torn down on t.Cleanup.
//
// Two users exist, authenticated by static bearer tokens (--token-auth-file):
// "admin" (group system:masters, bypasses RBAC) and "rotator" (no groups; denied
// everything until a test binds it a Role). The apiserver runs with
// --authorization-mode=RBAC, so RBAC denials are real.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeVersion is the Kubernetes version scripts/kube-tools.sh builds.
const KubeVersion = "1.37.2"

// ServiceAccountIssuer is the --service-account-issuer of every cluster.
const ServiceAccountIssuer = "https://kubernetes.default.svc"

// ReadyTimeout bounds how long Start waits for etcd and /readyz.
const ReadyTimeout = 60 * time.Second

// Users of the cluster.
const (
	AdminUser   = "admin"
	RotatorUser = "rotator"
)

// Cluster is a running etcd + kube-apiserver.
type Cluster struct {
	// URL is the apiserver's https URL on 127.0.0.1.
	URL string
	// CAFile is the apiserver's self-signed serving certificate, to be used as CA.
	CAFile string
	// CAData is the PEM content of CAFile.
	CAData []byte
	// Admin and Rotator are client configs for the two users.
	Admin, Rotator *rest.Config
	// AdminKubeconfig and RotatorKubeconfig are kubeconfig files (0600) for
	// the two users, context name "kubetest", default namespace "default".
	AdminKubeconfig, RotatorKubeconfig string
	// Dir holds the data, PKI and logs of this cluster.
	Dir string
	// ServiceAccountIssuer is the iss of ServiceAccount tokens the apiserver
	// issues (TokenRequest), and ServiceAccountPublicKeyPEM the key that
	// verifies them — e.g. to register the cluster as a federated identity
	// issuer with the Entra emulator (workload identity tests).
	ServiceAccountIssuer       string
	ServiceAccountPublicKeyPEM []byte

	procs []*proc
	once  sync.Once
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

var (
	sharedMu  sync.Mutex
	shared    *Cluster
	sharedErr error
)

// Assets returns the directory holding kube-apiserver and etcd, or "" and a
// reason when they are not available.
func Assets() (dir string, why string) {
	var tried []string
	if d := os.Getenv("PATROL_KUBE_ASSETS"); d != "" {
		if ok, msg := usable(d); ok {
			return d, ""
		} else {
			tried = append(tried, msg)
		}
	}
	if d := DefaultCacheDir(); d != os.Getenv("PATROL_KUBE_ASSETS") {
		if ok, msg := usable(d); ok {
			return d, ""
		} else {
			tried = append(tried, msg)
		}
	}
	return "", strings.Join(tried, "; ") + "; build them with scripts/kube-tools.sh and set PATROL_KUBE_ASSETS to the directory it prints"
}

// DefaultCacheDir is where scripts/kube-tools.sh puts the binaries by default.
func DefaultCacheDir() string {
	if d := os.Getenv("PATROL_KUBE_CACHE"); d != "" {
		return d
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "patrol", "kube", fmt.Sprintf("v%s-%s-%s-%s", KubeVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH))
}

func usable(dir string) (bool, string) {
	for _, b := range []string{"kube-apiserver", "etcd"} {
		p := filepath.Join(dir, b)
		st, err := os.Stat(p)
		if err != nil {
			return false, fmt.Sprintf("%s not found", p)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return false, fmt.Sprintf("%s is not executable", p)
		}
	}
	return true, ""
}

func required() bool { return os.Getenv("PATROL_REQUIRE_KUBE") == "1" }

// Available reports whether Start can start a cluster (binaries present).
func Available() bool { d, _ := Assets(); return d != "" }

// Start returns the test binary's shared cluster, starting it on first use.
// It skips t when the binaries are absent (fails instead when
// PATROL_REQUIRE_KUBE=1).
func Start(t testing.TB) *Cluster {
	t.Helper()
	dir, why := Assets()
	if dir == "" {
		if required() {
			t.Fatalf("kubetest: PATROL_REQUIRE_KUBE=1 but the Kubernetes test binaries are missing: %s", why)
		}
		t.Skipf("kubetest: skipping, no kube-apiserver/etcd: %s", why)
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = start(dir, "")
	}
	if sharedErr != nil {
		t.Fatalf("kubetest: %v", sharedErr)
	}
	return shared
}

// StartIsolated starts a dedicated cluster stopped on t.Cleanup.
func StartIsolated(t testing.TB) *Cluster {
	t.Helper()
	dir, why := Assets()
	if dir == "" {
		if required() {
			t.Fatalf("kubetest: PATROL_REQUIRE_KUBE=1 but the Kubernetes test binaries are missing: %s", why)
		}
		t.Skipf("kubetest: skipping, no kube-apiserver/etcd: %s", why)
	}
	c, err := start(dir, t.TempDir())
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// Main runs the tests of m and stops the shared cluster afterwards. Call it
// from TestMain: func TestMain(m *testing.M) { kubetest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	Shutdown()
	os.Exit(code)
}

// Shutdown stops the shared cluster if one was started.
func Shutdown() {
	sharedMu.Lock()
	c := shared
	shared, sharedErr = nil, nil
	sharedMu.Unlock()
	if c != nil {
		c.Stop()
	}
}

// AdminClient returns a clientset authenticated as admin.
func (c *Cluster) AdminClient(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Admin)
	if err != nil {
		t.Fatalf("kubetest: admin client: %v", err)
	}
	return cs
}

// RotatorClient returns a clientset authenticated as the rotator user.
func (c *Cluster) RotatorClient(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Rotator)
	if err != nil {
		t.Fatalf("kubetest: rotator client: %v", err)
	}
	return cs
}

// Namespace creates a fresh namespace (name derived from the test name) and
// deletes it on t.Cleanup. Namespace deletion is asynchronous without a
// controller-manager, so names are unique per call.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	base := strings.ToLower(t.Name())
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	name = strings.Trim(name, "-") + "-" + randHex(4)
	cs := c.AdminClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("kubetest: create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	return name
}

// Stop kills the apiserver, then etcd, and removes the cluster directory when
// Start created it.
func (c *Cluster) Stop() {
	c.once.Do(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			p := c.procs[i]
			if p.cmd.Process != nil {
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-p.done:
				case <-time.After(10 * time.Second):
					_ = p.cmd.Process.Kill()
					<-p.done
				}
			}
		}
		if strings.Contains(filepath.Base(c.Dir), "patrol-kubetest-") {
			_ = os.RemoveAll(c.Dir)
		}
	})
}

// Logs returns the tail of the etcd and kube-apiserver logs (for failure messages).
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&b, "----- %s log (%s) -----\n%s\n", p.name, p.log, tail(p.log, 60))
	}
	return b.String()
}

func start(assets, dir string) (*Cluster, error) {
	if dir == "" {
		sweepStale()
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		d := dir
		if d == "" {
			var err error
			d, err = os.MkdirTemp("", "patrol-kubetest-")
			if err != nil {
				return nil, err
			}
		} else {
			d = filepath.Join(d, fmt.Sprintf("cluster%d", attempt))
		}
		c, err := startOnce(assets, d)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if !errors.Is(err, errPortRace) {
			break
		}
	}
	return nil, lastErr
}

var errPortRace = errors.New("port taken")

func startOnce(assets, dir string) (_ *Cluster, err error) {
	c := &Cluster{Dir: dir}
	defer func() {
		if err != nil {
			logs := c.Logs()
			c.Stop()
			err = fmt.Errorf("%w\n%s", err, logs)
		}
	}()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return c, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return c, err
	}
	pki := filepath.Join(dir, "pki")
	serving := filepath.Join(pki, "serving")
	if err := os.MkdirAll(serving, 0o700); err != nil {
		return c, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "etcd-data"), 0o700); err != nil {
		return c, err
	}
	if err := writeSAKeys(pki); err != nil {
		return c, err
	}
	c.ServiceAccountIssuer = ServiceAccountIssuer
	if c.ServiceAccountPublicKeyPEM, err = os.ReadFile(filepath.Join(pki, "sa.pub")); err != nil {
		return c, err
	}
	adminToken, rotatorToken := "admin-"+randHex(16), "rotator-"+randHex(16)
	tokens := fmt.Sprintf("%s,%s,uid-admin,\"system:masters\"\n%s,%s,uid-rotator,\n", adminToken, AdminUser, rotatorToken, RotatorUser)
	if err := os.WriteFile(filepath.Join(pki, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return c, err
	}

	ports, err := freePorts(4)
	if err != nil {
		return c, err
	}
	client, peer, metrics, secure := ports[0], ports[1], ports[2], ports[3]
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	etcd, err := c.spawn("etcd", filepath.Join(assets, "etcd"), dir,
		"--name", "kubetest", "--data-dir", filepath.Join(dir, "etcd-data"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-cluster", fmt.Sprintf("kubetest=http://127.0.0.1:%d", peer),
		"--listen-metrics-urls", fmt.Sprintf("http://127.0.0.1:%d", metrics),
	)
	if err != nil {
		return c, err
	}
	deadline := time.Now().Add(ReadyTimeout)
	if err := waitFor(deadline, etcd, func() bool {
		resp, err := http.Get(etcdURL + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && bytes.Contains(body, []byte(`"true"`))
	}); err != nil {
		if strings.Contains(tail(etcd.log, 200), "address already in use") {
			return c, fmt.Errorf("%w: etcd: %v", errPortRace, err)
		}
		return c, fmt.Errorf("etcd on %s not healthy: %w", etcdURL, err)
	}

	api, err := c.spawn("kube-apiserver", filepath.Join(assets, "kube-apiserver"), dir,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", secure),
		"--endpoint-reconciler-type=none",
		"--cert-dir="+serving,
		"--token-auth-file="+filepath.Join(pki, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer="+ServiceAccountIssuer,
		"--service-account-key-file="+filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/24",
	)
	if err != nil {
		return c, err
	}
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", secure)
	c.CAFile = filepath.Join(serving, "apiserver.crt")
	var hc *http.Client
	if err := waitFor(deadline, api, func() bool {
		if hc == nil {
			pemData, err := os.ReadFile(c.CAFile)
			if err != nil {
				return false
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemData) {
				return false
			}
			c.CAData = pemData
			hc = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		}
		req, _ := http.NewRequest(http.MethodGet, c.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && strings.TrimSpace(string(body)) == "ok"
	}); err != nil {
		if strings.Contains(tail(api.log, 200), "address already in use") || strings.Contains(tail(etcd.log, 200), "address already in use") {
			return c, fmt.Errorf("%w: %v", errPortRace, err)
		}
		return c, fmt.Errorf("kube-apiserver %s not ready: %w", c.URL, err)
	}

	c.Admin = c.restConfig(adminToken)
	c.Rotator = c.restConfig(rotatorToken)
	if c.AdminKubeconfig, err = c.writeKubeconfig("admin.kubeconfig", AdminUser, adminToken); err != nil {
		return c, err
	}
	if c.RotatorKubeconfig, err = c.writeKubeconfig("rotator.kubeconfig", RotatorUser, rotatorToken); err != nil {
		return c, err
	}
	return c, nil
}

const ownerFile = "owner.pid"

// sweepStale removes cluster directories left behind by test binaries that
// ended without Main/Shutdown (their processes died with them through the
// parent-death signal; only the directory remains).
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "patrol-kubetest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if processGone(pid) {
			_ = os.RemoveAll(d)
		}
	}
}

func (c *Cluster) restConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            c.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData},
		QPS:             200,
		Burst:           400,
		Timeout:         30 * time.Second,
	}
}

func (c *Cluster) writeKubeconfig(name, user, token string) (string, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: c.URL, CertificateAuthority: c.CAFile}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "kubetest"
	p := filepath.Join(c.Dir, name)
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		return "", err
	}
	return p, os.Chmod(p, 0o600)
}

func (c *Cluster) spawn(name, bin, dir string, args ...string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	return p, nil
}

func waitFor(deadline time.Time, p *proc, ok func() bool) error {
	for {
		if ok() {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", ReadyTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func writeSAKeys(dir string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), priv, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sa.pub"), pub, 0o600)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	ls := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
