package rotation_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/graph"
	"github.com/patrol-dev/patrol/internal/rotation"
)

// fakeGraph holds one application's passwords; addLost makes addPassword
// create the password but lose the answer (a 502 after the fact).
type fakeGraph struct {
	pws     []graph.PasswordCredential
	addLost bool
	refused bool
}

func (g *fakeGraph) App(context.Context, graph.AppRef) (graph.Application, error) {
	return graph.Application{ID: "obj", AppID: "app", PasswordCredentials: append([]graph.PasswordCredential(nil), g.pws...)}, nil
}

func (g *fakeGraph) AddAppPassword(_ context.Context, _ graph.AppRef, name string, end time.Time) (graph.PasswordCredential, error) {
	if g.refused {
		return graph.PasswordCredential{}, &graph.Error{Op: "addPassword", Status: 403, Code: "Authorization_RequestDenied"}
	}
	p := graph.PasswordCredential{KeyID: "key-" + name, DisplayName: name, StartDateTime: time.Now(), EndDateTime: end, SecretText: "s3cret-" + name}
	g.pws = append(g.pws, graph.PasswordCredential{KeyID: p.KeyID, DisplayName: name, StartDateTime: p.StartDateTime, EndDateTime: end})
	if g.addLost {
		return graph.PasswordCredential{}, &graph.Error{Op: "addPassword", Status: 502, Code: "BadGateway"}
	}
	return p, nil
}

func (g *fakeGraph) RemoveAppPassword(_ context.Context, _ graph.AppRef, keyID string) error {
	for i, p := range g.pws {
		if p.KeyID == keyID {
			g.pws = append(g.pws[:i], g.pws[i+1:]...)
		}
	}
	return nil
}

// A password whose addPassword answer was lost is found by its display
// name and reported with its keyId (the engine then removes it unless a
// sink holds it); a refusal creates nothing and is not "unknown".
func TestAppSecretClientCreateRecovery(t *testing.T) {
	g := &fakeGraph{addLost: true}
	c := &rotation.AppSecretClient{Graph: g, App: graph.AppRef{AppID: "app"}}
	_, err := c.CreatePAT(context.Background(), api.PatTokenCreateRequest{DisplayName: "patrol:x:20260601T080000Z-0123abcd", ValidTo: time.Now().Add(time.Hour)})
	var cu *devops.CreateUnknownError
	if !errors.As(err, &cu) || cu.AuthorizationID != "key-patrol:x:20260601T080000Z-0123abcd" {
		t.Fatalf("lost answer: %v", err)
	}
	g = &fakeGraph{refused: true}
	c = &rotation.AppSecretClient{Graph: g, App: graph.AppRef{AppID: "app"}}
	if _, err := c.CreatePAT(context.Background(), api.PatTokenCreateRequest{DisplayName: "patrol:x:1"}); err == nil || errors.As(err, &cu) {
		t.Fatalf("refused: %v", err)
	}
}

// Verification retries while the new secret replicates, within the bound.
func TestAppSecretClientVerifyRetriesWithinBound(t *testing.T) {
	calls := 0
	c := &rotation.AppSecretClient{Graph: &fakeGraph{}, App: graph.AppRef{AppID: "app"}, VerifyWithin: time.Second, VerifyEvery: 50 * time.Millisecond,
		SignIn: func(_ context.Context, appID, secret string) error {
			calls++
			if appID != "app" || secret != "s" {
				t.Errorf("sign-in as %s", appID)
			}
			if calls < 3 {
				return errors.New("AADSTS7000215: Invalid client secret provided")
			}
			return nil
		}}
	if _, err := c.VerifyPAT(context.Background(), "s"); err != nil || calls != 3 {
		t.Fatalf("verify: %v after %d calls", err, calls)
	}
	c.SignIn = func(context.Context, string, string) error {
		return errors.New("AADSTS7000215: Invalid client secret provided")
	}
	start := time.Now()
	_, err := c.VerifyPAT(context.Background(), "s")
	var ve *rotation.AppSecretVerifyError
	if !errors.As(err, &ve) || ve.Attempts < 2 || time.Since(start) > 2*time.Second || !strings.Contains(err.Error(), "within 1s") {
		t.Fatalf("verify never succeeding: %v (%s)", err, time.Since(start))
	}
}

// A new application secret that does not sign in within the bound (Entra
// still replicating it: here the emulator's delay outlasts it) is removed
// and never delivered.
func TestAppSecretNotReplicatedIsRemoved(t *testing.T) {
	seed := emulator.DefaultSeed()
	seed.PasswordReplicationDelay = emulator.Duration(time.Hour) // the fake clock stands still during the run
	h := newHarness(t, &seed, appCred("c", 1))
	rep := h.run(false, nil)
	r := rep.Results[0]
	if r.Reason != "verify" || !strings.Contains(r.Error, "did not sign in") || r.Sinks != nil {
		t.Fatalf("want a verify failure before delivery: %+v", r)
	}
	if ids := h.activeIDs("c"); len(ids) != 0 {
		t.Fatalf("the unverified password was kept: %v", ids)
	}
	if _, err := os.Stat(h.sinkPath("c", 0)); !os.IsNotExist(err) {
		t.Fatal("the sink was written")
	}
}

// An application whose passwords cannot be listed fails its own credential
// (reason list: nothing created or removed for it); PAT credentials of the
// same run rotate as usual.
func TestAppSecretListingFailureFailsOnlyItsCredential(t *testing.T) {
	h := newHarness(t, nil, fileCred("p", 1), appCred("a", 1))
	h.maxAttempts = 1
	h.emu.SetFaults(emulator.Faults{ServerErrorRate: 1, Routes: []string{"/v1.0/applications"}})
	rep := h.run(false, nil)
	h.emu.SetFaults(emulator.Faults{})
	byName := map[string]rotation.Result{}
	for _, r := range rep.Results {
		byName[r.Credential] = r
	}
	if p := byName["p"]; p.Err != nil || p.Action != rotation.ActionCreate {
		t.Fatalf("the PAT credential: %+v", p)
	}
	if a := byName["a"]; a.Reason != "list" || !strings.Contains(a.Error, "list the passwords of application appId") {
		t.Fatalf("the application credential: %+v", a)
	}
	if ids := h.activeIDs("a"); len(ids) != 0 {
		t.Fatalf("a password was created: %v", ids)
	}
	mustOK(t, h.run(false, nil))
	h.checkSinksWork()
	h.checkNoUnheld()
}
