package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/kubetest"
)

func TestParseTokenCache(t *testing.T) {
	ok := map[string]secretRef{
		"k8s-secret://patrol/patrol-token-cache":         {"patrol", "patrol-token-cache", "refresh-token"},
		"k8s-secret://ns-1/cache.v2#rt":                  {"ns-1", "cache.v2", "rt"},
		"K8S-SECRET://patrol/c#refresh_token.1":          {"patrol", "c", "refresh_token.1"},
		"k8s-secret:///patrol-token-cache":               {"", "patrol-token-cache", "refresh-token"},
		"  k8s-secret://a/b  ":                           {"a", "b", "refresh-token"},
		"k8s-secret://" + strings.Repeat("n", 63) + "/x": {strings.Repeat("n", 63), "x", "refresh-token"},
	}
	for in, want := range ok {
		got, isK8s, err := parseTokenCache(in)
		if err != nil || !isK8s || got != want {
			t.Errorf("parseTokenCache(%q) = %+v, %v, %v; want %+v", in, got, isK8s, err, want)
		}
	}
	for _, path := range []string{"", "/var/run/patrol/cache.json", "cache.json", "k8s/secret", "./k8s-secret://x/y"} {
		if _, isK8s, err := parseTokenCache(path); isK8s || err != nil {
			t.Errorf("%q is a file path, got k8s=%v err=%v", path, isK8s, err)
		}
	}
	bad := map[string]string{
		"k8s-secret:patrol/x":                               "followed by //",
		"k8s-secret://":                                     "exactly <namespace>/<name>",
		"k8s-secret://onlyname":                             "missing namespace or name",
		"k8s-secret://a/b/c":                                "exactly <namespace>/<name>",
		"k8s-secret://patrol/":                              "name is empty",
		"k8s-secret://Patrol/x":                             `namespace "Patrol"`,
		"k8s-secret://" + strings.Repeat("n", 64) + "/x":    "at most 63",
		"k8s-secret://patrol/My_Secret":                     `Secret name "My_Secret"`,
		"k8s-secret://patrol/x#":                            "key after # is empty",
		"k8s-secret://patrol/x#bad key":                     `key "bad key"`,
		"k8s-secret://patrol/x?kubeconfig=/etc/k":           "query parameters",
		"k8s-secret://patrol/x#" + strings.Repeat("k", 254): "at most 253",
	}
	for in, frag := range bad {
		_, isK8s, err := parseTokenCache(in)
		if !isK8s || err == nil {
			t.Errorf("%q: want an error, got k8s=%v err=%v", in, isK8s, err)
			continue
		}
		if errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), frag) || !strings.Contains(err.Error(), "k8s-secret://<namespace>/<name>[#key]") {
			t.Errorf("%q: error %q (kind %v) must be a usage error mentioning %q and the syntax", in, err, errkind.Of(err), frag)
		}
	}
}

func FuzzParseTokenCache(f *testing.F) {
	for _, s := range []string{"k8s-secret://a/b#c", "k8s-secret:///b", "k8s-secret://a", "/tmp/x", "k8s-secret://a/b/c#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, isK8s, err := parseTokenCache(s)
		if err == nil && isK8s && (ref.Name == "" || ref.Key == "" || strings.ContainsAny(ref.Name+ref.Namespace, "/#?")) {
			t.Fatalf("%q parsed to invalid %+v", s, ref)
		}
		if !isK8s && err != nil {
			t.Fatalf("%q: error for a file path: %v", s, err)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for a concurrent writer and reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var userCodeRe = regexp.MustCompile(`enter the code ([A-Z0-9-]+)`)

// TestLoginTokenCacheInKubernetesSecret: `patrol login` stores the refresh
// token in a Secret of a real apiserver; unattended runs (--auth device-code,
// then auto) redeem it and write the rotated one back.
func TestLoginTokenCacheInKubernetesSecret(t *testing.T) {
	cl := kubetest.StartIsolated(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := cl.Namespace(t)
	admin := cl.AdminClient(t)

	e, err := emulator.Start(ctx, emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := e.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	env := e.Env(ca)
	delete(env, "SSL_CERT_FILE")
	env["PATROL_CA_BUNDLE"] = ca
	env["HOME"] = t.TempDir()
	env["KUBECONFIG"] = cl.AdminKubeconfig
	env["PATROL_TOKEN_CACHE"] = "k8s-secret://" + ns + "/patrol-token-cache#rt"
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	// 1. login: a human approves the device code.
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"login"}, lookup, strings.NewReader(""), &stdout, &stderr) }()
	var code string
	for code == "" {
		select {
		case rc := <-done:
			t.Fatalf("login exited %d before a code was shown: %s", rc, stderr.String())
		case <-ctx.Done():
			t.Fatalf("no user code on stderr: %s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if m := userCodeRe.FindStringSubmatch(stderr.String()); m != nil {
			code = m[1]
		}
	}
	if err := e.ApproveDeviceCode(code, emulator.DefaultUser); err != nil {
		t.Fatal(err)
	}
	if rc := <-done; rc != 0 {
		t.Fatalf("login exit %d: %s", rc, stderr.String())
	}
	if !strings.Contains(stderr.String(), "Kubernetes Secret "+ns+"/patrol-token-cache key rt") {
		t.Errorf("login does not say where the token is: %s", stderr.String())
	}
	readRT := func() string {
		t.Helper()
		s, err := admin.CoreV1().Secrets(ns).Get(ctx, "patrol-token-cache", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return string(s.Data["rt"])
	}
	rt1 := readRT()
	if rt1 == "" {
		t.Fatal("the Secret holds no refresh token after login")
	}
	leaks := func(outs ...string) {
		t.Helper()
		for _, o := range outs {
			if strings.Contains(o, rt1) {
				t.Fatal("a refresh token appears in the output")
			}
		}
	}
	leaks(stdout.String(), stderr.String())

	// 2. unattended run with --auth device-code redeems and rotates it.
	e.ResetCounters()
	rc, out, errOut := runCLI(t, env, "--auth", "device-code", "pat", "list", "-o", "json")
	if rc != 0 {
		t.Fatalf("pat list exit %d: %s", rc, errOut)
	}
	leaks(out, errOut)
	if n := e.Counters()["POST /{tenant}/oauth2/v2.0/token refresh_token"]; n != 1 {
		t.Errorf("refresh_token redemptions = %d, want 1 (counters %v)", n, e.Counters())
	}
	rt2 := readRT()
	if rt2 == "" || rt2 == rt1 {
		t.Fatalf("the Secret does not hold a rotated refresh token (changed: %v)", rt2 != rt1)
	}

	// 3. auto picks device-code because a token cache is configured.
	rc, _, errOut = runCLI(t, env, "pat", "list", "-o", "json")
	if rc != 0 {
		t.Fatalf("auto: exit %d: %s", rc, errOut)
	}
	if rt3 := readRT(); rt3 == rt2 || rt3 == "" {
		t.Fatal("auto run did not rotate the refresh token in the Secret")
	}

	// 4. an empty Secret location is an auth error telling to run login.
	env["PATROL_TOKEN_CACHE"] = "k8s-secret://" + ns + "/never-logged-in"
	rc, _, errOut = runCLI(t, env, "--auth", "device-code", "pat", "list")
	if rc != errkind.Auth.ExitCode() || !strings.Contains(errOut, "patrol login") {
		t.Fatalf("missing Secret: exit %d: %s", rc, errOut)
	}
}
