package rotation_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/metrics"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/runstate"
)

// TestRandomFaultSchedule runs hundreds of rotation runs against the emulator
// (PAT credentials and entra-app-secret credentials, whose passwords live in
// the emulator's Graph) with a fast fake clock, random API faults (5xx, sign-in pages), random sink
// failures, random crashes at any step, same-second forced runs whose PAT
// creation answers 503 (the create-recovery must not mistake an earlier PAT
// for the one it tried to create), emulator restarts from its state file
// (mid-run and between runs), and a hostile network (hostile_test.go):
// redirects to another host, 307/308 on the token and PAT endpoints, servers
// that echo the request (headers and body) into their error answers, and
// huge or endless bodies — before the request reaches the emulator or in
// place of its answer. After every run it checks that every sink holds a PAT
// that authenticates (unless it has expired while runs kept failing), that
// nothing reached the foreign host, and that no output carries a secret the
// wire carried (PATs, the password, Entra tokens, Authorization values; raw,
// Base64 or URL-encoded): the engine's and the client's logs at debug level
// in text and JSON, the report as JSON, every error, the run state file, the
// statuses and the Prometheus metrics; after each clean repair run, that no
// managed PAT exists that no sink holds and that nothing rotates twice in
// one window.
//
// The default (300 runs, 60 with -short, at most 90 s) keeps CI fast.
// PATROL_SOAK_RUNS=N is the nightly-size mode (e.g. 1000 or more): exactly N
// runs, bounded only by go test's -timeout (the test fails if it cannot
// finish them). PATROL_RANDOM_RUNS (same as the default mode, other count)
// and PATROL_RANDOM_SEED (default 1) override the defaults.
func TestRandomFaultSchedule(t *testing.T) {
	runs, seed, soak := 300, uint64(1), false
	if testing.Short() {
		runs = 60
	}
	if v, err := strconv.Atoi(os.Getenv("PATROL_RANDOM_RUNS")); err == nil {
		runs = v
	}
	if v, err := strconv.Atoi(os.Getenv("PATROL_SOAK_RUNS")); err == nil && v > 0 {
		runs, soak = v, true
	}
	if v, err := strconv.ParseUint(os.Getenv("PATROL_RANDOM_SEED"), 10, 64); err == nil {
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	h := startHarness(t, nil, true,
		fileCred("a", 2),
		fileCred("b", 3, func(c *config.Credential) { c.GracePeriod = config.Duration(12 * time.Hour) }),
		fileCred("c", 1, func(c *config.Credential) { c.RenewBefore = config.RenewBefore{Percent: 50} }),
		// Two entra-app-secret credentials on one application (which also
		// has a password of its own that patrol must never touch).
		appCred("d", 2),
		appCred("e", 1, func(c *config.Credential) { c.GracePeriod = config.Duration(12 * time.Hour) }),
	)
	h.maxAttempts = 1 // faults become failures, not retries
	h.conc = 1        // one credential at a time: the schedule is reproducible from the seed
	scan := newSecretScan(h)
	hostile := newHostileNet(scan.add)
	h.wrap = hostile.wrap
	began := time.Now()
	deadline := began.Add(90 * time.Second)
	if soak {
		deadline = began.Add(100 * 365 * 24 * time.Hour)
		if d, ok := t.Deadline(); ok {
			deadline = d.Add(-30 * time.Second)
		}
	}
	var crashes, sinkFails, failedRuns, rotations, sameSecond, restarts, hostileRuns, appRotations, appRemoved int
	i := 0
	for ; i < runs && time.Now().Before(deadline); i++ {
		force := false
		if rng.Float64() < 0.1 {
			// Same second as the previous run, forced, and PAT creation
			// fails with 503 half of the time.
			sameSecond++
			force = true
			h.emu.SetFaults(emulator.Faults{ServerErrorRate: 0.5, Routes: []string{createRoute, addPasswordRoute}, Seed: int64(rng.Uint64() >> 1)})
		} else {
			h.clk.Advance(time.Duration(rng.Int64N(int64(6 * 24 * time.Hour))))
			if rng.Float64() < 0.5 {
				h.emu.SetFaults(emulator.Faults{ServerErrorRate: 0.05, SignInPageRate: 0.02, Seed: int64(rng.Uint64() >> 1)})
			}
		}
		if rng.Float64() < 0.03 {
			restarts++
			h.restart() // between runs
		}
		if rng.Float64() < 0.25 {
			// A hostile network for this run: everywhere, or only on the
			// token and PAT endpoints.
			hostileRuns++
			var routes []string
			if rng.IntN(2) == 0 {
				routes = []string{"oauth2/v2.0/token", "tokens/pats", addPasswordRoute, "/removePassword"}
			}
			kinds := []hostileKind{hostileKinds[hostileRuns%len(hostileKinds)]}
			if rng.IntN(3) == 0 {
				kinds = hostileKinds
			}
			hostile.arm(rng.Uint64(), 0.1+0.4*rng.Float64(), kinds, routes...)
		}
		sinkFailRate := 0.0
		if rng.Float64() < 0.3 {
			sinkFailRate = 0.3
		}
		h.failSink = func(string, int) bool { return rng.Float64() < sinkFailRate }
		crashAt, restartAt := -1, -1
		if rng.Float64() < 0.25 {
			crashAt = rng.IntN(12)
		}
		if rng.Float64() < 0.05 {
			restartAt = rng.IntN(12)
		}
		step := 0
		rep := h.runLenientForce(force, func(ev rotation.HookEvent) error {
			step++
			if step == restartAt {
				restarts++
				h.restart() // mid-run: the engine's clients reconnect to the restarted emulator
			}
			if step == crashAt {
				crashes++
				return rotation.ErrCrash
			}
			return nil
		})
		h.emu.SetFaults(emulator.Faults{})
		hostile.arm(0, 0, nil)
		h.failSink = nil
		if got := hostile.reachedForeign(); len(got) > 0 {
			t.Fatalf("run %d: %d requests followed a redirect to another host, the first: %s", i, len(got), got[0])
		}
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
				if r.Kind == config.KindEntraAppSecret {
					appRotations++
				}
			}
			if r.Kind == config.KindEntraAppSecret {
				appRemoved += len(r.Revoked)
			}
		}
		scan.check(i, rep)
		h.checkSinksWorkOrExpired()

		// Every 10th run: a clean repair run, then the strong invariants.
		if i%10 == 9 {
			h.clk.Advance(2 * time.Hour) // past the orphan window
			rep := h.run(false, nil)
			mustOK(t, rep)
			scan.check(i, rep)
			// Past gracePeriod (12h): replaced PATs are revoked. A run may also
			// find a PAT newly due and rotate it, starting a new grace period.
			for k := 0; k < 3; k++ {
				h.clk.Advance(13 * time.Hour)
				rep := h.run(false, nil)
				mustOK(t, rep)
				scan.check(i, rep)
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
			rep = h.run(false, nil)
			mustOK(t, rep)
			scan.check(i, rep)
			for _, r := range rep.Results {
				if r.Action != rotation.ActionNone || len(r.Revoked) != 0 {
					t.Fatalf("run %d: rotated twice in one window: %+v", i, r)
				}
			}
		}
	}
	t.Logf("seed %d: %d runs in %s: %d crashes, %d sink failures, %d failed runs, %d rotations, %d same-second forced runs, %d emulator restarts, %d runs on a hostile network (hostile answers: %s), %d secrets scanned for",
		seed, i, time.Since(began).Round(time.Second), crashes, sinkFails, failedRuns, rotations, sameSecond, restarts, hostileRuns, hostile.counts(), scan.count())
	if soak && i < runs {
		t.Fatalf("soak mode: only %d of %d runs before go test's deadline; raise -timeout", i, runs)
	}
	if crashes == 0 || sinkFails == 0 || failedRuns == 0 || rotations == 0 || sameSecond == 0 || restarts == 0 {
		t.Fatal("the schedule did not exercise crashes, sink failures, rotations, same-second runs and restarts")
	}
	t.Logf("application secrets: %d rotations, %d passwords removed", appRotations, appRemoved)
	if appRotations == 0 || appRemoved == 0 {
		t.Fatal("the schedule did not rotate and remove application secrets")
	}
	for _, k := range hostileKinds {
		if !strings.Contains(hostile.counts(), string(k)+"=") {
			t.Fatalf("the schedule injected no %s answer (hostile answers: %s)", k, hostile.counts())
		}
	}
}

// secretScan records every secret the wire carried (every PAT the engine's
// client created, the password, Entra's tokens, every Authorization value;
// see hostileTransport.record) and checks that no output of a run carries
// one, raw or in an encoding a server or a log could give it (Base64, as in
// a Basic header; URL-encoded; JSON-escaped): the engine's and the client's
// debug logs (both in text and JSON), the report as JSON, every error, the
// run state file, the statuses (patrol status -o json) and the metrics.
type secretScan struct {
	h       *harness
	mu      sync.Mutex
	secrets map[string]bool
	log     safeBuffer
	state   *runstate.State
	path    string // the run state file
}

func newSecretScan(h *harness) *secretScan {
	s := &secretScan{h: h, secrets: map[string]bool{}, state: runstate.New(), path: filepath.Join(h.t.TempDir(), "patrol-state.json")}
	s.add(emulator.DefaultPassword)
	s.add(emulator.DefaultSPSecret)
	s.add(emulator.ManagedAppSecret)
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	both := func() *slog.Logger {
		return slog.New(slog.NewMultiHandler(slog.NewJSONHandler(&s.log, opts), slog.NewTextHandler(&s.log, opts)))
	}
	h.logger, h.clientLog = both(), both()
	h.onCreate = func(p api.PatToken) {
		if p.Token != nil {
			s.add(*p.Token)
		}
	}
	return s
}

// add records a secret (values shorter than 8 characters are not scanned
// for: they occur by chance).
func (s *secretScan) add(sec string) {
	if len(sec) < 8 {
		return
	}
	s.mu.Lock()
	s.secrets[sec] = true
	s.mu.Unlock()
}

func (s *secretScan) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.secrets)
}

func (s *secretScan) check(run int, rep rotation.Report) {
	s.h.t.Helper()
	js, err := json.Marshal(rep)
	if err != nil {
		s.h.t.Fatal(err)
	}
	out := map[string]string{"the logs": s.log.String(), "the report": string(js)}
	if err := rep.Err(); err != nil {
		out["the run's error"] = err.Error()
	}
	for _, r := range rep.Results {
		if r.Err != nil {
			out["the error of "+r.Credential] += r.Err.Error() + "\n"
		}
	}
	for k, v := range s.exports(rep) {
		out[k] = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for sec := range s.secrets {
		js, _ := json.Marshal(sec)
		forms := []string{sec, string(js[1 : len(js)-1]), url.QueryEscape(sec), url.PathEscape(sec),
			base64.StdEncoding.EncodeToString([]byte(sec)), base64.RawURLEncoding.EncodeToString([]byte(sec)),
			base64.StdEncoding.EncodeToString([]byte(":" + sec))}
		for where, text := range out {
			for _, form := range forms {
				if strings.Contains(text, form) {
					s.h.t.Fatalf("run %d: a secret (%d characters, starting %.4q) reached %s", run, len(sec), sec, where)
				}
			}
		}
	}
	s.log.Reset()
}

// exports is what patrol rotate writes after a run besides the report: the
// run state file, the statuses and the metrics (as cmd/patrol's runReport
// computes them, from an observation after the run).
func (s *secretScan) exports(rep rotation.Report) map[string]string {
	h := s.h
	now := h.clk.Now()
	s.state.Record(rep, now)
	if err := s.state.Save(s.path); err != nil {
		h.t.Fatal(err)
	}
	stateFile, err := os.ReadFile(s.path)
	if err != nil {
		h.t.Fatal(err)
	}
	wrap := h.wrap
	h.wrap = nil // observe on a sane network
	e := h.engine(nil)
	h.wrap = wrap
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := e.Observe(ctx)
	if err != nil {
		h.t.Fatalf("observe after the run: %v", err)
	}
	var sts []rotation.CredentialStatus
	for _, it := range rotation.MakePlan(in).Items {
		sts = append(sts, rotation.Assess(now, it, s.state.Last(it.Credential)))
	}
	stsJSON, err := json.Marshal(sts)
	if err != nil {
		h.t.Fatal(err)
	}
	rec := metrics.New()
	rec.Set(metrics.Snapshot{At: now, RunDuration: time.Second, RunSuccess: rep.Err() == nil, Credentials: sts, State: s.state})
	text, err := rec.Text()
	if err != nil {
		h.t.Fatal(err)
	}
	return map[string]string{"the run state file": string(stateFile), "the statuses": string(stsJSON), "the metrics": string(text)}
}

// runLenientForce is run that tolerates plan failures (the listing may be faulted).
func (h *harness) runLenientForce(force bool, hook func(rotation.HookEvent) error) rotation.Report {
	e := h.engine(hook)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := e.Plan(ctx, force)
	if err != nil {
		var le *rotation.ListError
		if !errors.As(err, &le) {
			h.t.Fatalf("plan failed with a non-list error: %v", err)
		}
		return rotation.Report{Results: []rotation.Result{{Credential: "*", Err: err}}}
	}
	return e.Apply(ctx, p)
}
