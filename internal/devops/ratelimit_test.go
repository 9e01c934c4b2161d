package devops_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
)

// Sixteen goroutines sharing one Client against the emulator's usage budget
// (100 units, decaying at 100 a second, 1 per request): the client slows down
// on the X-RateLimit-* headers, so the budget never blocks a request (429),
// where today's client, sending as fast as the emulator answers, was blocked.
func TestSharedClientStaysWithinUsageBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("about 3 s of paced requests")
	}
	e := startEmulator(t, nil)
	c := userClient(t, e, emulator.DefaultUser)
	ctx := context.Background()
	p, err := c.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: "budget", Scope: "vso.code", ValidTo: time.Now().Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	e.SetFaults(emulator.Faults{RateLimit: emulator.RateLimit{Limit: 100, Window: emulator.Duration(time.Second)}})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for range 20 {
				if _, err := c.GetPAT(ctx, p.AuthorizationID); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, cs := e.RateLimitStats(), c.Stats()
	t.Logf("budget %+v, client %+v", st, cs)
	if st.Charged < 320 {
		t.Fatalf("only %d requests charged: the budget was not in play", st.Charged)
	}
	if st.Blocked != 0 || cs.Throttled != 0 {
		t.Errorf("%d requests blocked by the budget (%d 429s seen by the client); want none", st.Blocked, cs.Throttled)
	}
	if cs.Paced == 0 {
		t.Error("no request was paced")
	}
}
