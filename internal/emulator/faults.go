package emulator

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Faults injects failures and latency. Faults apply to the Azure DevOps and
// Key Vault routes; when Routes is non-empty they apply to exactly the routes
// whose "METHOD template" or request path contains one of the substrings (so
// Entra routes can be targeted explicitly, e.g. "oauth2/v2.0/token").
// Admin routes (/_emulator/) are never faulted.
type Faults struct {
	// Latency is added to every faulted request.
	Latency Duration `json:"latency,omitempty"`
	// ThrottleRate (0..1) of requests get 429 with Retry-After and X-RateLimit-* headers.
	ThrottleRate float64 `json:"throttleRate,omitempty"`
	// RetryAfter is the Retry-After value of 429s (default 1s, whole seconds).
	RetryAfter Duration `json:"retryAfter,omitempty"`
	// ServerErrorRate (0..1) of requests get 503 with a VSS error body.
	ServerErrorRate float64 `json:"serverErrorRate,omitempty"`
	// SignInPageRate (0..1) of Azure DevOps requests get 203 text/html (sign-in page).
	SignInPageRate float64 `json:"signInPageRate,omitempty"`
	// TokenLifetime of issued access tokens (default 3599s). Not route-filtered.
	TokenLifetime Duration `json:"tokenLifetime,omitempty"`
	// Routes restricts faults to matching routes (substring match).
	Routes []string `json:"routes,omitempty"`
	// Seed makes the fault sequence deterministic (same seed, same request order → same faults).
	Seed int64 `json:"seed,omitempty"`
	// RateLimit is a usage budget on the Azure DevOps routes (whatever
	// Routes says), announced in X-RateLimit-* headers before it blocks
	// with 429 (ratelimit.go). Off by default.
	RateLimit RateLimit `json:"rateLimit,omitzero"`
}

// SetFaults replaces the active faults (and restarts the fault random sequence from f.Seed).
func (e *Emulator) SetFaults(f Faults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.setFaultsLocked(f)
}

// Faults returns the active faults.
func (e *Emulator) Faults() Faults {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.faults
}

func (e *Emulator) setFaultsLocked(f Faults) {
	if f.RateLimit != e.faults.RateLimit {
		e.budget.reset()
	}
	e.faults = f
	e.rng = rand.New(rand.NewPCG(uint64(f.Seed), 0x9e3779b97f4a7c15))
}

// injectFault applies Faults; it reports whether the request was answered.
func (e *Emulator) injectFault(w http.ResponseWriter, r *http.Request, rt *route, key string) bool {
	// Requests share the read lock here; only drawing from the fault
	// sequence (when a rate is set) takes the write lock.
	e.mu.RLock()
	f := e.faults
	e.mu.RUnlock()
	applies := false
	if len(f.Routes) > 0 {
		for _, s := range f.Routes {
			if s != "" && (strings.Contains(key, s) || strings.Contains(r.URL.Path, s)) {
				applies = true
			}
		}
	} else {
		applies = rt.area == "ado" || rt.area == "kv" || rt.area == "graph"
	}
	var u float64
	if applies && (f.ThrottleRate > 0 || f.ServerErrorRate > 0 || f.SignInPageRate > 0) {
		e.mu.Lock()
		u = e.rng.Float64()
		e.mu.Unlock()
	} else {
		u = 2
	}
	if rt.area == "ado" && f.RateLimit.Limit > 0 && e.budget.meter(w, f.RateLimit, e.now()) {
		return true
	}
	if !applies {
		return false
	}
	if f.Latency > 0 {
		t := time.NewTimer(time.Duration(f.Latency))
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	switch {
	case u < f.ThrottleRate:
		ra := time.Duration(f.RetryAfter)
		if ra <= 0 {
			ra = time.Second
		}
		secs := int((ra + time.Second - 1) / time.Second)
		h := w.Header()
		h.Set("Retry-After", strconv.Itoa(secs))
		h.Set("X-RateLimit-Resource", "Core")
		h.Set("X-RateLimit-Delay", "0.000")
		h.Set("X-RateLimit-Limit", "200")
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(e.now().Add(ra).Unix(), 10))
		if rt.area == "graph" {
			writeGraphError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests. (emulator fault injection)")
			return true
		}
		writeVSSError(w, http.StatusTooManyRequests, "RequestBlockedException",
			"TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'Core' in namespace 'User'. (emulator fault injection)")
		return true
	case u < f.ThrottleRate+f.ServerErrorRate && rt.area == "graph":
		writeGraphError(w, http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable. (emulator fault injection)")
		return true
	case u < f.ThrottleRate+f.ServerErrorRate:
		writeVSSError(w, http.StatusServiceUnavailable, "ServiceUnavailableException",
			"TF400898: An Internal Error Occurred. (emulator fault injection)")
		return true
	case u < f.ThrottleRate+f.ServerErrorRate+f.SignInPageRate && rt.area == "ado":
		writeSignInPage(w, http.StatusNonAuthoritativeInfo)
		return true
	}
	return false
}

func (f Faults) validate() error {
	for name, v := range map[string]float64{"throttleRate": f.ThrottleRate, "serverErrorRate": f.ServerErrorRate, "signInPageRate": f.SignInPageRate} {
		if v < 0 || v > 1 {
			return fmt.Errorf("faults.%s = %g: must be between 0 and 1", name, v)
		}
	}
	if f.ThrottleRate+f.ServerErrorRate+f.SignInPageRate > 1 {
		return errors.New("faults: throttleRate + serverErrorRate + signInPageRate exceed 1: lower them")
	}
	if f.Latency < 0 || f.RetryAfter < 0 || f.TokenLifetime < 0 {
		return errors.New("faults: durations must not be negative")
	}
	return f.RateLimit.Validate()
}
