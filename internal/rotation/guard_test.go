package rotation_test

import (
	"context"
	"errors"
	"iter"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
)

// fakePATs is a PATClient in memory: CreatePAT fails with createErr when set.
type fakePATs struct {
	mu        sync.Mutex
	pats      []api.PatToken
	createErr error
	verifyErr error
	revoked   []string
	n         int
}

func (f *fakePATs) ListPATs(context.Context, devops.ListOptions) iter.Seq2[api.PatToken, error] {
	f.mu.Lock()
	ps := slices.Clone(f.pats)
	f.mu.Unlock()
	return func(yield func(api.PatToken, error) bool) {
		for _, p := range ps {
			if !yield(p, nil) {
				return
			}
		}
	}
}

func (f *fakePATs) CreatePAT(_ context.Context, req api.PatTokenCreateRequest) (api.PatToken, error) {
	if f.createErr != nil {
		return api.PatToken{}, f.createErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	sec := "secret-" + strings.Repeat("x", f.n)
	p := api.PatToken{AuthorizationID: "new-" + string(rune('a'+f.n)), DisplayName: req.DisplayName, Scope: req.Scope, ValidTo: req.ValidTo, Token: &sec, TargetAccounts: []string{"org"}}
	f.pats = append(f.pats, p)
	return p, nil
}

func (f *fakePATs) RevokePAT(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, id)
	f.pats = slices.DeleteFunc(f.pats, func(p api.PatToken) bool { return p.AuthorizationID == id })
	return nil
}

func (f *fakePATs) VerifyPAT(context.Context, string) (api.ConnectionData, error) {
	return api.ConnectionData{}, f.verifyErr
}

func (f *fakePATs) wasRevoked(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.revoked, id)
}

// memSink holds metadata in memory; readErr makes Read fail.
type memSink struct {
	mu       sync.Mutex
	name     string
	held     sink.Held
	readErr  error
	writeErr error
}

func (m *memSink) Name() string { return m.name }
func (m *memSink) Read(context.Context) (sink.Held, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held, m.readErr
}
func (m *memSink) Write(_ context.Context, _ string, meta sink.Meta) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.writeErr != nil {
		return m.writeErr
	}
	m.held = sink.Held{Present: true, AuthorizationID: meta.AuthorizationID, ValidTo: meta.ValidTo, RotatedAt: meta.RotatedAt}
	return nil
}

func (m *memSink) set(id string) {
	m.mu.Lock()
	m.held = sink.Held{Present: true, AuthorizationID: id}
	m.mu.Unlock()
}

var guardNow = time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)

func managedPAT(id, cred string, created time.Time) api.PatToken {
	return api.PatToken{AuthorizationID: id, DisplayName: rotation.DisplayName(cred, created), Scope: "vso.code",
		TargetAccounts: []string{"org"}, ValidFrom: created, ValidTo: created.Add(30 * 24 * time.Hour)}
}

func guardEngine(f *fakePATs, targets ...rotation.Target) *rotation.Engine {
	return &rotation.Engine{PATs: f, Targets: targets, Now: func() time.Time { return guardNow }, OrphanAge: time.Hour}
}

func target(name string, sinks ...sink.Sink) rotation.Target {
	return rotation.Target{Credential: fileCred(name, 0), Sinks: sinks}
}

func runOnce(t *testing.T, e *rotation.Engine, force bool) rotation.Report {
	t.Helper()
	p, err := e.Plan(context.Background(), force)
	if err != nil {
		t.Fatal(err)
	}
	return e.Apply(context.Background(), p)
}

// withOrphan: credential c's sink "own" holds its current PAT "cur"; its
// older PAT "orphan" is held by none of c's sinks and is due for clean-up.
func withOrphan() (*fakePATs, *memSink) {
	orphan := managedPAT("orphan", "c", guardNow.Add(-2*time.Hour))
	cur := managedPAT("cur", "c", guardNow.Add(-time.Hour))
	own := &memSink{name: "own"}
	own.set("cur")
	return &fakePATs{pats: []api.PatToken{orphan, cur}}, own
}

// TestEveryRevocationAsksTheSinks: whatever path revokes (create-recovery,
// compensation, replaced, clean-up), a PAT a sink holds or may hold stays.
func TestEveryRevocationAsksTheSinks(t *testing.T) {
	t.Run("create-recovery names the PAT a sink holds", func(t *testing.T) {
		held := managedPAT("held", "c", guardNow.Add(-time.Hour))
		f := &fakePATs{pats: []api.PatToken{held}}
		f.createErr = &devops.CreateUnknownError{DisplayName: held.DisplayName, AuthorizationID: "held", Since: guardNow, Cause: errors.New("503")}
		s := &memSink{name: "s"}
		s.set("held")
		rep := runOnce(t, guardEngine(f, target("c", s)), true)
		if rep.Err() == nil {
			t.Fatal("the create should fail")
		}
		if f.wasRevoked("held") {
			t.Fatal("the create-recovery revoked the PAT the sink holds")
		}
	})
	t.Run("create-recovery names a PAT another credential's sink holds", func(t *testing.T) {
		held := managedPAT("held", "c", guardNow.Add(-time.Hour))
		f := &fakePATs{pats: []api.PatToken{held}}
		f.createErr = &devops.CreateUnknownError{DisplayName: held.DisplayName, AuthorizationID: "held", Since: guardNow, Cause: errors.New("503")}
		own, other := &memSink{name: "own"}, &memSink{name: "moved"}
		other.set("held")
		runOnce(t, guardEngine(f, target("c", own), target("d", other)), true)
		if f.wasRevoked("held") {
			t.Fatal("the create-recovery revoked the PAT another credential's sink holds")
		}
	})
	t.Run("clean-up of a PAT a sink took after the plan", func(t *testing.T) {
		f, s := withOrphan()
		e := guardEngine(f, target("c", s))
		p, err := e.Plan(context.Background(), false)
		if err != nil || len(p.Items[0].Revoke) != 1 {
			t.Fatalf("want one clean-up revocation planned: %+v %v", p.Items, err)
		}
		s.set("orphan") // changed between plan and apply
		rep := e.Apply(context.Background(), p)
		if f.wasRevoked("orphan") {
			t.Fatal("clean-up revoked the PAT the sink holds now")
		}
		if r := rep.Results[0]; r.Err != nil || !slices.Contains(r.Kept, "orphan") || len(r.Notes) == 0 {
			t.Fatalf("want the orphan kept with a note: %+v", r)
		}
	})
	t.Run("clean-up while another credential's sink cannot be read", func(t *testing.T) {
		f, own := withOrphan()
		broken := &memSink{name: "broken", readErr: errors.New("forbidden")}
		rep := runOnce(t, guardEngine(f, target("c", own), target("d", broken)), false)
		if f.wasRevoked("orphan") {
			t.Fatal("clean-up revoked a PAT an unreadable sink may hold (a sink moved between credentials)")
		}
		if !strings.Contains(strings.Join(rep.Results[0].Notes, " "), "broken") {
			t.Fatalf("the note should name the unreadable sink: %+v", rep.Results[0])
		}
	})
	t.Run("clean-up with --only: an unselected credential's sink holds the PAT", func(t *testing.T) {
		f, own := withOrphan()
		moved := &memSink{name: "moved"}
		moved.set("orphan")
		e := guardEngine(f, target("c", own))
		e.Watch = []rotation.Target{target("d", moved)}
		runOnce(t, e, false)
		if f.wasRevoked("orphan") {
			t.Fatal("clean-up revoked the PAT an unselected credential's sink holds")
		}
	})
	t.Run("an entra-token credential's token does not block clean-up", func(t *testing.T) {
		f, own := withOrphan()
		tok := &memSink{name: "token", held: sink.Held{Present: true, ValidTo: guardNow.Add(time.Hour), RotatedAt: guardNow}}
		tt := target("bearer", tok)
		tt.Credential.Kind = config.KindEntraToken
		runOnce(t, guardEngine(f, target("c", own), tt), false)
		if !f.wasRevoked("orphan") {
			t.Fatal("the orphan should be revoked: a token sink holds no PAT")
		}
	})
	t.Run("a replaced PAT that a failed sink still holds", func(t *testing.T) {
		cur := managedPAT("cur", "c", guardNow.Add(-time.Hour))
		f := &fakePATs{pats: []api.PatToken{cur}}
		ok, failing := &memSink{name: "ok"}, &memSink{name: "failing", writeErr: errors.New("disk full")}
		ok.set("cur")
		failing.set("cur")
		rep := runOnce(t, guardEngine(f, target("c", ok, failing)), true)
		if f.wasRevoked("cur") || !slices.Contains(rep.Results[0].Kept, "cur") {
			t.Fatalf("the replaced PAT the failed sink holds was revoked: %+v", rep.Results[0])
		}
	})
}
