package emulator

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RateLimit is a usage budget metered as Azure DevOps meters it
// (reference/pat-api.md §8): every Azure DevOps request costs Cost units;
// usage decays by Limit units per Window (a sliding window: an idle client is
// back to zero usage after at most Window). From Announce×Limit on, responses
// carry X-RateLimit-Resource, -Delay, -Limit, -Remaining and -Reset; a request
// that would take usage past Limit is blocked: 429 with Retry-After (seconds
// until it would fit) and a TF400733 body, and counts as a violation
// (RateLimitStats). One budget is shared by every caller. Limit 0 (the
// default) turns the budget off.
type RateLimit struct {
	// Limit is the budget in units (Azure DevOps: 200 TSTUs); 0 = off.
	Limit float64 `json:"limit,omitempty"`
	// Window is how long usage of Limit takes to decay to zero (default 5m).
	Window Duration `json:"window,omitempty"`
	// Cost is what one request costs (default 1).
	Cost float64 `json:"cost,omitempty"`
	// Announce is the fraction of Limit from which the X-RateLimit-*
	// headers are sent (default 0.5; Azure DevOps sends them before it
	// delays).
	Announce float64 `json:"announce,omitempty"`
}

// RateLimitStats counts what the budget did since the start or the last
// ResetCounters.
type RateLimitStats struct {
	// Charged counts requests that fitted the budget.
	Charged int64 `json:"charged"`
	// Blocked counts requests answered 429 for exceeding the budget.
	Blocked int64 `json:"blocked"`
	// PeakUsage is the highest usage reached, in units.
	PeakUsage float64 `json:"peakUsage"`
}

func (l RateLimit) window() time.Duration {
	if l.Window > 0 {
		return time.Duration(l.Window)
	}
	return 5 * time.Minute
}

func (l RateLimit) cost() float64 {
	if l.Cost > 0 {
		return l.Cost
	}
	return 1
}

func (l RateLimit) announce() float64 {
	if l.Announce > 0 {
		return l.Announce
	}
	return 0.5
}

// Validate checks the budget (Start, SetFaults callers and the emulator
// command's flags).
func (l RateLimit) Validate() error {
	if l.Limit < 0 || l.Cost < 0 || l.Window < 0 || math.IsNaN(l.Limit) || math.IsNaN(l.Cost) {
		return errors.New("faults.rateLimit: limit, cost and window must not be negative")
	}
	if l.Announce < 0 || l.Announce > 1 || math.IsNaN(l.Announce) {
		return errors.New("faults.rateLimit.announce must be between 0 and 1 (the fraction of limit from which X-RateLimit-* headers are sent)")
	}
	if l.Limit > 0 && l.cost() > l.Limit {
		return errors.New("faults.rateLimit: cost exceeds limit, so every request would be blocked: lower cost or raise limit")
	}
	return nil
}

// budget is the state of the RateLimit. Usage decays on the wall clock
// (mono; time.Now unless a test sets it), not on Options.Now: a fake clock
// that stands still must not freeze the budget. X-RateLimit-Reset is
// expressed on the emulator's clock, as its other times are.
type budget struct {
	mu    sync.Mutex
	mono  func() time.Time
	usage float64
	at    time.Time
	stats RateLimitStats
}

func (b *budget) reset() {
	b.mu.Lock()
	b.usage, b.at, b.stats = 0, time.Time{}, RateLimitStats{}
	b.mu.Unlock()
}

// meter charges one request against l, sets the X-RateLimit-* headers (Reset
// relative to now, the emulator's clock) and reports whether the request was
// blocked (then answered 429).
func (b *budget) meter(w http.ResponseWriter, l RateLimit, now time.Time) bool {
	rate := l.Limit / l.window().Seconds() // units per second
	b.mu.Lock()
	t := time.Now()
	if b.mono != nil {
		t = b.mono()
	}
	if !b.at.IsZero() {
		b.usage = max(0, b.usage-rate*t.Sub(b.at).Seconds())
	}
	b.at = t
	blocked := b.usage+l.cost() > l.Limit
	if blocked {
		b.stats.Blocked++
	} else {
		b.usage += l.cost()
		b.stats.Charged++
		b.stats.PeakUsage = max(b.stats.PeakUsage, b.usage)
	}
	usage := b.usage
	b.mu.Unlock()

	if usage >= l.announce()*l.Limit || blocked {
		h := w.Header()
		h.Set("X-RateLimit-Resource", "Core")
		h.Set("X-RateLimit-Delay", "0.000")
		h.Set("X-RateLimit-Limit", strconv.FormatFloat(l.Limit, 'f', -1, 64))
		h.Set("X-RateLimit-Remaining", strconv.FormatFloat(max(0, l.Limit-usage), 'f', 2, 64))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(time.Duration(usage/rate*float64(time.Second))).Unix()+1, 10))
	}
	if !blocked {
		return false
	}
	wait := (usage + l.cost() - l.Limit) / rate // seconds until the request fits
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait)))))
	writeVSSError(w, http.StatusTooManyRequests, "RequestBlockedException",
		"TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'Core' in namespace 'User'. (emulator rate limit)")
	return true
}

// RateLimitStats returns what the rate-limit budget did since the start or
// the last ResetCounters.
func (e *Emulator) RateLimitStats() RateLimitStats {
	e.budget.mu.Lock()
	defer e.budget.mu.Unlock()
	return e.budget.stats
}
