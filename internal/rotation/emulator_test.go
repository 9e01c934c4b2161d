package rotation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
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
	// Both kinds on the engine's PAT path: PATs, and application secrets
	// (entra-app-secret: addPassword, sign-in check, removePassword).
	kinds := []struct {
		name  string
		cred  func(string, int, ...func(*config.Credential)) config.Credential
		route string // the create route, faulted in the same-second variant
	}{{"", fileCred, createRoute}, {"app-secret/", appCred, addPasswordRoute}}
	for _, k := range kinds {
		for _, v := range variants {
			for _, pt := range points {
				if v.partial && pt.step == rotation.StepRevoked {
					continue // a partial delivery revokes nothing
				}
				name := fmt.Sprintf("%s-%d", pt.step, pt.index)
				if v.name != "" {
					name = v.name + "/" + name
				}
				t.Run(k.name+name, func(t *testing.T) { crashPoint(t, k.cred("c", 2), k.route, pt.step, pt.index, v.partial, v.sameSecond) })
			}
		}
	}
}

// addPasswordRoute is the emulator route of Graph's addPassword.
const addPasswordRoute = "/addPassword"

func crashPoint(t *testing.T, cred config.Credential, route string, step rotation.Step, index int, partial, sameSecond bool) {
	{
		{
			h := newHarness(t, nil, cred)
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
				h.emu.SetFaults(emulator.Faults{ServerErrorRate: 1, Routes: []string{route}})
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
