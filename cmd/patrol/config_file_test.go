package main

import (
	"os"
	"strings"
	"testing"
)

// A file without apiVersion works, with one warning on stderr naming the fix,
// however many times the command reads the file.
func TestMissingAPIVersionWarnsOnce(t *testing.T) {
	_, env := emuEnv(t)
	dir := t.TempDir()
	cfg := writeRotationConfig(t, dir) // no apiVersion
	for _, args := range [][]string{
		{"rotate", "--dry-run"},
		{"status"},
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
	if code, _, errOut := runCLI(t, env, "rotate", "--dry-run", "--config", cfg); code != 2 || !strings.Contains(errOut, `apiVersion: unknown version "patrol.dev/v2"`) {
		t.Errorf("apiVersion v2: exit %d, %q", code, errOut)
	}
}
