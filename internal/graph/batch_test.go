package graph

import (
	"context"
	"fmt"
	"testing"

	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
)

func emuClient(t *testing.T, e *emulator.Emulator, clientID, secret string) *Client {
	t.Helper()
	ts, err := entra.New(entra.Options{Method: entra.MethodClientSecret, AuthorityHost: e.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: clientID, ClientSecret: secret, Scope: Scope, HTTPClient: e.HTTPClient(), DisableInstanceDiscovery: true,
		LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{BaseURL: e.GraphURL(), Token: entra.ReuseTokenSource(ts, 0), HTTPClient: e.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// 45 users in ceil(45/20) = 3 batches: disabled, deleted and unknown ones
// told apart; without User.Read.All a permission error.
func TestUserStatesBatched(t *testing.T) {
	seed := emulator.DefaultSeed()
	var ids []string
	for i := range 42 {
		u := emulator.User{UPN: fmt.Sprintf("u%02d@%s", i, emulator.DefaultTenantDomain), Password: "x", ObjectID: fmt.Sprintf("66666666-0000-4000-8000-%012d", i),
			TenantID: emulator.DefaultTenantID, Disabled: i%3 == 1, Deleted: i%3 == 2}
		seed.Users = append(seed.Users, u)
		ids = append(ids, u.ObjectID)
	}
	ids = append(ids, emulator.DefaultUserObjectID, emulator.DisabledUserObjectID, "00000000-0000-4000-8000-00000000dead")
	e, err := emulator.Start(context.Background(), emulator.Options{Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	c := emuClient(t, e, emulator.DefaultSPClientID, emulator.DefaultSPSecret)
	e.ResetCounters()
	st, err := c.UserStates(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.Counters()["POST /v1.0/$batch"]; n != 3 {
		t.Errorf("%d batch requests for %d users, want 3", n, len(ids))
	}
	for i := range 42 {
		s := st[ids[i]]
		switch i % 3 {
		case 0:
			if !s.Found || !s.AccountEnabled {
				t.Errorf("user %d: %+v, want enabled", i, s)
			}
		case 1:
			if !s.Found || s.AccountEnabled {
				t.Errorf("user %d: %+v, want disabled", i, s)
			}
		case 2:
			if s.Found || s.Unknown {
				t.Errorf("user %d: %+v, want not found", i, s)
			}
		}
	}
	if s := st[emulator.DisabledUserObjectID]; !s.Found || s.AccountEnabled || s.UserPrincipalName != emulator.DisabledUser {
		t.Errorf("DisabledUser: %+v", s)
	}
	if s := st["00000000-0000-4000-8000-00000000dead"]; s.Found {
		t.Errorf("unknown id: %+v", s)
	}
	_, err = emuClient(t, e, emulator.ConfidentialClientID, emulator.ConfidentialClientSecret).UserStates(context.Background(), ids[:3])
	if errkind.Of(err) != errkind.Permission {
		t.Fatalf("without User.Read.All: %v (kind %v)", err, errkind.Of(err))
	}
}

func TestApplicationPasswordsBatched(t *testing.T) {
	e, err := emulator.Start(context.Background(), emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	c := emuClient(t, e, emulator.DefaultSPClientID, emulator.DefaultSPSecret)
	apps, err := c.ApplicationPasswords(context.Background(), []string{emulator.ManagedAppClientID, "00000000-0000-4000-8000-0000000000ff"})
	if err != nil {
		t.Fatal(err)
	}
	a := apps[emulator.ManagedAppClientID]
	if !a.Found || len(a.Passwords) != 1 || a.Nearest().IsZero() || !a.Latest().Equal(a.Nearest()) {
		t.Fatalf("managed app: %+v", a)
	}
	if apps["00000000-0000-4000-8000-0000000000ff"].Found {
		t.Error("an unknown application was found")
	}
	// patrol-sp owns the managed app only: another one is refused as a whole.
	if _, err := c.ApplicationPasswords(context.Background(), []string{emulator.ConfidentialClientID}); errkind.Of(err) != errkind.Permission {
		t.Fatalf("not owned: %v", err)
	}
}
