package rotation_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/graph"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
)

// The rotation test harness: an emulator, file sinks that can fail, a settable clock, and checks of the invariants.

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
	// wrap, when set, wraps the transport of the engine's clients (Entra
	// and Azure DevOps; the harness's own checks never go through it).
	wrap func(http.RoundTripper) http.RoundTripper
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

// appCred is an entra-app-secret credential on the emulator's managed
// application (emulator.ManagedAppClientID, managed through Graph by its
// owner emulator.DefaultUser) with n raw file sinks.
func appCred(name string, n int, mut ...func(*config.Credential)) config.Credential {
	c := fileCred(name, n, mut...)
	c.Kind, c.Scopes = config.KindEntraAppSecret, nil
	c.Application = config.Application{AppID: emulator.ManagedAppClientID}
	return c
}

func isApp(c config.Credential) bool { return c.Kind == config.KindEntraAppSecret }

// appAccount is the account of every appCred.
var appAccount = rotation.Account{Application: "appId " + emulator.ManagedAppClientID}

// appSecrets is the Graph-backed client of the managed application's
// passwords, on hc.
func (h *harness) appSecrets(hc *http.Client) *rotation.AppSecretClient {
	// The technical user (an owner of the application; delegated Graph):
	// the seed's client secrets expire after two years, which the fast
	// clock of the random schedule passes.
	ts, err := entra.New(entra.Options{Method: entra.MethodROPC, AuthorityHost: h.emu.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultClientID, Username: emulator.DefaultUser, Password: emulator.DefaultPassword, Scope: graph.Scope,
		DisableInstanceDiscovery: true, HTTPClient: hc})
	if err != nil {
		h.t.Fatal(err)
	}
	gc, err := graph.New(graph.Options{BaseURL: h.emu.GraphURL(), Token: entra.ReuseTokenSource(ts, 0), HTTPClient: hc})
	if err != nil {
		h.t.Fatal(err)
	}
	return &rotation.AppSecretClient{Graph: gc, App: graph.AppRef{AppID: emulator.ManagedAppClientID},
		SignIn: rotation.ClientCredentialsSignIn(entra.Options{AuthorityHost: h.emu.AuthorityHost(), TenantID: emulator.DefaultTenantID,
			DisableInstanceDiscovery: true, HTTPClient: hc}),
		VerifyWithin: 2 * time.Second, VerifyEvery: 200 * time.Millisecond}
}

// appPasswords are the managed application's passwords (on a sane network).
func (h *harness) appPasswords() []graph.PasswordCredential {
	h.t.Helper()
	var out []graph.PasswordCredential
	c := h.appSecrets(h.emu.HTTPClient())
	app, err := c.Graph.App(context.Background(), c.App)
	if err != nil {
		h.t.Fatal(err)
	}
	out = append(out, app.PasswordCredentials...)
	return out
}

// verifySecret checks that secret authenticates for credential c: a PAT
// with connectionData, an application secret by signing in.
func (h *harness) verifySecret(c config.Credential, cl *devops.Client, secret string) error {
	if isApp(c) {
		return rotation.ClientCredentialsSignIn(entra.Options{AuthorityHost: h.emu.AuthorityHost(), TenantID: emulator.DefaultTenantID,
			DisableInstanceDiscovery: true, HTTPClient: h.emu.HTTPClient()})(context.Background(), emulator.ManagedAppClientID, secret)
	}
	_, err := cl.VerifyPAT(context.Background(), secret)
	return err
}

func (h *harness) sinkPath(cred string, i int) string {
	return filepath.Join(h.dir, fmt.Sprintf("%s-%d.pat", cred, i))
}

func (h *harness) client() *devops.Client {
	c, _ := h.clientAndTokens(nil)
	return c
}

// clientAndTokens builds an Azure DevOps client and its token source on the
// emulator's HTTP client, its transport wrapped by wrap when not nil.
func (h *harness) clientAndTokens(wrap func(http.RoundTripper) http.RoundTripper) (*devops.Client, entra.TokenSource) {
	hc := h.emu.HTTPClient()
	if wrap != nil {
		c := *hc
		c.Transport = wrap(hc.Transport)
		hc = &c
	}
	src, err := entra.New(entra.Options{
		Method: entra.MethodROPC, AuthorityHost: h.emu.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultClientID, Username: emulator.DefaultUser, Password: emulator.DefaultPassword,
		DisableInstanceDiscovery: true, HTTPClient: hc,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	c, err := devops.New(devops.Options{
		Organization: emulator.DefaultOrg, VSSPSURL: h.emu.VSSPSURL(), DevOpsURL: h.emu.DevOpsURL(),
		Token: entra.ReuseTokenSource(src, 0), HTTPClient: hc, Logger: cmp.Or(h.clientLog, slog.New(slog.DiscardHandler)),
		MaxElapsed: 30 * time.Second, MaxAttempts: h.maxAttempts, Now: h.clk.Now,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return c, entra.ReuseTokenSource(src, 0)
}

func (h *harness) engine(hook func(rotation.HookEvent) error) *rotation.Engine {
	cl, ts := h.clientAndTokens(h.wrap)
	var pats rotation.PATClient = cl
	if h.onCreate != nil {
		pats = recordingPATs{PATClient: cl, seen: h.onCreate}
	}
	e := &rotation.Engine{PATs: pats, Tokens: ts, Now: h.clk.Now, Concurrency: h.conc, OrphanAge: h.orphan, Hook: hook, Logger: h.logger}
	for _, c := range h.creds {
		tg := rotation.Target{Credential: c}
		if isApp(c) {
			tg.Account = appAccount
			if e.Accounts == nil {
				hc := h.emu.HTTPClient()
				if h.wrap != nil {
					c := *hc
					c.Transport = h.wrap(hc.Transport)
					hc = &c
				}
				var app rotation.PATClient = h.appSecrets(hc)
				if h.onCreate != nil {
					app = recordingPATs{PATClient: app, seen: h.onCreate}
				}
				e.Accounts = map[rotation.Account]rotation.PATClient{appAccount: app}
			}
		}
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
	// The managed application's passwords, as the engine lists them.
	for _, c := range h.creds {
		if !isApp(c) {
			continue
		}
		seedKept := false
		for _, p := range h.appPasswords() {
			seedKept = seedKept || p.DisplayName == "seed-0"
			if c, _, ok := rotation.ParseDisplayName(p.DisplayName); ok {
				out[c] = append(out[c], api.PatToken{AuthorizationID: p.KeyID, DisplayName: p.DisplayName, ValidFrom: p.StartDateTime, ValidTo: p.EndDateTime})
			}
		}
		if !seedKept {
			h.t.Fatal("invariant broken: the application's own password (seed-0, not patrol's) was removed")
		}
		break
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
			if err := h.verifySecret(c, cl, string(b)); err != nil {
				h.t.Fatalf("invariant broken: %s sink %d holds a secret that does not authenticate: %v", c.Name, i, err)
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
			if err := h.verifySecret(c, cl, string(b)); err != nil {
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
