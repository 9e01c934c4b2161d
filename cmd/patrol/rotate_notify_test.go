package main

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A run notifies a local https webhook of rotations and failures, never
// with a secret; a webhook that fails does not fail the run and is counted.
func TestRotateNotify(t *testing.T) {
	_, env := emuEnv(t)
	var mu sync.Mutex
	var bodies []string
	fail := false
	hook := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, string(b))
		if fail {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer hook.Close()
	// Trust the webhook's certificate next to the emulator's CA.
	ca, err := os.ReadFile(env["PATROL_CA_BUNDLE"])
	if err != nil {
		t.Fatal(err)
	}
	ca = append(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.Certificate().Raw})...)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "ca.pem")
	os.WriteFile(bundle, ca, 0o600)
	env["PATROL_CA_BUNDLE"] = bundle
	env["OPS_HOOK"] = hook.URL + "/hook"
	prom := filepath.Join(dir, "patrol.prom")
	cfg := filepath.Join(dir, "patrol.yaml")
	os.WriteFile(cfg, []byte(`organization: contoso
rotation: {lock: {type: none}, metrics: {textfile: `+prom+`}}
notify:
  - {name: ops, type: webhook, urlEnv: OPS_HOOK, on: [failure, rotation], maxAttempts: 2}
credentials:
  - name: agents
    scopes: [vso.agentpools_manage]
    sinks: [{type: file, path: `+filepath.Join(dir, "agents.pat")+`}]
`), 0o600)
	if code, out, errOut := runCLI(t, env, "rotate", "--config", cfg); code != 0 {
		t.Fatalf("rotate: %d\n%s\n%s", code, out, errOut)
	}
	secret, err := os.ReadFile(filepath.Join(dir, "agents.pat"))
	if err != nil || len(secret) < 20 {
		t.Fatal("no PAT delivered")
	}
	mu.Lock()
	if len(bodies) != 1 || !strings.Contains(bodies[0], `"event":"rotation"`) || !strings.Contains(bodies[0], `"organization":"contoso"`) || strings.Contains(bodies[0], string(secret)) {
		t.Fatalf("rotation notices: %q", bodies)
	}
	mu.Unlock()

	// The sink breaks, and so does the webhook: the run fails as it would
	// have (exit 8 is the rotation's), the notice is retried, logged, counted.
	os.MkdirAll(filepath.Join(dir, "agents.pat.meta.json.next", "block"), 0o700)
	mu.Lock()
	fail, bodies = true, nil
	mu.Unlock()
	code, _, errOut := runCLI(t, env, "rotate", "--config", cfg, "--force")
	if code == 0 || !strings.Contains(errOut, "notice not delivered") {
		t.Fatalf("failing run: exit %d\n%s", code, errOut)
	}
	mu.Lock()
	if len(bodies) != 2 || !strings.Contains(bodies[0], `"event":"failure"`) || strings.Contains(bodies[0], string(secret)) {
		t.Fatalf("failure notices (2 attempts): %q", bodies)
	}
	mu.Unlock()
	m := readProm(t, prom)
	if promValue(t, m, `patrol_notification_failures_total{notifier="ops"}`) != "1" || promValue(t, m, `patrol_notifications_total{notifier="ops"}`) != "1" {
		t.Fatalf("notification counters:\n%s", m)
	}
	if strings.Contains(errOut, hook.URL) {
		t.Fatal("the webhook URL was logged")
	}
}
