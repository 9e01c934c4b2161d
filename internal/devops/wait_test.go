package devops_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
)

// waitClient is userClient with an OnWait observer recording every wait.
func waitClient(t *testing.T, e *emulator.Emulator) (*devops.Client, func() []devops.Wait) {
	t.Helper()
	src, err := entra.New(entra.Options{Method: entra.MethodROPC, AuthorityHost: e.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultClientID, Username: emulator.DefaultUser, Password: emulator.DefaultPassword,
		DisableInstanceDiscovery: true, HTTPClient: e.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var waits []devops.Wait
	c, err := devops.New(devops.Options{Organization: emulator.DefaultOrg, VSSPSURL: e.VSSPSURL(), DevOpsURL: e.DevOpsURL(),
		Token: entra.ReuseTokenSource(src, 0), HTTPClient: e.HTTPClient(), Logger: slog.New(slog.DiscardHandler),
		OnWait: func(w devops.Wait) { mu.Lock(); waits = append(waits, w); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	return c, func() []devops.Wait { mu.Lock(); defer mu.Unlock(); return append([]devops.Wait(nil), waits...) }
}

// The observer hears every wait on the retry path before it happens: a
// 429 with Retry-After (throttled, the server's delay), a backoff before
// retrying a 503, and the pacer slowing down on the X-RateLimit-* budget.
func TestOnWaitReportsThrottleRetryAndPacing(t *testing.T) {
	e := startEmulator(t, nil)
	c, waits := waitClient(t, e)
	ctx := context.Background()
	p, err := c.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: "waits", Scope: "vso.code", ValidTo: time.Now().Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if w := waits(); len(w) != 0 {
		t.Fatalf("no fault, no wait: %+v", w)
	}

	// 429 + Retry-After: 1 s.
	e.SetFaults(emulator.Faults{ThrottleRate: 1, RetryAfter: emulator.Duration(time.Second), Routes: []string{"tokens/pats"}})
	done := make(chan error, 1)
	go func() { _, err := c.GetPAT(ctx, p.AuthorizationID); done <- err }()
	deadline := time.Now().Add(10 * time.Second)
	for len(waits()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	e.SetFaults(emulator.Faults{})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w := waits()
	if len(w) == 0 || w[0].Reason != devops.WaitThrottled || w[0].Status != 429 || w[0].Duration <= 500*time.Millisecond || w[0].Duration > time.Second || w[0].Op == "" {
		t.Fatalf("429 Retry-After 1: waits %+v", w)
	}

	// 503: the backoff's delay.
	n := len(w)
	e.SetFaults(emulator.Faults{ServerErrorRate: 1, Routes: []string{"tokens/pats"}})
	go func() { _, err := c.GetPAT(ctx, p.AuthorizationID); done <- err }()
	for len(waits()) == n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	e.SetFaults(emulator.Faults{})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w = waits()[n:]
	if len(w) == 0 || w[0].Reason != devops.WaitRetry || w[0].Status != 503 || w[0].Duration <= 0 {
		t.Fatalf("503: waits %+v", w)
	}

	// The usage budget: the pacer holds requests back, and says so.
	n = len(waits())
	e.SetFaults(emulator.Faults{RateLimit: emulator.RateLimit{Limit: 100, Window: emulator.Duration(time.Second)}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := c.GetPAT(ctx, p.AuthorizationID); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	paced := 0
	for _, w := range waits()[n:] {
		if w.Reason == devops.WaitPaced && w.Duration > 0 {
			paced++
		}
	}
	if cs := c.Stats(); paced == 0 || int64(paced) > cs.Paced {
		t.Errorf("pacing: %d paced waits reported, client paced %d", paced, cs.Paced)
	}
}
