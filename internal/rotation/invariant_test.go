package rotation_test

import (
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/rotation"
)

// createRoute is the emulator route of PAT creation (faults on it alone).
const createRoute = "POST /vssps/{org}/_apis/tokens/pats"

// activeIDs is the set of active managed PAT ids of cred.
func (h *harness) activeIDs(cred string) map[string]bool {
	out := map[string]bool{}
	for _, p := range h.activeManaged()[cred] {
		out[strings.ToLower(p.AuthorizationID)] = true
	}
	return out
}

// TestDeliveredPATSurvivesSameSecondCreateFailure is issue 8 §0: a run
// delivers a PAT; a second run in the same second (the fake clock does not
// move) finds PAT creation answering 503. Its create-recovery must not
// mistake the delivered PAT for the one it just failed to create, and no
// revocation may touch a PAT a sink holds.
func TestDeliveredPATSurvivesSameSecondCreateFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sinks int
		force bool
		// partial: the first run delivers to sink 0 only (sink 1 fails).
		partial bool
		// app: an entra-app-secret credential (addPassword answers 503).
		app bool
	}{
		{name: "forced", sinks: 1, force: true},
		{name: "after a partial delivery", sinks: 2, partial: true},
		{name: "app-secret/forced", sinks: 1, force: true, app: true},
		{name: "app-secret/after a partial delivery", sinks: 2, partial: true, app: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred, route := fileCred("c", tc.sinks), createRoute
			if tc.app {
				cred, route = appCred("c", tc.sinks), addPasswordRoute
			}
			h := newHarness(t, nil, cred)
			h.maxAttempts = 1
			if tc.partial {
				h.failSink = func(_ string, i int) bool { return i == 1 }
			}
			first := h.run(tc.force, nil)
			if !tc.partial {
				mustOK(t, first)
			}
			h.failSink = nil
			delivered := h.heldIDs("c", tc.sinks)[0]
			if delivered == "" {
				t.Fatal("the first run delivered nothing")
			}
			h.emu.SetFaults(emulator.Faults{ServerErrorRate: 1, Routes: []string{route}})
			rep := h.run(tc.force, nil)
			h.emu.SetFaults(emulator.Faults{})
			t.Logf("second run: %v", rep.Err())
			if rep.Err() == nil || rep.Results[0].Reason != "create" {
				t.Fatalf("want the create to fail, got %+v", rep.Results[0])
			}
			if !h.activeIDs("c")[strings.ToLower(delivered)] {
				t.Fatalf("the PAT %s a sink holds was revoked: %v", delivered, rep.Err())
			}
			h.checkSinksWork()
			// The next run converges.
			mustOK(t, h.run(false, nil))
			h.checkSinksWork()
		})
	}
}

var _ = rotation.ActionNone
