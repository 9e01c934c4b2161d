package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeRotationConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := `organization: contoso
rotation:
  lock: {type: file, path: ` + filepath.Join(dir, "rotate.lock") + `}
  metrics: {textfile: ` + filepath.Join(dir, "patrol.prom") + `}
credentials:
  - name: agents
    scopes: [vso.agentpools_manage]
    lifetime: 30d
    sinks:
      - {type: file, path: ` + filepath.Join(dir, "agents.pat") + `}
      - {type: file, path: ` + filepath.Join(dir, "agents.env") + `, format: env}
`
	p := filepath.Join(dir, "patrol.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRotateStatusCLI(t *testing.T) {
	_, env := emuEnv(t)
	dir := t.TempDir()
	cfg := writeRotationConfig(t, dir)

	code, out, errOut := runCLI(t, env, "config", "validate", "--config", cfg)
	if code != 0 || !strings.Contains(out, "1 credential(s), 2 sink(s)") {
		t.Fatalf("validate: %d %s %s", code, out, errOut)
	}

	code, out, errOut = runCLI(t, env, "rotate", "--config", cfg, "--dry-run", "-o", "json")
	if code != 0 {
		t.Fatalf("dry run: %d %s", code, errOut)
	}
	var dry rotateOutput
	if err := json.Unmarshal([]byte(out), &dry); err != nil || !dry.DryRun || dry.Plan.Items[0].Action != "create" {
		t.Fatalf("dry run output: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "agents.pat")); !os.IsNotExist(err) {
		t.Fatal("dry run wrote a sink")
	}

	code, out, errOut = runCLI(t, env, "rotate", "--config", cfg, "-o", "json")
	if code != 0 {
		t.Fatalf("rotate: %d %s %s", code, out, errOut)
	}
	var res rotateOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Results) != 1 || res.Results[0].Error != "" {
		t.Fatalf("rotate output: %v %s", err, out)
	}
	secret, _ := os.ReadFile(filepath.Join(dir, "agents.pat"))
	if len(secret) == 0 || strings.Contains(out, string(secret)) || strings.Contains(errOut, string(secret)) {
		t.Fatal("secret missing from the sink or leaked to output")
	}
	envFile, _ := os.ReadFile(filepath.Join(dir, "agents.env"))
	if string(envFile) != "AZURE_DEVOPS_EXT_PAT="+string(secret)+"\n" {
		t.Fatalf("env sink: %q", envFile)
	}
	prom, err := os.ReadFile(filepath.Join(dir, "patrol.prom"))
	if err != nil || !strings.Contains(string(prom), `patrol_rotations_total{credential="agents"} 1`) {
		t.Fatalf("metrics textfile: %v %s", err, prom)
	}

	code, out, _ = runCLI(t, env, "status", "--config", cfg, "-o", "json")
	var st Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Credentials[0].Health != "ok" || st.Credentials[0].DaysToExpiry == nil || *st.Credentials[0].DaysToExpiry < 29 {
		t.Fatalf("status: %d %s", code, out)
	}

	// Second run: nothing due.
	code, out, _ = runCLI(t, env, "rotate", "--config", cfg, "-o", "json")
	if code != 0 || !strings.Contains(out, `"action": "none"`) {
		t.Fatalf("second rotate: %d %s", code, out)
	}
	// Human table.
	code, out, _ = runCLI(t, env, "rotate", "--config", cfg, "--dry-run", "-o", "table")
	if code != 0 || !strings.Contains(out, "CREDENTIAL") || !strings.Contains(out, "agents") {
		t.Fatalf("table: %s", out)
	}
}

func TestRotateLockHeldExit7(t *testing.T) {
	_, env := emuEnv(t)
	dir := t.TempDir()
	cfg := writeRotationConfig(t, dir)
	// Hold the lock through the lock package from this process.
	a := newApp(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, nil, nil)
	a.configFile = cfg
	f, err := a.loadRotationFile()
	if err != nil {
		t.Fatal(err)
	}
	lk, err := a.locker(f)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := lk.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer rel(t.Context())
	code, _, errOut := runCLI(t, env, "rotate", "--config", cfg)
	if code != 7 || !strings.Contains(errOut, "held by") {
		t.Fatalf("want exit 7 with the holder, got %d %s", code, errOut)
	}
}

func TestConfigValidateErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "patrol.yaml")
	os.WriteFile(p, []byte("credentials:\n- name: a\n  scopes: [vso.bogus_scope]\n  lifetime: 3x\n  sinks: [{type: file, path: /tmp/a}]\n"), 0o600)
	code, _, errOut := runCLI(t, map[string]string{}, "config", "validate", "--config", p)
	if code != 2 || !strings.Contains(errOut, "line 3") || !strings.Contains(errOut, "line 4") {
		t.Fatalf("want exit 2 naming lines 3 and 4, got %d %s", code, errOut)
	}
	code, out, _ := runCLI(t, map[string]string{}, "config", "schema")
	if code != 0 || !strings.Contains(out, `"credentials"`) {
		t.Fatalf("schema: %d", code)
	}
}

func TestRotatePartialExit8(t *testing.T) {
	_, env := emuEnv(t)
	p := partialConfig(t)
	code, out, errOut := runCLI(t, env, "rotate", "--config", p, "-o", "json")
	if code != 8 || !strings.Contains(errOut, "1 of 2") {
		t.Fatalf("want exit 8 (partial), got %d\n%s\n%s", code, out, errOut)
	}
	var res rotateOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Results[0].Error != "" || res.Results[1].Reason != "sink" {
		t.Fatalf("results: %v %s", err, out)
	}
	// The undeliverable PAT was revoked at once: only "good" holds a PAT.
	code, out, _ = runCLI(t, env, "pat", "list", "-o", "json")
	if code != 0 || strings.Count(out, "patrol:broken:") != 0 || strings.Count(out, "patrol:good:") != 1 {
		t.Fatalf("active PATs after the run: %s", out)
	}
	code, _, _ = runCLI(t, env, "status", "--config", p)
	if code != 8 {
		t.Fatalf("status of a credential with a missing sink: exit %d, want 8", code)
	}
}
