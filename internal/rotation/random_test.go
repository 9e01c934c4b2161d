package rotation_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/rotation"
)

// TestRandomFaultSchedule runs hundreds of rotation runs against the emulator
// with a fast fake clock, random API faults (5xx, sign-in pages), random sink
// failures and random crashes at any step, and checks after every run that
// every sink holds a PAT that authenticates (unless it has expired while
// runs kept failing) and, after each clean repair run, that no managed PAT
// exists that no sink holds and that nothing rotates twice in one window.
//
// PATROL_RANDOM_RUNS and PATROL_RANDOM_SEED override the defaults (300 runs, seed 1).
func TestRandomFaultSchedule(t *testing.T) {
	runs, seed := 300, uint64(1)
	if testing.Short() {
		runs = 60
	}
	if v, err := strconv.Atoi(os.Getenv("PATROL_RANDOM_RUNS")); err == nil {
		runs = v
	}
	if v, err := strconv.ParseUint(os.Getenv("PATROL_RANDOM_SEED"), 10, 64); err == nil {
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	h := newHarness(t, nil,
		fileCred("a", 2),
		fileCred("b", 3, func(c *config.Credential) { c.GracePeriod = config.Duration(12 * time.Hour) }),
		fileCred("c", 1, func(c *config.Credential) { c.RenewBefore = config.RenewBefore{Percent: 50} }),
	)
	h.maxAttempts = 1 // faults become failures, not retries
	h.conc = 1        // one credential at a time: the schedule is reproducible from the seed
	deadline := time.Now().Add(90 * time.Second)
	var crashes, sinkFails, failedRuns, rotations int
	for i := 0; i < runs && time.Now().Before(deadline); i++ {
		h.clk.Advance(time.Duration(rng.Int64N(int64(6 * 24 * time.Hour))))
		faulty := rng.Float64() < 0.5
		if faulty {
			h.emu.SetFaults(emulator.Faults{ServerErrorRate: 0.05, SignInPageRate: 0.02, Seed: int64(rng.Uint64() >> 1)})
		}
		sinkFailRate := 0.0
		if rng.Float64() < 0.3 {
			sinkFailRate = 0.3
		}
		h.failSink = func(string, int) bool { return rng.Float64() < sinkFailRate }
		crashAt := -1
		if rng.Float64() < 0.25 {
			crashAt = rng.IntN(12)
		}
		step := 0
		rep := h.runLenient(func(ev rotation.HookEvent) error {
			step++
			if step == crashAt {
				crashes++
				return rotation.ErrCrash
			}
			return nil
		})
		h.emu.SetFaults(emulator.Faults{})
		h.failSink = nil
		if rep.Err() != nil {
			failedRuns++
		}
		for _, r := range rep.Results {
			for _, s := range r.Sinks {
				if s.Error != "" {
					sinkFails++
				}
			}
			if r.Err == nil && (r.Action == rotation.ActionCreate || r.Action == rotation.ActionRenew) {
				rotations++
			}
		}
		h.checkSinksWorkOrExpired()

		// Every 10th run: a clean repair run, then the strong invariants.
		if i%10 == 9 {
			h.clk.Advance(2 * time.Hour) // past the orphan window
			mustOK(t, h.run(false, nil))
			// Past gracePeriod (12h): replaced PATs are revoked. A run may also
			// find a PAT newly due and rotate it, starting a new grace period.
			for k := 0; k < 3; k++ {
				h.clk.Advance(13 * time.Hour)
				rep := h.run(false, nil)
				mustOK(t, rep)
				kept := 0
				for _, r := range rep.Results {
					kept += len(r.Kept)
				}
				if kept == 0 {
					break
				}
			}
			h.checkSinksWork()
			h.checkNoUnheld()
			rep := h.run(false, nil)
			mustOK(t, rep)
			for _, r := range rep.Results {
				if r.Action != rotation.ActionNone || len(r.Revoked) != 0 {
					t.Fatalf("run %d: rotated twice in one window: %+v", i, r)
				}
			}
		}
	}
	t.Logf("seed %d: %d crashes, %d sink failures, %d failed runs, %d rotations", seed, crashes, sinkFails, failedRuns, rotations)
	if crashes == 0 || sinkFails == 0 || failedRuns == 0 || rotations == 0 {
		t.Fatal("the schedule did not exercise crashes, sink failures and rotations")
	}
}

// runLenient is run that tolerates plan failures (the listing may be faulted).
func (h *harness) runLenient(hook func(rotation.HookEvent) error) rotation.Report {
	e := h.engine(hook)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := e.Plan(ctx, false)
	if err != nil {
		var le *rotation.ListError
		if !errors.As(err, &le) {
			h.t.Fatalf("plan failed with a non-list error: %v", err)
		}
		return rotation.Report{Results: []rotation.Result{{Credential: "*", Err: err}}}
	}
	return e.Apply(ctx, p)
}
