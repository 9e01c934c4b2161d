package rotation_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
)

// fakeJWT is an unsigned JWT with iat and exp (only its claims are read).
func fakeJWT(iat, exp time.Time, nonce string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." +
		enc(fmt.Appendf(nil, `{"iat":%d,"exp":%d,"n":%q}`, iat.Unix(), exp.Unix(), nonce)) + "." + enc([]byte("signature"))
}

func TestTokenNeed(t *testing.T) {
	now := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	fixed20 := config.Credential{Name: "b", RenewBefore: config.RenewBefore{Duration: 20 * time.Minute}}
	pct50 := config.Credential{Name: "b", RenewBefore: config.RenewBefore{Percent: 50}}
	def := config.Credential{Name: "b"}
	for _, tc := range []struct {
		name     string
		c        config.Credential
		iat, exp time.Time
		want     time.Duration
	}{
		{"fixed renewBefore", fixed20, now.Add(-10 * time.Minute), now.Add(50 * time.Minute), 20 * time.Minute},
		{"percentage of the lifetime from iat", pct50, now.Add(-40 * time.Minute), now.Add(20 * time.Minute), 30 * time.Minute},
		{"default one third", def, now.Add(-30 * time.Minute), now.Add(60 * time.Minute), 30 * time.Minute},
		{"renewBefore longer than the lifetime falls back to a third", fixed20, now.Add(-5 * time.Minute), now.Add(10 * time.Minute), 5 * time.Minute},
		{"floor: at least MinTokenValidity", config.Credential{RenewBefore: config.RenewBefore{Percent: 1}}, now, now.Add(time.Hour), rotation.MinTokenValidity},
		{"floor is at most half a short lifetime", config.Credential{RenewBefore: config.RenewBefore{Percent: 1}}, now, now.Add(4 * time.Minute), 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := entra.Token{AccessToken: fakeJWT(tc.iat, tc.exp, "x"), ExpiresOn: tc.exp}
			if got := rotation.TokenNeed(tc.c, tok, now); got != tc.want {
				t.Fatalf("TokenNeed = %s, want %s", got, tc.want)
			}
		})
	}
	// Not a JWT: the remaining validity is taken as the lifetime.
	opaque := entra.Token{AccessToken: "opaque", ExpiresOn: now.Add(90 * time.Minute)}
	if got := rotation.TokenNeed(fixed20, opaque, now); got != 20*time.Minute {
		t.Fatalf("opaque token: %s", got)
	}
}

// tokenEngine is an engine with one entra-token credential writing to a file.
func tokenEngine(t *testing.T, c config.Credential, ts entra.TokenSource, now func() time.Time) (*rotation.Engine, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bearer")
	fs, err := sink.NewFile(sink.FileParams{Type: "file", Path: path, Format: sink.FormatRaw, Mode: "0600"}, now)
	if err != nil {
		t.Fatal(err)
	}
	return &rotation.Engine{Tokens: ts, Now: now, Targets: []rotation.Target{{Credential: c, Sinks: []sink.Sink{fs}}}}, path
}

// A source that only ever hands out a nearly expired token: the engine asks
// it a second time (bypassing caches), then refuses to write anything.
func TestEntraTokenTooShortNotWritten(t *testing.T) {
	now := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	var calls atomic.Int32
	stale := entra.TokenSourceFunc(func(context.Context) (entra.Token, error) {
		calls.Add(1)
		return entra.Token{AccessToken: fakeJWT(now.Add(-58*time.Minute), now.Add(2*time.Minute), "old"), ExpiresOn: now.Add(2 * time.Minute)}, nil
	})
	c := config.Credential{Name: "bearer", Kind: config.KindEntraToken, RenewBefore: config.RenewBefore{Duration: 20 * time.Minute}}
	e, path := tokenEngine(t, c, stale, func() time.Time { return now })
	p, err := e.Plan(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	rep := e.Apply(t.Context(), p)
	r := rep.Results[0]
	var short *rotation.TokenTooShortError
	if r.Action != rotation.ActionRefresh || !errors.As(r.Err, &short) || r.Reason != "token" {
		t.Fatalf("want a TokenTooShortError, got %+v", r)
	}
	if short.Need != 20*time.Minute || short.Left != 2*time.Minute || errkind.Of(rep.Err()) != errkind.Transient {
		t.Fatalf("error %+v, kind %v", short, errkind.Of(rep.Err()))
	}
	if !strings.Contains(r.Error, "bearer") || !strings.Contains(r.Error, "nothing was written") || strings.Contains(r.Error, "eyJ") {
		t.Fatalf("error text: %s", r.Error)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("the source was asked %d times, want 2 (cached, then a fresh sign-in)", n)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("a nearly expired token was written")
	}
}

// Against the emulator: the process's cached token (shared with the Azure
// DevOps client) has 18 of its 30 minutes left; renewBefore is 20m. The
// engine must not write it but sign in again and write a full-lifetime token.
func TestEmulatorEntraTokenFresh(t *testing.T) {
	c := config.Credential{Name: "bearer", Kind: config.KindEntraToken, RenewBefore: config.RenewBefore{Duration: 20 * time.Minute},
		Sinks: []config.SinkSpec{{Type: "file"}}}
	h := newHarness(t, nil, c)
	h.emu.SetFaults(emulator.Faults{TokenLifetime: emulator.Duration(30 * time.Minute)})
	shared, err := entra.New(entra.Options{
		Method: entra.MethodROPC, AuthorityHost: h.emu.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultClientID, Username: emulator.DefaultUser, Password: emulator.DefaultPassword,
		DisableInstanceDiscovery: true, HTTPClient: h.emu.HTTPClient(), Now: h.clk.Now, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	old, err := shared.Token(t.Context()) // e.g. the PAT listing signed in earlier
	if err != nil {
		t.Fatal(err)
	}
	if d := old.ExpiresOn.Sub(h.clk.Now()); d < 29*time.Minute || d > 31*time.Minute {
		t.Fatalf("TokenLifetime fault not applied: token valid %s", d)
	}
	h.clk.Advance(12 * time.Minute)
	if again, _ := shared.Token(t.Context()); again.AccessToken != old.AccessToken {
		t.Fatal("precondition: the shared source should still hand out its cached token (18m left)")
	}
	signIns := func() int64 { return counterOf(h.emu.Counters(), "oauth2/v2.0/token", "password") }
	before := signIns()

	e, path := tokenEngine(t, c, shared, h.clk.Now)
	p, err := e.Plan(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	rep := e.Apply(t.Context(), p)
	mustOK(t, rep)
	written := mustRead(t, path)
	if written == old.AccessToken {
		t.Fatal("the engine wrote the cached token with 18m left although renewBefore is 20m")
	}
	if n := signIns() - before; n != 1 {
		t.Fatalf("want exactly one fresh sign-in, got %d", n)
	}
	if left := rep.Results[0].ValidTo.Sub(h.clk.Now()); left < 29*time.Minute {
		t.Fatalf("written token valid only %s more", left)
	}
	// The written token is not due: the next run leaves it alone.
	p, err = e.Plan(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if p.Items[0].Action != rotation.ActionNone {
		t.Fatalf("freshly written token planned %s: %v", p.Items[0].Action, p.Items[0].Reasons)
	}
	// Once due (20m before expiry) it is refreshed, again with a fresh token.
	h.clk.Advance(11 * time.Minute)
	rep = e.Apply(t.Context(), mustPlan(t, e))
	mustOK(t, rep)
	if rep.Results[0].Action != rotation.ActionRefresh || mustRead(t, path) == written {
		t.Fatalf("due token not refreshed: %+v", rep.Results[0])
	}
	if left := rep.Results[0].ValidTo.Sub(h.clk.Now()); left <= 20*time.Minute {
		t.Fatalf("refreshed token valid only %s more", left)
	}
}

func mustPlan(t *testing.T, e *rotation.Engine) rotation.Plan {
	t.Helper()
	p, err := e.Plan(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func counterOf(c map[string]int64, parts ...string) int64 {
	var n int64
	for k, v := range c {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(k, p)
		}
		if ok {
			n += v
		}
	}
	return n
}
