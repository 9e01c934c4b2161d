package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitFor polls s until it contains want (a bound against a hung test, not
// a timing assertion).
func waitFor(t *testing.T, s *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if strings.Contains(s.String(), want) {
			return
		}
	}
	t.Fatalf("never printed %q:\n%s", want, s.String())
}

// status --watch off a terminal prints the status once, then only the
// changes, and ends with exit 0 when its context ends.
func TestStatusWatchPrintsChanges(t *testing.T) {
	_, env := emuEnv(t)
	dir := t.TempDir()
	cfg := writeRotationConfig(t, dir)
	if code, _, stderr := runCLI(t, env, "rotate", "--config", cfg); code != 0 {
		t.Fatalf("rotate: %d %s", code, stderr)
	}
	var out, errb syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"status", "--config", cfg, "--watch", "--interval", "20ms"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, strings.NewReader(""), &out, &errb)
	}()
	waitFor(t, &out, "CREDENTIAL")
	if err := os.Remove(filepath.Join(dir, "agents.pat")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &out, "agents: ok (")
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("watch ended with exit %d, want 0: %s", code, errb.String())
	}
	s := out.String()
	if strings.Count(s, "CREDENTIAL") != 1 || !strings.Contains(s, "file:"+filepath.Join(dir, "agents.pat")) {
		t.Fatalf("want the table once, then change lines only:\n%s", s)
	}
	if code, _, stderr := runCLI(t, env, "status", "--config", cfg, "--watch", "--interval", "0s"); code != 2 || !strings.Contains(stderr, "--interval") {
		t.Fatalf("--interval 0: exit %d %q", code, stderr)
	}
}
