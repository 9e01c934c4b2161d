package devops

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// noteRetryAfter closes the shared gate for as long as a Retry-After header
// asks, whatever the status, and feeds the X-RateLimit-* headers to the
// shared pacer (ratelimit.go).
func (c *Client) noteRetryAfter(resp *http.Response) {
	if resp.StatusCode == http.StatusTooManyRequests {
		c.throttled.Add(1)
	}
	if d := c.pace.note(resp.Header, c.now(), time.Now()); d > 0 {
		c.gate.hold(c.now().Add(d))
	}
	d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	if !ok {
		return
	}
	c.gate.hold(c.now().Add(d))
}

// maxRetryAfter caps absurd Retry-After values (they then exceed every
// retry budget and fail fast).
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if !(f > 0) { // also rejects NaN
			return 0, false
		}
		if f > maxRetryAfter.Seconds() {
			return maxRetryAfter, true
		}
		return time.Duration(f * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d <= 0 {
			return 0, false
		}
		return min(d, maxRetryAfter), true
	}
	return 0, false
}

// ---- the shared throttle gate ---------------------------------------------

// gate is the Client-wide Retry-After barrier.
type gate struct {
	mu    sync.Mutex
	until time.Time
}

func (g *gate) hold(until time.Time) {
	g.mu.Lock()
	if until.After(g.until) {
		g.until = until
	}
	g.mu.Unlock()
}

// wait blocks until the gate is open. It fails at once when the gate opens
// after ctx's deadline or after budget.
func (g *gate) wait(ctx context.Context, now func() time.Time, budget time.Time) error {
	for {
		g.mu.Lock()
		until := g.until
		g.mu.Unlock()
		d := until.Sub(now())
		if d <= 0 {
			return nil
		}
		if dl, ok := ctx.Deadline(); ok && until.After(dl) {
			return fmt.Errorf("throttled by Azure DevOps: Retry-After asks to wait until %s, after the operation's deadline; retry later", until.UTC().Format(time.RFC3339))
		}
		if until.After(budget) {
			return fmt.Errorf("throttled by Azure DevOps: Retry-After asks to wait %s, more than the retry budget allows; retry later", d.Round(time.Second))
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
