package devops

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pacer is the Client-wide answer to Azure DevOps' usage budget
// (reference/pat-api.md §8). The service announces the budget before it
// throttles: X-RateLimit-Limit (units allowed), -Remaining (units left) and
// -Reset (epoch seconds when usage would be back to zero if all activity
// stopped, so usage decays at (Limit-Remaining)/(Reset-now) units per
// second). From those samples the pacer estimates what one request costs
// and, while the remaining budget is low, spaces the start of every request
// of every goroutine sharing the Client so that usage stops growing:
//
//   - Remaining ≥ half of Limit: no pacing;
//   - from half to a quarter: the spacing ramps from 0 to cost/decay (the
//     sustainable rate);
//   - below a quarter: up to 3× that spacing, so usage drains back.
//
// A response that announces nothing relaxes the spacing by half. A non-zero
// X-RateLimit-Delay (the service already delays us) closes the shared gate for
// that long. Retry-After keeps working as before (the gate in throttle.go),
// and 429s are still retried.
type pacer struct {
	mu       sync.Mutex
	interval time.Duration // spacing between request starts; 0 = none
	next     time.Time     // earliest start of the next request

	cost      float64   // estimated units per request; 0 = unknown
	lastUsage float64   // usage at the last sample
	lastAt    time.Time // time of the last sample; zero = none
	since     int       // announcing responses since the last sample
}

// maxPaceInterval caps the spacing (a wrong estimate never stalls a run).
const maxPaceInterval = 10 * time.Second

// rateLimit is what one response announced.
type rateLimit struct {
	limit, remaining float64
	reset            time.Time
	delay            time.Duration
	ok               bool // Limit and Remaining were present and sane
}

func parseRateLimit(h http.Header) rateLimit {
	var rl rateLimit
	if d, err := strconv.ParseFloat(strings.TrimSpace(h.Get("X-RateLimit-Delay")), 64); err == nil && d > 0 && d < maxRetryAfter.Seconds() {
		rl.delay = time.Duration(d * float64(time.Second))
	}
	l, err1 := strconv.ParseFloat(strings.TrimSpace(h.Get("X-RateLimit-Limit")), 64)
	r, err2 := strconv.ParseFloat(strings.TrimSpace(h.Get("X-RateLimit-Remaining")), 64)
	if err1 != nil || err2 != nil || !(l > 0) || !(r >= 0) || r > l {
		return rl
	}
	rl.limit, rl.remaining, rl.ok = l, r, true
	if s, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64); err == nil {
		rl.reset = time.Unix(s, 0)
	}
	return rl
}

// note takes one response's headers, received at now on the client's clock
// (what X-RateLimit-Reset is compared with) and at mono on the wall clock
// (what the samples are timed with: a fake clock may stand still); it
// returns how long the shared gate should stay closed, or 0.
func (p *pacer) note(h http.Header, now, mono time.Time) time.Duration {
	rl := parseRateLimit(h)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !rl.ok {
		p.interval /= 2
		if p.interval < time.Millisecond {
			p.interval = 0
		}
		return rl.delay
	}
	usage := rl.limit - rl.remaining
	var decay float64 // units per second
	if left := rl.reset.Sub(now).Seconds(); left > 0 && usage > 0 {
		decay = usage / left
	}
	p.since++
	switch {
	case p.lastAt.IsZero():
		p.lastUsage, p.lastAt, p.since = usage, mono, 0
	case decay > 0 && (p.since >= 4 || mono.Sub(p.lastAt) >= 100*time.Millisecond):
		// What the requests since the last sample cost: the usage they
		// added plus what decayed meanwhile.
		if c := (usage - p.lastUsage + decay*mono.Sub(p.lastAt).Seconds()) / float64(p.since); c > 0 {
			if p.cost == 0 {
				p.cost = c
			} else {
				p.cost = 0.7*p.cost + 0.3*c
			}
		}
		p.lastUsage, p.lastAt, p.since = usage, mono, 0
	}
	frac := rl.remaining / rl.limit
	var k float64
	switch {
	case frac >= 0.5:
	case frac >= 0.25:
		k = (0.5 - frac) * 4 // 0 → 1
	default:
		k = 1 + (0.25-frac)*8 // 1 → 3
	}
	switch {
	case k == 0:
		p.interval = 0
	case p.cost > 0 && decay > 0:
		p.interval = min(time.Duration(k*p.cost/decay*float64(time.Second)), maxPaceInterval)
	case frac < 0.25 && decay > 0:
		// No estimate yet and little left: let a quarter of the budget
		// decay before anything else is sent.
		return max(rl.delay, time.Duration(0.25*rl.limit/decay*float64(time.Second)))
	}
	return rl.delay
}

// wait reserves the next start slot and sleeps until it; it reports whether
// the request was held back. before (if not nil) is told how long, first.
func (p *pacer) wait(ctx context.Context, now time.Time, before func(time.Duration)) (bool, error) {
	p.mu.Lock()
	if p.interval == 0 {
		p.mu.Unlock()
		return false, nil
	}
	start := now
	if p.next.After(start) {
		start = p.next
	}
	p.next = start.Add(p.interval)
	p.mu.Unlock()
	d := start.Sub(now)
	if d <= 0 {
		return false, nil
	}
	if before != nil {
		before(d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true, ctx.Err()
	case <-t.C:
		return true, nil
	}
}

// pacing returns the current spacing (tests, logs).
func (p *pacer) pacing() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.interval
}
