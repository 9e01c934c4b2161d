package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
)

// runCLIAt runs patrol in-process with its clock set to now.
func runCLIAt(t *testing.T, env map[string]string, now time.Time, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := newApp(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, strings.NewReader(""), &out, &errb)
	a.now = func() time.Time { return now }
	return runApp(a, &out, &errb, args...)
}

// runApp runs a command through an existing app (its caches included).
func runApp(a *app, out, errb *bytes.Buffer, args ...string) (code int, stdout, stderr string) {
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errb)
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = reportError(errb, err)
	}
	return code, out.String(), errb.String()
}

func patAPICalls(e *emulator.Emulator, method string) int64 {
	var n int64
	for k, v := range e.Counters() {
		if strings.HasPrefix(k, method+" ") && strings.Contains(k, "tokens/pats") {
			n += v
		}
	}
	return n
}

// TestAllOrgsRefusedAfterRetirement: from 2026-12-01 `pat create --all-orgs`
// is a usage error (exit 2) that explains the retirement and the fix, and
// nothing is sent to Azure DevOps; before that date it creates a global PAT
// with a warning.
func TestAllOrgsRefusedAfterRetirement(t *testing.T) {
	retire := api.GlobalPATRetirement
	clk := retire.Add(-time.Hour)
	e, env := emuEnvOpts(t, emulator.Options{Now: func() time.Time { return clk }})
	code, stdout, stderr := runCLIAt(t, env, clk, "pat", "create", "--name", "g", "--scope", "vso.code", "--all-orgs", "-o", "json")
	if code != 0 || !strings.Contains(stderr, "stops working on 2026-12-01") {
		t.Fatalf("--all-orgs before the retirement: %d %s", code, stderr)
	}
	var v PATView
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || v.TargetAccounts != nil || !v.Global || v.Retired {
		t.Fatalf("global PAT before the retirement: %v %s", err, stdout)
	}

	clk = retire
	e.ResetCounters()
	code, stdout, stderr = runCLIAt(t, env, clk, "pat", "create", "--name", "g2", "--scope", "vso.code", "--all-orgs", "-o", "json")
	if code != 2 || stdout != "" {
		t.Fatalf("--all-orgs after the retirement: exit %d, stdout %q", code, stdout)
	}
	for _, want := range []string{"--all-orgs", "2026-12-01", "organisation-scoped", "Entra"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("error lacks %q: %s", want, stderr)
		}
	}
	if n := patAPICalls(e, "POST"); n != 0 {
		t.Fatalf("%d create calls reached Azure DevOps", n)
	}

	// The surviving global PAT is marked in list and get.
	code, stdout, stderr = runCLIAt(t, env, clk, "pat", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("list: %d %s", code, stderr)
	}
	var items []map[string]any
	if err := json.Unmarshal([]byte(stdout), &items); err != nil || len(items) != 1 {
		t.Fatalf("list json: %v %s", err, stdout)
	}
	if items[0]["global"] != true || items[0]["retired"] != true || items[0]["targetAccounts"] != nil {
		t.Fatalf("surviving global PAT not marked: %v", items[0])
	}
	if !strings.Contains(stderr, "stopped working on 2026-12-01") {
		t.Fatalf("list warning: %q", stderr)
	}
	code, stdout, _ = runCLIAt(t, env, clk, "pat", "list", "-o", "table")
	if code != 0 || !strings.Contains(stdout, "GLOBAL-RETIRED") {
		t.Fatalf("list table: %d %s", code, stdout)
	}
	code, stdout, _ = runCLIAt(t, env, clk, "pat", "get", v.AuthorizationID, "-o", "table")
	if code != 0 || !strings.Contains(stdout, "GLOBAL-RETIRED") {
		t.Fatalf("get table: %d %s", code, stdout)
	}
	// Organisation-scoped PATs carry neither field.
	code, stdout, _ = runCLIAt(t, env, clk, "pat", "create", "--name", "o", "--scope", "vso.code", "-o", "json")
	if code != 0 || strings.Contains(stdout, `"global"`) || strings.Contains(stdout, `"retired"`) {
		t.Fatalf("organisation-scoped create: %d %s", code, stdout)
	}
}

// TestConfigValidateAllOrgsRetired: patrol config validate refuses
// allOrgs: true after the retirement (exit 2) and accepts it before.
func TestConfigValidateAllOrgsRetired(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, "patrol.yaml", "credentials:\n- name: a\n  scopes: [vso.code]\n  allOrgs: true\n  sinks: [{type: file, path: "+dir+"/out}]\n")
	env := map[string]string{"HOME": dir, "PATROL_CONFIG": path}
	if code, _, stderr := runCLIAt(t, env, api.GlobalPATRetirement.Add(-time.Second), "config", "validate"); code != 0 {
		t.Fatalf("before the retirement: %d %s", code, stderr)
	}
	code, _, stderr := runCLIAt(t, env, api.GlobalPATRetirement, "config", "validate")
	if code != 2 || !strings.Contains(stderr, "credentials[0].allOrgs") || !strings.Contains(stderr, "2026-12-01") {
		t.Fatalf("after the retirement: %d %s", code, stderr)
	}
}
