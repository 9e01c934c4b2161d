package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/emulator"
)

// emulatorCmd runs `patrol emulator` with args, parses its export lines
// and returns the environment plus a stop function (SIGINT, clean exit).
func emulatorCmd(t *testing.T, dir string, args ...string) (env, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, binary, append([]string{"emulator"}, args...)...)
	cmd.Env = []string{"HOME=" + dir}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := env{"HOME": dir, "PATROL_LOG_LEVEL": "debug"}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			v, _, _ = strings.Cut(v, "  #")
			e[k] = strings.Trim(v, "'")
		}
		if strings.HasPrefix(line, "export AZURE_CLIENT_SECRET=") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		defer cancel()
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("emulator did not stop cleanly on SIGINT: %v\n%s", err, stderr.String())
		}
		collectMu.Lock()
		collected.WriteString("\n--- patrol emulator (stderr)\n" + stderr.String())
		collectMu.Unlock()
	}
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			cmd.Wait()
			cancel()
		}
	})
	return e, stop
}

// `patrol emulator` runs in the foreground, prints export lines that work
// as printed, and stops cleanly on SIGINT.
func TestEmulatorCommand(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	e, stop := emulatorCmd(t, dir, "--addr", "127.0.0.1:0", "--ca-file", ca, "--print-credentials")
	for _, k := range []string{"AZURE_AUTHORITY_HOST", "SSL_CERT_FILE", "PATROL_VSSPS_URL", "AZURE_DEVOPS_ORG", "AZURE_PASSWORD"} {
		if e[k] == "" {
			t.Fatalf("export lines lack %s: %v", k, e)
		}
	}
	if e["AZURE_PASSWORD"] != emulator.DefaultPassword {
		t.Fatalf("--print-credentials printed %q", e["AZURE_PASSWORD"])
	}
	if _, err := os.Stat(ca); err != nil {
		t.Fatalf("CA not written: %v", err)
	}
	w := &world{t: t, dir: dir}
	r := w.patrol(e, "pat", "list", "-o", "json")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("pat list against `patrol emulator`: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	stop()
}

// --state keeps PATs (and the CA) across restarts; --seed loads a world.
func TestEmulatorStateAndSeed(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	ca := filepath.Join(dir, "ca.pem")
	seed := emulator.DefaultSeed()
	seed.PATs = append(seed.PATs, seedPAT(1))
	seedFile := filepath.Join(dir, "seed.json")
	b, err := json.Marshal(seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seedFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--addr", "127.0.0.1:0", "--ca-file", ca, "--state", state, "--seed", seedFile, "--print-credentials"}
	e, stop := emulatorCmd(t, dir, args...)
	w := &world{t: t, dir: dir}
	r := w.patrolOpts(runOpts{secretStdout: true}, e, "pat", "create", "--name", "survives", "--scope", "vso.code", "-o", "json").must(t, "create")
	p := decode[patJSON](t, r.stdout)
	addSecret(*p.Token, "state PAT secret")
	stop()

	e2, stop2 := emulatorCmd(t, dir, args...)
	defer stop2()
	r = w.patrol(e2, "pat", "list", "-o", "json").must(t, "list after restart")
	names := map[string]bool{}
	for _, x := range decode[[]patJSON](t, r.stdout) {
		names[x.DisplayName] = true
	}
	if !names["survives"] || !names[seedPAT(1).DisplayName] {
		t.Fatalf("after restart with --state: %v", names)
	}
}

func TestEmulatorRefusesNonLoopback(t *testing.T) {
	w := &world{t: t, dir: t.TempDir()}
	r := w.patrol(env{"HOME": w.dir}, "emulator", "--addr", "0.0.0.0:8443")
	if r.code != 2 || !strings.Contains(r.stderr, "127.0.0.1") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

// The connection part of patrol.yaml works, and flags beat the environment.
func TestConfigFile(t *testing.T) {
	w := start(t, nil)
	cfg := filepath.Join(w.dir, "patrol.yaml")
	yml := "organization: no-such-org\nauth:\n  method: ropc\n  tenantId: " + w.env["AZURE_TENANT_ID"] + "\n  clientId: " + w.env["AZURE_CLIENT_ID"] +
		"\n  username: " + emulator.DefaultUser + "\n  passwordFile: " + filepath.Join(w.dir, "pw") +
		"\nendpoints:\n  authorityHost: " + w.env["AZURE_AUTHORITY_HOST"] + "\n  disableInstanceDiscovery: true\n  vssps: " + w.env["PATROL_VSSPS_URL"] +
		"\n  devops: " + w.env["PATROL_DEVOPS_URL"] + "\n  caBundle: " + w.env["SSL_CERT_FILE"] + "\nrotation: {}\ncredentials: []\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "pw"), []byte(emulator.DefaultPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := env{"HOME": w.dir, "PATROL_CONFIG": cfg, "AZURE_CLIENT_SECRET": emulator.DefaultClientSecret, "AZURE_DEVOPS_ORG": emulator.DefaultOrg}
	w.patrol(e, "pat", "list").must(t, "pat list with PATROL_CONFIG")
	// without AZURE_DEVOPS_ORG the file value applies; --org beats the file
	r := w.patrol(with(e, env{"AZURE_DEVOPS_ORG": ""}), "pat", "list")
	if r.code != 5 {
		t.Fatalf("file org no-such-org must be used when env is unset: exit %d %s", r.code, r.stderr)
	}
	w.patrol(with(e, env{"AZURE_DEVOPS_ORG": ""}), "pat", "list", "--org", emulator.DefaultOrg).must(t, "--org beats the file")
}
