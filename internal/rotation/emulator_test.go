package rotation_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
)

// clock is a settable fake clock shared by the emulator and the engine.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) {
	c.ns.Add(int64(d))
}

// flaky is a test sink: a raw file sink whose Write can be made to fail.
type flaky struct {
	*sink.FileSink
	path     string
	fail     func() bool
	failRead func() bool
	// failAfter makes Write fail after the content was written (e.g. the
	// consumer took the secret but recording it failed).
	failAfter func() bool
	// unknown makes Read report content of unknown origin (a delivery whose
	// outcome was lost).
	unknown func() bool
}

func (f *flaky) Read(ctx context.Context) (sink.Held, error) {
	if f.failRead != nil && f.failRead() {
		return sink.Held{}, errors.New("injected read failure")
	}
	if f.unknown != nil && f.unknown() {
		return sink.Held{Present: true}, nil
	}
	return f.FileSink.Read(ctx)
}

func (f *flaky) Write(ctx context.Context, secret string, meta sink.Meta) error {
	if f.fail != nil && f.fail() {
		return errors.New("injected sink failure")
	}
	if err := f.FileSink.Write(ctx, secret, meta); err != nil {
		return err
	}
	if f.failAfter != nil && f.failAfter() {
		return errors.New("injected failure after the content was written")
	}
	return nil
}

// harness is one emulator, a fake clock and a config; run() is one CronJob run.
type harness struct {
	t     testing.TB
	emu   *emulator.Emulator
	clk   *clock
	dir   string
	creds []config.Credential
	// failSink decides per (credential, sink index) whether a write fails.
	failSink func(cred string, i int) bool
	// failRead decides per (credential, sink index) whether a read fails.
	failRead func(cred string, i int) bool
	// failAfterWrite decides per (credential, sink index) whether a write
	// fails after the content was written.
	failAfterWrite func(cred string, i int) bool
	// readUnknown decides per (credential, sink index) whether Read reports
	// content of unknown origin.
	readUnknown func(cred string, i int) bool
	conc        int
	orphan      time.Duration
	// maxAttempts of the devops client (0 = its default).
	maxAttempts int
	// timeout of one run (default 2m).
	timeout time.Duration
	// logger for the engine (nil = discard).
	logger *slog.Logger
	// clientLog for the Azure DevOps client (nil = discard).
	clientLog *slog.Logger
	// stateFile of the emulator ("" = none; restart needs one).
	stateFile string
	// onCreate, when set, sees every PAT the engine's client created.
	onCreate func(api.PatToken)
}

func newHarness(t testing.TB, seed *emulator.Seed, creds ...config.Credential) *harness {
	t.Helper()
	return startHarness(t, seed, false, creds...)
}

// startHarness starts the emulator, with a state file when restartable
// (then h.restart works).
func startHarness(t testing.TB, seed *emulator.Seed, restartable bool, creds ...config.Credential) *harness {
	t.Helper()
	clk := newClock(time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC))
	h := &harness{t: t, clk: clk, dir: t.TempDir(), creds: creds, conc: 4, orphan: time.Hour}
	if restartable {
		h.stateFile = filepath.Join(t.TempDir(), "emulator-state.json")
	}
	e, err := emulator.Start(context.Background(), emulator.Options{Addr: "127.0.0.1:0", Seed: seed, Now: clk.Now, Logger: slog.New(slog.DiscardHandler), StateFile: h.stateFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.emu.Close() })
	h.emu = e
	return h
}

// restart kills the emulator and starts it again on the same address from
// its state file (same CA and keys, same PATs): clients built before keep
// working once it is back.
func (h *harness) restart() {
	h.t.Helper()
	if h.stateFile == "" {
		h.t.Fatal("restart needs a harness started with a state file")
	}
	addr := strings.TrimPrefix(h.emu.URL(), "https://")
	h.emu.Kill()
	var err error
	for i := 0; i < 50; i++ {
		var e *emulator.Emulator
		e, err = emulator.Start(context.Background(), emulator.Options{Addr: addr, Now: h.clk.Now, Logger: slog.New(slog.DiscardHandler), StateFile: h.stateFile})
		if err == nil {
			h.emu = e
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("restart the emulator on %s: %v", addr, err)
}

// recordingPATs passes every PAT the client creates to seen.
type recordingPATs struct {
	rotation.PATClient
	seen func(api.PatToken)
}

func (r recordingPATs) CreatePAT(ctx context.Context, req api.PatTokenCreateRequest) (api.PatToken, error) {
	p, err := r.PATClient.CreatePAT(ctx, req)
	if err == nil {
		r.seen(p)
	}
	return p, err
}

// fileCred is a PAT credential with n raw file sinks.
func fileCred(name string, n int, mut ...func(*config.Credential)) config.Credential {
	c := config.Credential{Name: name, Kind: config.KindPAT, Scopes: []string{"vso.code"}, Lifetime: config.Duration(30 * 24 * time.Hour)}
	for i := 0; i < n; i++ {
		c.Sinks = append(c.Sinks, config.SinkSpec{Type: "file"})
	}
	for _, m := range mut {
		m(&c)
	}
	return c
}

func (h *harness) sinkPath(cred string, i int) string {
	return filepath.Join(h.dir, fmt.Sprintf("%s-%d.pat", cred, i))
}

func (h *harness) client() *devops.Client {
	c, _ := h.clientAndTokens()
	return c
}

func (h *harness) clientAndTokens() (*devops.Client, entra.TokenSource) {
	src, err := entra.New(entra.Options{
		Method: entra.MethodROPC, AuthorityHost: h.emu.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultClientID, Username: emulator.DefaultUser, Password: emulator.DefaultPassword,
		DisableInstanceDiscovery: true, HTTPClient: h.emu.HTTPClient(),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := devops.New(devops.Options{
		Organization: emulator.DefaultOrg, VSSPSURL: h.emu.VSSPSURL(), DevOpsURL: h.emu.DevOpsURL(),
		Token: entra.ReuseTokenSource(src, 0), HTTPClient: h.emu.HTTPClient(), Logger: cmp.Or(h.clientLog, slog.New(slog.DiscardHandler)),
		MaxElapsed: 30 * time.Second, MaxAttempts: h.maxAttempts, Now: h.clk.Now,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return c, entra.ReuseTokenSource(src, 0)
}

func (h *harness) engine(hook func(rotation.HookEvent) error) *rotation.Engine {
	cl, ts := h.clientAndTokens()
	var pats rotation.PATClient = cl
	if h.onCreate != nil {
		pats = recordingPATs{PATClient: cl, seen: h.onCreate}
	}
	e := &rotation.Engine{PATs: pats, Tokens: ts, Now: h.clk.Now, Concurrency: h.conc, OrphanAge: h.orphan, Hook: hook, Logger: h.logger}
	for _, c := range h.creds {
		tg := rotation.Target{Credential: c}
		for i := range c.Sinks {
			fs, err := sink.NewFile(sink.FileParams{Type: "file", Path: h.sinkPath(c.Name, i), Format: sink.FormatRaw, Mode: "0600"}, h.clk.Now)
			if err != nil {
				h.t.Fatal(err)
			}
			name, idx := c.Name, i
			tg.Sinks = append(tg.Sinks, &flaky{FileSink: fs, path: h.sinkPath(c.Name, i), fail: func() bool {
				return h.failSink != nil && h.failSink(name, idx)
			}, failRead: func() bool {
				return h.failRead != nil && h.failRead(name, idx)
			}, failAfter: func() bool {
				return h.failAfterWrite != nil && h.failAfterWrite(name, idx)
			}, unknown: func() bool {
				return h.readUnknown != nil && h.readUnknown(name, idx)
			}})
		}
		e.Targets = append(e.Targets, tg)
	}
	return e
}

// run is one rotation run (plan + apply).
func (h *harness) run(force bool, hook func(rotation.HookEvent) error) rotation.Report {
	h.t.Helper()
	e := h.engine(hook)
	timeout := h.timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	p, err := e.Plan(ctx, force)
	if err != nil {
		h.t.Fatalf("plan: %v", err)
	}
	return e.Apply(ctx, p)
}

// activeManaged lists the active managed PATs per credential.
func (h *harness) activeManaged() map[string][]api.PatToken {
	out := map[string][]api.PatToken{}
	for p, err := range h.client().ListPATs(context.Background(), devops.ListOptions{Filter: api.FilterActive}) {
		if err != nil {
			h.t.Fatal(err)
		}
		if c, _, ok := rotation.ParseDisplayName(p.DisplayName); ok {
			out[c] = append(out[c], p)
		}
	}
	return out
}

// heldIDs returns the authorizationIds the sinks of cred hold (from metadata).
func (h *harness) heldIDs(cred string, n int) []string {
	var ids []string
	for i := 0; i < n; i++ {
		b, err := os.ReadFile(h.sinkPath(cred, i) + ".meta.json")
		if err != nil {
			ids = append(ids, "")
			continue
		}
		var m struct{ AuthorizationID string }
		_ = json.Unmarshal(b, &m)
		ids = append(ids, m.AuthorizationID)
	}
	return ids
}

// checkSinksWork asserts every sink that holds a secret holds one that authenticates.
func (h *harness) checkSinksWork() {
	h.t.Helper()
	cl := h.client()
	for _, c := range h.creds {
		for i := range c.Sinks {
			b, err := os.ReadFile(h.sinkPath(c.Name, i))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				h.t.Fatal(err)
			}
			if _, err := cl.VerifyPAT(context.Background(), string(b)); err != nil {
				h.t.Fatalf("invariant broken: %s sink %d holds a PAT that does not authenticate: %v", c.Name, i, err)
			}
		}
	}
}

// checkSinksWorkOrExpired is checkSinksWork tolerating PATs that expired
// (while failing runs let time pass) — they are stale, not broken.
func (h *harness) checkSinksWorkOrExpired() {
	h.t.Helper()
	cl := h.client()
	now := h.clk.Now()
	for _, c := range h.creds {
		for i := range c.Sinks {
			b, err := os.ReadFile(h.sinkPath(c.Name, i))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				h.t.Fatal(err)
			}
			if _, err := cl.VerifyPAT(context.Background(), string(b)); err != nil {
				var m struct{ ValidTo time.Time }
				mb, _ := os.ReadFile(h.sinkPath(c.Name, i) + ".meta.json")
				_ = json.Unmarshal(mb, &m)
				if m.ValidTo.IsZero() || now.Before(m.ValidTo) {
					h.t.Fatalf("invariant broken: %s sink %d holds an unexpired PAT that does not authenticate: %v", c.Name, i, err)
				}
			}
		}
	}
}

// checkNoUnheld asserts no active managed PAT exists that no sink holds.
func (h *harness) checkNoUnheld() {
	h.t.Helper()
	act := h.activeManaged()
	for _, c := range h.creds {
		held := map[string]bool{}
		for _, id := range h.heldIDs(c.Name, len(c.Sinks)) {
			held[id] = true
		}
		for _, p := range act[c.Name] {
			if !held[p.AuthorizationID] {
				for _, q := range act[c.Name] {
					h.t.Logf("active %s %s from %s to %s", q.AuthorizationID, q.DisplayName, q.ValidFrom, q.ValidTo)
				}
				h.t.Logf("now %s", h.clk.Now())
				h.t.Fatalf("invariant broken: managed PAT %s (%s) of %s is active but no sink holds it (held %v)", p.AuthorizationID, p.DisplayName, c.Name, h.heldIDs(c.Name, len(c.Sinks)))
			}
		}
	}
}

func mustOK(t testing.TB, rep rotation.Report) {
	t.Helper()
	if err := rep.Err(); err != nil {
		t.Fatalf("run failed: %v", err)
	}
}

func actions(rep rotation.Report) string {
	var s []string
	for _, r := range rep.Results {
		s = append(s, r.Credential+"="+string(r.Action))
	}
	return strings.Join(s, " ")
}

func TestEmulatorLifecycle(t *testing.T) {
	h := newHarness(t, nil, fileCred("agents", 2), fileCred("feed", 1, func(c *config.Credential) { c.RenewBefore = config.RenewBefore{Duration: 5 * 24 * time.Hour} }))

	// First run: create.
	rep := h.run(false, nil)
	mustOK(t, rep)
	if got := actions(rep); got != "agents=create feed=create" {
		t.Fatalf("first run: %s", got)
	}
	h.checkSinksWork()
	h.checkNoUnheld()
	first := h.heldIDs("agents", 2)
	if first[0] == "" || first[0] != first[1] {
		t.Fatalf("both sinks should hold the same new PAT: %v", first)
	}
	st, err := os.Stat(h.sinkPath("agents", 0))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("sink file mode: %v %v", st.Mode(), err)
	}

	// Idempotent: no second rotation in the same window.
	h.clk.Advance(time.Hour)
	rep = h.run(false, nil)
	mustOK(t, rep)
	if got := actions(rep); got != "agents=none feed=none" {
		t.Fatalf("second run: %s", got)
	}
	if ids := h.heldIDs("agents", 2); ids[0] != first[0] {
		t.Fatal("rotated twice in one window")
	}

	// 21 days later agents (1/3 of 30d = 10d) is due, feed (5d) is not.
	h.clk.Advance(21 * 24 * time.Hour)
	rep = h.run(false, nil)
	mustOK(t, rep)
	if got := actions(rep); got != "agents=renew feed=none" {
		t.Fatalf("third run: %s", got)
	}
	if len(rep.Results[0].Revoked) != 1 || rep.Results[0].Revoked[0] != first[0] {
		t.Fatalf("old PAT not revoked: %+v", rep.Results[0])
	}
	h.checkSinksWork()
	h.checkNoUnheld()
	if _, err := h.client().VerifyPAT(context.Background(), mustRead(t, h.sinkPath("agents", 0))); err != nil {
		t.Fatal(err)
	}

	// --force renews everything.
	rep = h.run(true, nil)
	mustOK(t, rep)
	if got := actions(rep); got != "agents=renew feed=renew" {
		t.Fatalf("forced run: %s", got)
	}
	h.checkSinksWork()
	h.checkNoUnheld()
}

func mustRead(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEmulatorCrashPoints kills the run after every step of a renewal, runs
// again (after the orphan window), and checks the invariants. Variants:
// "partial" — sink 1's write fails in the crashed run (a partial delivery);
// "same-second" — before the repair, a run in the same second (the clock
// does not move) finds PAT creation answering 503, so its create-recovery
// looks for the PAT it tried to create among PATs created that second.
func TestEmulatorCrashPoints(t *testing.T) {
	type point struct {
		step  rotation.Step
		index int
	}
	points := []point{{rotation.StepCreated, 0}, {rotation.StepVerified, 0}, {rotation.StepSinkWritten, 0}, {rotation.StepSinkWritten, 1}, {rotation.StepDelivered, 0}, {rotation.StepRevoked, 0}}
	variants := []struct {
		name                string
		partial, sameSecond bool
	}{{"", false, false}, {"partial", true, false}, {"same-second", false, true}, {"partial+same-second", true, true}}
	for _, v := range variants {
		for _, pt := range points {
			if v.partial && pt.step == rotation.StepRevoked {
				continue // a partial delivery revokes nothing
			}
			name := fmt.Sprintf("%s-%d", pt.step, pt.index)
			if v.name != "" {
				name = v.name + "/" + name
			}
			t.Run(name, func(t *testing.T) { crashPoint(t, pt.step, pt.index, v.partial, v.sameSecond) })
		}
	}
}

func crashPoint(t *testing.T, step rotation.Step, index int, partial, sameSecond bool) {
	{
		{
			h := newHarness(t, nil, fileCred("c", 2))
			mustOK(t, h.run(false, nil))
			old := h.heldIDs("c", 2)[0]
			h.clk.Advance(25 * 24 * time.Hour)
			if partial {
				h.failSink = func(_ string, i int) bool { return i == 1 }
			}
			crashed := false
			rep := h.run(false, func(ev rotation.HookEvent) error {
				if !crashed && ev.Step == step && ev.Index == index {
					crashed = true
					return rotation.ErrCrash
				}
				return nil
			})
			h.failSink = nil
			if !crashed || rep.Err() == nil {
				t.Fatalf("crash not injected (crashed=%v err=%v)", crashed, rep.Err())
			}
			// Right after the crash every sink still holds a working PAT.
			h.checkSinksWork()
			if sameSecond {
				h.emu.SetFaults(emulator.Faults{ServerErrorRate: 1, Routes: []string{createRoute}})
				h.maxAttempts = 1
				rep := h.run(true, nil) // rotate --force, in the same second
				h.maxAttempts = 0
				h.emu.SetFaults(emulator.Faults{})
				if rep.Err() == nil {
					t.Fatalf("the same-second run should fail to create: %+v", rep.Results[0])
				}
				h.checkSinksWork() // no PAT a sink holds was revoked
			}
			// The follow-up run (after the orphan window) repairs everything.
			h.clk.Advance(2 * time.Hour)
			rep = h.run(false, nil)
			mustOK(t, rep)
			h.checkSinksWork()
			h.checkNoUnheld()
			ids := h.heldIDs("c", 2)
			if ids[0] != ids[1] || ids[0] == old {
				t.Fatalf("after repair sinks hold %v (old %s)", ids, old)
			}
			// And a third run changes nothing.
			rep = h.run(false, nil)
			mustOK(t, rep)
			if rep.Results[0].Action != rotation.ActionNone || len(rep.Results[0].Revoked) != 0 {
				t.Fatalf("third run not idle: %+v", rep.Results[0])
			}
		}
	}
}

func TestEmulatorSinkFailures(t *testing.T) {
	t.Run("all sinks fail: new PAT revoked, old kept", func(t *testing.T) {
		h := newHarness(t, nil, fileCred("c", 2))
		mustOK(t, h.run(false, nil))
		old := h.heldIDs("c", 2)
		h.clk.Advance(25 * 24 * time.Hour)
		h.failSink = func(string, int) bool { return true }
		rep := h.run(false, nil)
		if rep.Err() == nil || rep.Results[0].Reason != "sink" {
			t.Fatalf("want sink failure, got %+v", rep.Results[0])
		}
		h.checkSinksWork()
		h.checkNoUnheld() // the new PAT was revoked at once
		if got := h.heldIDs("c", 2); got[0] != old[0] || got[1] != old[1] {
			t.Fatalf("sinks changed: %v -> %v", old, got)
		}
	})
	t.Run("every sink fails after taking the new PAT: it is kept, not revoked", func(t *testing.T) {
		h := newHarness(t, nil, fileCred("c", 1))
		mustOK(t, h.run(false, nil))
		old := h.heldIDs("c", 1)[0]
		h.clk.Advance(25 * 24 * time.Hour)
		h.failAfterWrite = func(string, int) bool { return true }
		rep := h.run(false, nil)
		if rep.Err() == nil || rep.Results[0].Reason != "sink" || !strings.Contains(rep.Err().Error(), "kept") {
			t.Fatalf("want a sink failure that keeps the new PAT, got %+v / %v", rep.Results[0], rep.Err())
		}
		if got := h.heldIDs("c", 1)[0]; got == old {
			t.Fatalf("the sink should hold the new PAT, still holds %s", old)
		}
		h.checkSinksWork() // the PAT the sink holds was not revoked
		h.failAfterWrite = nil
		h.clk.Advance(2 * time.Hour)
		mustOK(t, h.run(false, nil))
		h.checkSinksWork()
		h.checkNoUnheld() // the replaced PAT is cleaned up once no sink holds it
	})
	t.Run("a failed sink whose outcome is unknown: new PAT kept, next run converges", func(t *testing.T) {
		h := newHarness(t, nil, fileCred("c", 1))
		mustOK(t, h.run(false, nil))
		h.clk.Advance(25 * 24 * time.Hour)
		var failed atomic.Bool
		h.failSink = func(string, int) bool { failed.Store(true); return true }
		// Only after the failed write does the sink report unknown content.
		h.readUnknown = func(string, int) bool { return failed.Load() }
		rep := h.run(false, nil)
		if rep.Err() == nil || !strings.Contains(rep.Err().Error(), "unknown origin") {
			t.Fatalf("want the new PAT kept because of unknown content, got %v", rep.Err())
		}
		id := rep.Results[0].AuthorizationID
		found := false
		for _, p := range h.activeManaged()["c"] {
			found = found || strings.EqualFold(p.AuthorizationID, id)
		}
		if !found {
			t.Fatalf("new PAT %s was revoked although the sink may hold it", id)
		}
		h.failSink, h.readUnknown = nil, nil
		h.clk.Advance(2 * time.Hour)
		mustOK(t, h.run(false, nil))
		h.checkSinksWork()
		h.checkNoUnheld()
	})
	t.Run("one sink fails: new kept, old kept, next run converges", func(t *testing.T) {
		h := newHarness(t, nil, fileCred("c", 2))
		mustOK(t, h.run(false, nil))
		old := h.heldIDs("c", 2)[0]
		h.clk.Advance(25 * 24 * time.Hour)
		h.failSink = func(_ string, i int) bool { return i == 1 }
		rep := h.run(false, nil)
		if rep.Err() == nil || errkind.Of(rep.Err()) != errkind.Partial {
			t.Fatalf("want partial failure: %v", rep.Err())
		}
		ids := h.heldIDs("c", 2)
		if ids[0] == old || ids[1] != old {
			t.Fatalf("want sink0 new, sink1 old; got %v (old %s)", ids, old)
		}
		h.checkSinksWork()
		h.checkNoUnheld() // both PATs are held by some sink
		h.failSink = nil
		h.clk.Advance(time.Hour)
		rep = h.run(false, nil)
		mustOK(t, rep)
		if rep.Results[0].Action != rotation.ActionRenew {
			t.Fatalf("drift not repaired: %+v", rep.Results[0])
		}
		if len(rep.Results[0].Revoked) != 2 {
			t.Fatalf("want both previous PATs revoked: %+v", rep.Results[0])
		}
		h.checkSinksWork()
		h.checkNoUnheld()
	})
}

func TestEmulatorGracePeriod(t *testing.T) {
	h := newHarness(t, nil, fileCred("c", 1, func(c *config.Credential) { c.GracePeriod = config.Duration(6 * time.Hour) }))
	mustOK(t, h.run(false, nil))
	old := h.heldIDs("c", 1)[0]
	h.clk.Advance(25 * 24 * time.Hour)
	rep := h.run(false, nil)
	mustOK(t, rep)
	if len(rep.Results[0].Kept) != 1 || rep.Results[0].Kept[0] != old || len(rep.Results[0].Revoked) != 0 {
		t.Fatalf("grace: %+v", rep.Results[0])
	}
	if _, err := h.client().GetPAT(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(5 * time.Hour)
	rep = h.run(false, nil)
	mustOK(t, rep)
	if len(rep.Results[0].Revoked) != 0 {
		t.Fatalf("revoked before grace ended: %+v", rep.Results[0])
	}
	h.clk.Advance(2 * time.Hour)
	rep = h.run(false, nil)
	mustOK(t, rep)
	if len(rep.Results[0].Revoked) != 1 || rep.Results[0].Revoked[0] != old || rep.Results[0].Action != rotation.ActionNone {
		t.Fatalf("grace over: %+v", rep.Results[0])
	}
	h.checkNoUnheld()
}

func TestEmulatorPolicies(t *testing.T) {
	seed := emulator.DefaultSeed()
	for i := range seed.Orgs {
		if seed.Orgs[i].Name == emulator.DefaultOrg {
			seed.Orgs[i].Policy.MaxLifespanDays = 7
			seed.Orgs[i].Policy.BlockFullScope = true
			seed.Orgs[i].Policy.BlockGlobal = true
		}
	}
	h := newHarness(t, &seed,
		fileCred("clamped", 1),
		fileCred("full", 1, func(c *config.Credential) { c.Scopes = []string{"app_token"}; c.AllowFullAccess = true }),
		fileCred("global", 1, func(c *config.Credential) { c.AllOrgs = true }),
	)
	rep := h.run(false, nil)
	err := rep.Err()
	if errkind.Of(err) != errkind.Partial {
		t.Fatalf("want partial (one policy failure), got %v", err)
	}
	cl, full := rep.Results[0], rep.Results[1]
	if cl.Err != nil || !cl.Clamped {
		t.Fatalf("clamped credential: %+v", cl)
	}
	if full.Err == nil || full.Reason != "policy" || !strings.Contains(full.Error, "fullScopePatPolicyViolation") && !strings.Contains(strings.ToLower(full.Error), "full") {
		t.Fatalf("full-scope credential: %+v", full)
	}
	if errkind.Of(full.Err) != errkind.Policy {
		t.Fatalf("kind %v", errkind.Of(full.Err))
	}
	if g := rep.Results[2]; g.Err == nil || g.Reason != "policy" || !strings.Contains(strings.ToLower(g.Error), "global") {
		t.Fatalf("global credential: %+v", g)
	}
	// The clamped 7d PAT is due after 7 - 7/3 days, not on every run.
	h.clk.Advance(2 * 24 * time.Hour)
	rep = h.run(false, nil)
	if rep.Results[0].Action != rotation.ActionNone {
		t.Fatalf("clamped PAT renewed too early: %+v", rep.Results[0])
	}
	h.clk.Advance(3 * 24 * time.Hour)
	rep = h.run(false, nil)
	if rep.Results[0].Action != rotation.ActionRenew || rep.Results[0].Err != nil {
		t.Fatalf("clamped PAT not renewed on its shortened schedule: %+v", rep.Results[0])
	}
	h.creds = h.creds[:1]
	h.checkSinksWork()
	h.checkNoUnheld()
}

func TestEmulatorAllFailKind(t *testing.T) {
	seed := emulator.DefaultSeed()
	for i := range seed.Orgs {
		if seed.Orgs[i].Name == emulator.DefaultOrg {
			seed.Orgs[i].Policy.RestrictCreation = true
		}
	}
	h := newHarness(t, &seed, fileCred("a", 1), fileCred("b", 1))
	rep := h.run(false, nil)
	if k := errkind.Of(rep.Err()); k != errkind.Policy {
		t.Fatalf("all failed with policy: want Policy kind, got %v (%v)", k, rep.Err())
	}
	if errkind.Of(rep.Err()).ExitCode() != 4 {
		t.Fatal("exit code")
	}
}

// TestEmulatorConcurrent runs many credentials concurrently under -race.
func TestEmulatorConcurrent(t *testing.T) {
	var creds []config.Credential
	for i := 0; i < 12; i++ {
		creds = append(creds, fileCred(fmt.Sprintf("c%02d", i), 2))
	}
	h := newHarness(t, nil, creds...)
	h.conc = 6
	mustOK(t, h.run(false, nil))
	h.checkSinksWork()
	h.checkNoUnheld()
}

func TestEmulatorEntraToken(t *testing.T) {
	c := config.Credential{Name: "bearer", Kind: config.KindEntraToken, Sinks: []config.SinkSpec{{Type: "file"}}}
	h := newHarness(t, nil, c)
	h.clk.ns.Store(time.Now().UnixNano()) // entra computes expiry from the real clock
	rep := h.run(false, nil)
	mustOK(t, rep)
	if rep.Results[0].Action != rotation.ActionRefresh {
		t.Fatalf("first run: %+v", rep.Results[0])
	}
	tok := mustRead(t, h.sinkPath("bearer", 0))
	if strings.Count(tok, ".") != 2 {
		t.Fatal("sink does not hold a JWT")
	}
	// The written token works against Azure DevOps.
	cl, err := devops.New(devops.Options{Organization: emulator.DefaultOrg, VSSPSURL: h.emu.VSSPSURL(), DevOpsURL: h.emu.DevOpsURL(),
		Token: entra.TokenSourceFunc(func(context.Context) (entra.Token, error) {
			return entra.Token{AccessToken: tok, ExpiresOn: time.Now().Add(time.Hour)}, nil
		}), HTTPClient: h.emu.HTTPClient(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range cl.ListPATs(context.Background(), devops.ListOptions{}) {
		if err != nil {
			t.Fatalf("written token refused: %v", err)
		}
	}
	rep = h.run(false, nil)
	if rep.Results[0].Action != rotation.ActionNone {
		t.Fatalf("fresh token refreshed again: %+v", rep.Results[0])
	}
	h.clk.Advance(45 * time.Minute)
	rep = h.run(false, nil)
	mustOK(t, rep)
	if rep.Results[0].Action != rotation.ActionRefresh || mustRead(t, h.sinkPath("bearer", 0)) == tok {
		t.Fatalf("due token not refreshed: %+v", rep.Results[0])
	}
}

// TestEmulatorLogLines: one JSON line per credential, with the fields an
// operator needs, and never a secret.
func TestEmulatorLogLines(t *testing.T) {
	var buf safeBuffer
	h := newHarness(t, nil, fileCred("a", 2), fileCred("b", 1))
	h.logger = slog.New(slog.NewJSONHandler(&buf, nil))
	mustOK(t, h.run(false, nil))
	h.clk.Advance(25 * 24 * time.Hour)
	h.failSink = func(c string, i int) bool { return c == "b" }
	h.run(false, nil)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 lines (2 runs x 2 credentials), got %d:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"name", "action", "authorizationId", "sinks", "duration"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line lacks %s: %s", k, l)
			}
		}
		if m["name"] == "b" && m["action"] == "renew" && m["error"] == nil {
			t.Errorf("failure not logged: %s", l)
		}
	}
	for _, c := range []string{"a", "b"} {
		sec := mustRead(t, h.sinkPath(c, 0))
		if strings.Contains(buf.String(), sec) {
			t.Fatal("a secret reached the log")
		}
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEmulatorHeldRevokedOrGlobal: a held PAT revoked out of band, or a held
// global PAT, is replaced on the next run.
func TestEmulatorHeldRevokedOrGlobal(t *testing.T) {
	h := newHarness(t, nil, fileCred("c", 1))
	mustOK(t, h.run(false, nil))
	held := h.heldIDs("c", 1)[0]
	if err := h.client().RevokePAT(context.Background(), held); err != nil {
		t.Fatal(err)
	}
	rep := h.run(false, nil)
	mustOK(t, rep)
	if rep.Results[0].Action != rotation.ActionRenew || h.heldIDs("c", 1)[0] == held {
		t.Fatalf("revoked PAT not replaced: %+v", rep.Results[0])
	}
	h.checkSinksWork()

	// A held global PAT (allOrgs) is replaced by an organisation-scoped one.
	gp, err := h.client().CreatePAT(context.Background(), api.PatTokenCreateRequest{DisplayName: rotation.DisplayName("c", h.clk.Now()), Scope: "vso.code", ValidTo: h.clk.Now().Add(30 * 24 * time.Hour), AllOrgs: true})
	if err != nil {
		t.Fatal(err)
	}
	id, sec := gp.AuthorizationID, *gp.Token
	fs, _ := sink.NewFile(sink.FileParams{Type: "file", Path: h.sinkPath("c", 0), Format: sink.FormatRaw, Mode: "0600"}, nil)
	if err := fs.Write(context.Background(), sec, sink.Meta{Credential: "c", AuthorizationID: id, ValidTo: h.clk.Now().Add(30 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	p, ok := h.emu.PAT(id)
	if !ok || !p.IsGlobal() {
		t.Fatalf("not a global PAT: %+v", p)
	}
	h.clk.Advance(2 * time.Hour)
	rep = h.run(false, nil)
	mustOK(t, rep)
	r := rep.Results[0]
	if r.Action != rotation.ActionRenew || len(r.Revoked) == 0 || r.Revoked[0] != id {
		t.Fatalf("global PAT not replaced and revoked: %+v", r)
	}
	h.checkSinksWork()
	h.checkNoUnheld()
}

// TestEmulatorReadFailureAndUnknown: a sink that cannot be read stops that
// credential (no create, no clean-up) while others proceed; a sink holding
// content patrol did not record is replaced.
func TestEmulatorReadFailureAndUnknown(t *testing.T) {
	h := newHarness(t, nil, fileCred("a", 2), fileCred("b", 1))
	mustOK(t, h.run(false, nil))
	// Crash after create for a (leaves an orphan), then break a's second sink.
	h.clk.Advance(25 * 24 * time.Hour)
	h.run(false, func(ev rotation.HookEvent) error {
		if ev.Credential == "a" && ev.Step == rotation.StepCreated {
			return rotation.ErrCrash
		}
		return nil
	})
	h.clk.Advance(2 * time.Hour)
	h.failRead = func(c string, i int) bool { return c == "a" && i == 1 }
	// b's sink now holds something patrol did not write.
	if err := os.Remove(h.sinkPath("b", 0) + ".meta.json"); err != nil {
		t.Fatal(err)
	}
	before := len(h.activeManaged()["a"])
	rep := h.run(false, nil)
	if errkind.Of(rep.Err()) != errkind.Partial {
		t.Fatalf("want partial: %v", rep.Err())
	}
	a, b := rep.Results[0], rep.Results[1]
	if a.Action != rotation.ActionFail || a.Reason != "read" || len(a.Revoked) != 0 {
		t.Fatalf("a: %+v", a)
	}
	if after := len(h.activeManaged()["a"]); after != before {
		t.Fatalf("a's PATs changed while a sink was unreadable: %d -> %d", before, after)
	}
	if b.Action != rotation.ActionRenew || b.Err != nil {
		t.Fatalf("b (unknown content) not replaced: %+v", b)
	}
	h.failRead = nil
	mustOK(t, h.run(false, nil))
	h.checkSinksWork()
	h.checkNoUnheld()
}
