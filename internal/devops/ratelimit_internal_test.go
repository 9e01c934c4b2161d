package devops

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// budgetSim is Azure DevOps' usage budget as the emulator meters it:
// usage decays at limit/window, each request costs cost, headers from half.
type budgetSim struct {
	limit, rate, cost, usage, peak float64
	at                             time.Time
	blocked                        int
}

func (b *budgetSim) request(now time.Time) http.Header {
	b.usage = math.Max(0, b.usage-b.rate*now.Sub(b.at).Seconds())
	b.at = now
	if b.usage+b.cost > b.limit {
		b.blocked++
	} else {
		b.usage += b.cost
	}
	b.peak = math.Max(b.peak, b.usage)
	h := http.Header{}
	if b.usage >= b.limit/2 {
		h.Set("X-RateLimit-Limit", strconv.FormatFloat(b.limit, 'f', -1, 64))
		h.Set("X-RateLimit-Remaining", strconv.FormatFloat(b.limit-b.usage, 'f', 2, 64))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(time.Duration(b.usage/b.rate*float64(time.Second))).Unix()+1, 10))
	}
	return h
}

// A client that sends as fast as the pacer lets it (16 requests in flight,
// each answered after 10 or 100 ms) never exceeds the budget, and keeps sending at
// close to the rate the budget sustains. Without the pacer the same client
// is blocked. Simulated time: no sleeping, no timing assert.
func TestPacerKeepsWithinBudget(t *testing.T) {
	const windows = 4
	for _, tc := range []struct {
		limit, perSec, cost float64
		latency             time.Duration
	}{{100, 100, 1, 10 * time.Millisecond}, {300, 300, 1, 10 * time.Millisecond}, {200, 200.0 / 300, 0.05, 100 * time.Millisecond}, {50, 10, 2, 10 * time.Millisecond}} {
		run := func(paced bool) (*budgetSim, int) {
			start := time.Unix(1_800_000_000, 0)
			b := &budgetSim{limit: tc.limit, rate: tc.perSec, cost: tc.cost, at: start}
			var p pacer
			const inFlight = 16
			latency := tc.latency
			done := make([]time.Time, inFlight) // when each worker is free again
			for i := range done {
				done[i] = start
			}
			end := start.Add(time.Duration(windows * tc.limit / tc.perSec * float64(time.Second)))
			sent := 0
			for {
				w := 0 // the worker free first
				for i := range done {
					if done[i].Before(done[w]) {
						w = i
					}
				}
				now := done[w]
				if paced && p.interval > 0 {
					if p.next.After(now) {
						now = p.next
					}
					p.next = now.Add(p.interval)
				}
				if now.After(end) {
					return b, sent
				}
				h := b.request(now)
				sent++
				if paced {
					p.note(h, now.Add(latency), now.Add(latency))
				}
				done[w] = now.Add(latency)
			}
		}
		if b, _ := run(false); b.blocked == 0 {
			t.Fatalf("%+v: the unpaced client was never blocked: the case tests nothing", tc)
		}
		b, sent := run(true)
		if b.blocked != 0 {
			t.Errorf("%+v: %d requests blocked (peak usage %.1f of %.0f)", tc, b.blocked, b.peak, tc.limit)
		}
		// Over the windows the budget sustains limit/cost at once plus
		// perSec/cost per second; the paced client should get most of it.
		sustainable := (tc.limit + windows*tc.limit) / tc.cost
		t.Logf("%+v: sent %d of about %.0f sustainable, peak usage %.1f", tc, sent, sustainable, b.peak)
		if float64(sent) < 0.6*sustainable {
			t.Errorf("%+v: sent %d requests, the budget allows about %.0f: pacing too hard", tc, sent, sustainable)
		}
	}
}

// Without announcements the pacer relaxes, and a non-zero X-RateLimit-Delay
// closes the gate; garbage headers are ignored.
func TestPacerHeaders(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var p pacer
	p.interval = 8 * time.Millisecond
	if d := p.note(http.Header{}, now, now); d != 0 || p.pacing() != 4*time.Millisecond {
		t.Fatalf("no headers: hold %v, pacing %v; want 0 and halved", d, p.pacing())
	}
	h := http.Header{"X-Ratelimit-Delay": {"1.500"}}
	if d := p.note(h, now, now); d != 1500*time.Millisecond {
		t.Fatalf("X-RateLimit-Delay 1.5: hold %v", d)
	}
	for _, bad := range []http.Header{
		{"X-Ratelimit-Limit": {"NaN"}, "X-Ratelimit-Remaining": {"1"}},
		{"X-Ratelimit-Limit": {"10"}, "X-Ratelimit-Remaining": {"11"}},
		{"X-Ratelimit-Limit": {"0"}, "X-Ratelimit-Remaining": {"0"}},
		{"X-Ratelimit-Delay": {"-3"}},
		{"X-Ratelimit-Delay": {"1e300"}},
	} {
		if rl := parseRateLimit(bad); rl.ok || rl.delay != 0 {
			t.Errorf("%v parsed as %+v", bad, rl)
		}
	}
}

// With a clock that stands still (tests give the client the emulator's fake
// clock), a Retry-After still ends after its time on the wall clock: before,
// the gate compared the standing clock with its end for ever.
func TestRetryAfterGateWithStandingClock(t *testing.T) {
	frozen := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	n := 0
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}), func(o *Options) { o.Now = func() time.Time { return frozen } })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := env.c.RevokePAT(ctx, "4ab5764f-4193-4f1d-b995-64144880b7d7"); err != nil {
		t.Fatalf("the gate did not reopen: %v", err)
	}
}
