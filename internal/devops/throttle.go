package devops

import (
	"context"
	"errors"
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
		c.gate.hold(c.now().Add(d), c.now())
	}
	d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	if !ok {
		return
	}
	c.gate.hold(c.now().Add(d), c.now())
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
		d := time.Duration(f * float64(time.Second))
		if d <= 0 { // a positive value below a nanosecond ("1e-10") is no delay
			return 0, false
		}
		return d, true
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

// ---- waits on the retry path, for observers (Options.OnWait) ---------------

// WaitReason says why the client waits before a request.
type WaitReason string

const (
	// WaitThrottled: Azure DevOps answered 429 / Retry-After (the shared
	// gate is closed), or asked to slow down in X-RateLimit-Delay.
	WaitThrottled WaitReason = "throttled"
	// WaitPaced: the pacer spaces requests to stay within the usage budget
	// that X-RateLimit-* announces, before Azure DevOps blocks.
	WaitPaced WaitReason = "paced"
	// WaitRetry: backing off before retrying a 5xx or network error.
	WaitRetry WaitReason = "retry"
)

// Wait is one wait of the client before a request (Options.OnWait).
type Wait struct {
	Op     string // the operation, e.g. "create PAT"
	Reason WaitReason
	// Status is the HTTP status that caused it (429, 503; 0 for pacing and
	// network errors).
	Status   int
	Duration time.Duration
}

// notify tells the observer, if any.
func (c *Client) notify(w Wait) {
	if c.onWait != nil && w.Duration > 0 {
		c.onWait(w)
	}
}

// noteBackoff reports the backoff's wait before retrying err (0 when the
// gate does the waiting: a 429 with Retry-After is reported by attempt).
func (c *Client) noteBackoff(op string, err error, d time.Duration) {
	w := Wait{Op: op, Reason: WaitRetry, Duration: d}
	var ae *APIError
	if errors.As(err, &ae) {
		w.Status = ae.Status
		if ae.Status == http.StatusTooManyRequests {
			w.Reason = WaitThrottled
		}
	}
	c.notify(w)
}

// ---- the shared throttle gate ---------------------------------------------

// gate is the Client-wide Retry-After barrier. until is on the client's
// clock (Options.Now: what the deadline and budget checks compare); wake is
// the same moment on the wall clock, which the sleep uses, so that a fake
// clock standing still cannot keep the gate closed for ever.
type gate struct {
	mu    sync.Mutex
	until time.Time
	wake  time.Time
}

// hold closes the gate until until (client clock; now is that clock's
// present).
func (g *gate) hold(until, now time.Time) {
	g.mu.Lock()
	if until.After(g.until) {
		g.until = until
		g.wake = time.Now().Add(until.Sub(now))
	}
	g.mu.Unlock()
}

// left is how long the gate stays closed from now (client clock), or <= 0.
func (g *gate) left(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until.Sub(now)
}

// wait blocks until the gate is open. It fails at once when the gate opens
// after ctx's deadline or after budget.
func (g *gate) wait(ctx context.Context, now func() time.Time, budget time.Time) error {
	for {
		g.mu.Lock()
		until, wake := g.until, g.wake
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
		sleep := time.Until(wake)
		if sleep <= 0 {
			return nil
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
