package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command that reads patrol.yaml reads it as strictly as `config
// validate`: a misspelt top-level field fails pat list, rotate, status and
// token too, with the field, the line and the suggestion, exit 2.
func TestEveryCommandReadsConfigStrictly(t *testing.T) {
	_, env := emuEnv(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "patrol.yaml")
	body := "apiVersion: patrol.dev/v1\norganisation: contoso\ncredentials:\n  - name: a\n    scopes: [vso.code]\n    sinks: [{type: file, path: " + filepath.Join(dir, "a.pat") + "}]\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"config", "validate"},
		{"pat", "list"},
		{"pat", "create", "--name", "x", "--scope", "vso.code"},
		{"rotate", "--dry-run"},
		{"rotate"},
		{"status"},
		{"token"},
	} {
		code, out, errOut := runCLI(t, env, append(args, "--config", cfg)...)
		if code != 2 || !strings.Contains(errOut, `line 2: organisation: unknown field "organisation"; did you mean "organization"?`) {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 naming the misspelt field", args, code, errOut, out)
		}
	}
	// PATROL_CONFIG names the file just as --config does.
	env["PATROL_CONFIG"] = cfg
	if code, _, errOut := runCLI(t, env, "pat", "list"); code != 2 || !strings.Contains(errOut, `"organisation"`) {
		t.Errorf("pat list with PATROL_CONFIG: exit %d, %q", code, errOut)
	}
}

// A file without apiVersion works, with one warning on stderr naming the fix,
// however many times the command reads the file.
func TestMissingAPIVersionWarnsOnce(t *testing.T) {
	_, env := emuEnv(t)
	dir := t.TempDir()
	cfg := writeRotationConfig(t, dir) // no apiVersion
	for _, args := range [][]string{
		{"rotate", "--dry-run"},
		{"status"},
		{"pat", "list"},
		{"config", "validate"},
	} {
		code, out, errOut := runCLI(t, env, append(args, "--config", cfg)...)
		if n := strings.Count(errOut, "warning: "+cfg+": apiVersion is missing; add the line \"apiVersion: patrol.dev/v1\""); n != 1 {
			t.Errorf("%v: %d warnings on stderr, want 1: %q", args, n, errOut)
		}
		if strings.Contains(out, "apiVersion") {
			t.Errorf("%v: the warning went to stdout: %q", args, out)
		}
		if args[0] != "status" && code != 0 { // status: nothing rotated yet → missing, exit 8
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
	}
	// With apiVersion: no warning.
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append([]byte("apiVersion: patrol.dev/v1\n"), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, env, "rotate", "--dry-run", "--config", cfg); code != 0 || strings.Contains(errOut, "warning") {
		t.Errorf("with apiVersion: exit %d, %q", code, errOut)
	}
	// An unknown version is a usage error.
	if err := os.WriteFile(cfg, append([]byte("apiVersion: patrol.dev/v2\n"), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, env, "pat", "list", "--config", cfg); code != 2 || !strings.Contains(errOut, `apiVersion: unknown version "patrol.dev/v2"`) {
		t.Errorf("apiVersion v2: exit %d, %q", code, errOut)
	}
}

// AZURE_DEVOPS_ORG / --org is the organisation of credentials without one,
// also for the duplicate-sink check: the same variable group written by a
// credential of that organisation is a duplicate; in another one it is not.
func TestDuplicateDevOpsSinkUsesTheEffectiveOrganization(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "patrol.yaml")
	sk := "{type: azure-devops-variable-group, project: Platform, groupName: creds, variable: ADO_PAT}"
	body := "apiVersion: patrol.dev/v1\norganization: contoso\ncredentials:\n  - {name: a, scopes: [vso.code], sinks: [" + sk + "]}\n  - {name: b, organization: fabrikam, scopes: [vso.code], sinks: [" + sk + "]}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, nil, "config", "validate", "--config", cfg); code != 0 {
		t.Fatalf("contoso and fabrikam: two variable groups, got exit %d %s", code, errOut)
	}
	for _, env := range []map[string]string{{"AZURE_DEVOPS_ORG": "fabrikam"}, nil} {
		args := []string{"config", "validate", "--config", cfg}
		if env == nil {
			args = append(args, "--org", "https://dev.azure.com/fabrikam")
		}
		code, _, errOut := runCLI(t, env, args...)
		if code != 2 || !strings.Contains(errOut, "credentials[1].sinks[0]: the same sink is already configured") {
			t.Errorf("%v %v: want the duplicate refused, got exit %d %s", env, args, code, errOut)
		}
	}
}
