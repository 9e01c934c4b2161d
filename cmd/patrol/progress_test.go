package main

import (
	"fmt"
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
