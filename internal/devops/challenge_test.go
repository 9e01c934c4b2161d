package devops_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
)

const (
	patsGet     = "GET /vssps/{org}/_apis/tokens/pats"
	freshSignIn = "POST /{tenant}/oauth2/v2.0/token password claims"
	plainSignIn = "POST /{tenant}/oauth2/v2.0/token password"
)

// TestClaimsChallengeSignsInOnce: after the user's sessions are revoked the
// cached token is refused with a claims challenge; the client signs in
// afresh exactly once (ROPC with the claims request), retries the request
// once, and later requests use the new token without another sign-in.
func TestClaimsChallengeSignsInOnce(t *testing.T) {
	e := startEmulator(t, nil)
	c := userClient(t, e, emulator.DefaultUser)
	ctx := context.Background()
	p, err := c.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: "cae", Scope: "vso.code", ValidTo: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.RevokeSignInSessions(emulator.DefaultUser); err != nil {
		t.Fatal(err)
	}
	e.ResetCounters()
	before := c.Stats()
	if _, err := c.GetPAT(ctx, p.AuthorizationID); err != nil {
		t.Fatalf("get after the revocation: %v", err)
	}
	cn := e.Counters()
	if cn[freshSignIn] != 1 || cn[plainSignIn] != 0 || cn[patsGet] != 2 {
		t.Fatalf("want 1 fresh sign-in with claims and 2 GETs (refused + retried), counters %v", cn)
	}
	st := c.Stats()
	if st.Challenges-before.Challenges != 1 || st.Requests-before.Requests != 2 || st.Retries != before.Retries {
		t.Fatalf("stats before %+v after %+v", before, st)
	}
	for range 3 {
		if _, err := c.GetPAT(ctx, p.AuthorizationID); err != nil {
			t.Fatal(err)
		}
	}
	if cn := e.Counters(); cn[freshSignIn] != 1 || cn[plainSignIn] != 0 || cn[patsGet] != 5 {
		t.Fatalf("later requests signed in again or were refused: %v", cn)
	}
}

// TestClaimsChallengeConcurrent: requests refused together share one fresh
// sign-in.
func TestClaimsChallengeConcurrent(t *testing.T) {
	e := startEmulator(t, nil)
	c := userClient(t, e, emulator.DefaultUser)
	ctx := context.Background()
	for _, err := range c.ListPATs(ctx, devops.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.RevokeSignInSessions(emulator.DefaultUser); err != nil {
		t.Fatal(err)
	}
	e.ResetCounters()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for _, err := range c.ListPATs(ctx, devops.ListOptions{}) {
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := e.Counters()[freshSignIn]; n != 1 || c.Stats().Challenges != 1 {
		t.Fatalf("8 concurrent refused requests made %d fresh sign-ins (stats %+v), want 1", n, c.Stats())
	}
}

// TestClaimsChallengeNoLoop: when the fresh sign-in's token is refused too
// (here a source that can only return the revoked token), the second 401 is
// an auth error (exit 3) with the hint; exactly two requests were sent.
func TestClaimsChallengeNoLoop(t *testing.T) {
	e := startEmulator(t, nil)
	src, err := entra.New(entra.Options{Method: entra.MethodROPC, AuthorityHost: e.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultClientID, Username: emulator.DefaultUser, Password: emulator.DefaultPassword,
		DisableInstanceDiscovery: true, HTTPClient: e.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	revoked, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	stale := entra.TokenSourceFunc(func(context.Context) (entra.Token, error) { calls++; return revoked, nil })
	c, err := devops.New(devops.Options{Organization: emulator.DefaultOrg, VSSPSURL: e.VSSPSURL(), DevOpsURL: e.DevOpsURL(),
		Token: stale, HTTPClient: e.HTTPClient(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.RevokeSignInSessions(emulator.DefaultUser); err != nil {
		t.Fatal(err)
	}
	e.ResetCounters()
	_, err = c.GetPAT(ctx, "4ab5764f-4193-4f1d-b995-64144880b7d7")
	var ae *devops.AuthError
	if !errors.As(err, &ae) || errkind.Of(err).ExitCode() != 3 || !strings.Contains(ae.Hint, "fresh sign-in") || ae.Claims == "" {
		t.Fatalf("second refusal: %v", err)
	}
	if n := e.Counters()[patsGet]; n != 2 || calls != 2 || c.Stats().Challenges != 1 {
		t.Fatalf("requests %d, token calls %d, stats %+v: want 2, 2, 1 challenge", n, calls, c.Stats())
	}
	// VerifyPAT (Basic) is never answered with a sign-in.
	if _, err := c.VerifyPAT(ctx, "notapatnotapatnotapat"); errkind.Of(err) != errkind.Auth || c.Stats().Challenges != 1 {
		t.Fatalf("verify: %v %+v", err, c.Stats())
	}
}
