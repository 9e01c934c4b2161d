package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/kubetest"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func freeLocalAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// patrol controller against the real kube-apiserver: it takes the leader
// Lease, serves /healthz, /readyz and /metrics on the given addresses, and
// a stop signal ends it with exit 0.
func TestControllerCommand(t *testing.T) {
	c := kubetest.Start(t)
	c.InstallCRDs(t, "../../deploy/crds")
	ns := c.Namespace(t)
	metricsAddr, probeAddr := freeLocalAddr(t), freeLocalAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"controller", "--kubeconfig", c.AdminKubeconfig, "--namespace", ns, "--leader-election-namespace", ns,
			"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", probeAddr, "--log-format", "json"},
			func(string) (string, bool) { return "", false }, strings.NewReader(""), &out, &errb)
	}()
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _ := get("http://" + probeAddr + "/readyz")
		if code == 200 {
			break
		}
		select {
		case c := <-done:
			t.Fatalf("patrol controller exited %d early:\n%s", c, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never 200; stderr:\n%s", errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := get("http://" + probeAddr + "/healthz"); code != 200 {
		t.Errorf("/healthz %d %s", code, body)
	}
	if code, body := get("http://" + metricsAddr + "/metrics"); code != 200 || !strings.Contains(body, "patrol_build_info{") {
		t.Errorf("/metrics %d lacks patrol_build_info:\n%.500s", code, body)
	}
	var lease coordinationv1.Lease
	for time.Now().Before(deadline) {
		l, err := c.AdminClient(t).CoordinationV1().Leases(ns).Get(context.Background(), "patrol-controller", metav1.GetOptions{})
		if err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
			lease = *l
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lease.Spec.HolderIdentity == nil {
		t.Error("no leader election Lease patrol-controller held")
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after the stop signal, want 0; stderr:\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("patrol controller did not stop within 30s of the signal")
	}
}

func TestControllerCommandBadKubeconfig(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "controller", "--kubeconfig", "/nonexistent/kubeconfig")
	if code != 2 || !strings.Contains(stderr, "/nonexistent/kubeconfig") {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
}
