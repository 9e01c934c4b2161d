package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rotate --dry-run --detailed-exitcode: 0 nothing to do, 10 changes
// planned, 11 a credential that cannot be planned; other failures keep
// their codes; without --dry-run it is a usage error.
func TestRotateDetailedExitCode(t *testing.T) {
	_, env := emuEnv(t)
	dir := t.TempDir()
	cfg := writeRotationConfig(t, dir)

	if code, _, stderr := runCLI(t, env, "rotate", "--config", cfg, "--dry-run"); code != 0 {
		t.Fatalf("plain dry run with changes: exit %d (%s), want 0", code, stderr)
	}
	code, stdout, stderr := runCLI(t, env, "rotate", "--config", cfg, "--dry-run", "--detailed-exitcode")
	if code != exitPlanChanges || !strings.Contains(stdout, "agents") || strings.Contains(stderr, "hint:") {
		t.Fatalf("changes planned: exit %d, stdout %q, stderr %q; want %d, the plan, no error", code, stdout, stderr, exitPlanChanges)
	}
	if code, _, stderr := runCLI(t, env, "rotate", "--config", cfg); code != 0 {
		t.Fatalf("rotate: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, env, "rotate", "--config", cfg, "--dry-run", "--detailed-exitcode", "-o", "json"); code != 0 {
		t.Fatalf("nothing to do: exit %d (%s), want 0", code, stderr)
	}
	// A sink that cannot be read: the credential cannot be planned.
	if err := os.Remove(filepath.Join(dir, "agents.env")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "agents.env"), 0o700); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCLI(t, env, "rotate", "--config", cfg, "--dry-run", "--detailed-exitcode"); code != exitPlanFailures {
		t.Fatalf("unplannable credential: exit %d, stdout %q, stderr %q; want %d", code, stdout, stderr, exitPlanFailures)
	}
	if code, _, stderr := runCLI(t, env, "rotate", "--config", cfg, "--detailed-exitcode"); code != 2 || !strings.Contains(stderr, "--dry-run") {
		t.Fatalf("without --dry-run: exit %d %q; want 2 naming --dry-run", code, stderr)
	}
	if code, _, _ := runCLI(t, env, "rotate", "--config", filepath.Join(dir, "missing.yaml"), "--dry-run", "--detailed-exitcode"); code != 2 {
		t.Fatalf("a missing config keeps its exit code 2, got %d", code)
	}
}
