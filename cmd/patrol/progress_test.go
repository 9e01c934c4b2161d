package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/emulator"
)

// Paging many PATs shows "page N, M PATs…" on stderr when it is a
// terminal, and nothing when it is not.
func TestPATListProgressOnlyOnTerminal(t *testing.T) {
	seed := emulator.DefaultSeed()
	for i := range 250 {
		seed.PATs = append(seed.PATs, emulator.SeedPAT{Owner: emulator.DefaultUser, Org: emulator.DefaultOrg,
			DisplayName: fmt.Sprintf("many-%03d", i), Scope: "vso.code", ValidTo: time.Now().Add(48 * time.Hour)})
	}
	_, env := emuEnvOpts(t, emulator.Options{Seed: &seed})
	code, stdout, stderr := runTTY(t, env, "pat", "list", "-o", "name")
	if code != 0 || !strings.Contains(stderr, "page 2, 200 PATs…") || strings.Count(stdout, "\n") < 250 {
		t.Fatalf("terminal: exit %d, stderr %q; want page progress", code, stderr)
	}
	if !strings.HasSuffix(stderr, "\r\x1b[K") {
		t.Errorf("terminal: the progress line is not cleared at the end: %q", stderr)
	}
	code, _, stderr = runCLI(t, env, "pat", "list", "-o", "name")
	if code != 0 || stderr != "" {
		t.Fatalf("not a terminal: exit %d, stderr %q; want nothing", code, stderr)
	}
}

// rotate on a terminal shows how many credentials are done and, when Azure
// DevOps throttles (429 + Retry-After), "throttled by Azure DevOps, retrying
// in N s" on the same line; piped, stderr has none of it.
func TestRotateProgressAndThrottleOnlyOnTerminal(t *testing.T) {
	e, env := emuEnv(t)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("apiVersion: patrol.dev/v1\norganization: " + emulator.DefaultOrg + "\nrotation: {lock: {type: none}}\ncredentials:\n")
	for i := range 12 {
		fmt.Fprintf(&b, "  - {name: c%02d, scopes: [vso.code], sinks: [{type: file, path: %s/c%02d.pat}]}\n", i, dir, i)
	}
	cfg := filepath.Join(dir, "patrol.yaml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	const listing = "GET /vssps/{org}/_apis/tokens/pats"
	// The first listing of the run is answered 429 Retry-After: 1; the
	// faults are lifted once it was seen, so the retry succeeds.
	throttleOnce := func() (stop func()) {
		before := e.Counters()[listing]
		e.SetFaults(emulator.Faults{ThrottleRate: 1, RetryAfter: emulator.Duration(time.Second), Routes: []string{listing}})
		quit := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for e.Counters()[listing] == before {
				select {
				case <-quit:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
			e.SetFaults(emulator.Faults{})
		}()
		return func() { close(quit); <-done; e.SetFaults(emulator.Faults{}) }
	}

	stop := throttleOnce()
	code, stdout, stderr := runTTY(t, env, "rotate", "--config", cfg, "--force")
	stop()
	if code != 0 {
		t.Fatalf("rotate: %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"throttled by Azure DevOps, retrying in 1 s", "rotating: 0 of 12 credential(s) done…", "rotating: 12 of 12 credential(s) done…"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("terminal: stderr lacks %q:\n%q", want, stderr)
		}
	}
	if !strings.HasSuffix(stderr, "\r\x1b[K") {
		t.Errorf("terminal: the progress line is not cleared at the end: %q", stderr)
	}
	if strings.Contains(stdout, "\r") || strings.Contains(stdout, "rotating:") {
		t.Errorf("terminal: progress on stdout: %q", stdout)
	}

	stop = throttleOnce()
	code, stdout, stderr = runCLI(t, env, "rotate", "--config", cfg, "--force")
	stop()
	if code != 0 {
		t.Fatalf("piped rotate: %d\n%s\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "\r") || strings.Contains(stderr, "rotating:") || strings.Contains(stderr, "retrying in") {
		t.Errorf("not a terminal: progress in the log: %q", stderr)
	}
}
