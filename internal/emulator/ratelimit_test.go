package emulator

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// The budget announces itself from half its limit, blocks the request that
// would pass the limit with 429 + Retry-After, decays at limit per window,
// leaves Entra alone, and is off by default.
func TestRateLimitBudget(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	e := start(t, Options{Now: clock})
	e.budget.mono = clock // the budget decays on the wall clock: here, the test's
	auth := userToken(t, e, DefaultUser)
	u := patsURL(e, DefaultOrg, "")
	if r := do(t, e, "GET", u, auth, nil); r.Status != 200 || r.Header.Get("X-RateLimit-Limit") != "" {
		t.Fatalf("budget off: %d, headers %v", r.Status, r.Header)
	}
	// 10 units per 10 s: 1 unit a second decays.
	e.SetFaults(Faults{RateLimit: RateLimit{Limit: 10, Window: Duration(10 * time.Second)}})
	for i := 1; i <= 10; i++ {
		r := do(t, e, "GET", u, auth, nil)
		if r.Status != 200 {
			t.Fatalf("request %d within the budget: %d", i, r.Status)
		}
		rem := r.Header.Get("X-RateLimit-Remaining")
		if (i < 5) != (rem == "") {
			t.Fatalf("request %d (usage %d of 10): Remaining %q; want headers from usage 5 on", i, i, rem)
		}
		if i >= 5 {
			if got, _ := strconv.ParseFloat(rem, 64); got != float64(10-i) || r.Header.Get("X-RateLimit-Limit") != "10" || r.Header.Get("X-RateLimit-Resource") == "" {
				t.Fatalf("request %d: headers %v", i, r.Header)
			}
			reset, _ := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64)
			if want := now.Add(time.Duration(i) * time.Second).Unix(); reset < want || reset > want+1 {
				t.Fatalf("request %d: Reset %d, want about %d (usage %d decays at 1/s)", i, reset, want, i)
			}
		}
	}
	r := do(t, e, "GET", u, auth, nil)
	if r.Status != 429 || r.Header.Get("Retry-After") != "1" || r.Header.Get("X-RateLimit-Remaining") != "0.00" {
		t.Fatalf("over the budget: %d Retry-After %q Remaining %q", r.Status, r.Header.Get("Retry-After"), r.Header.Get("X-RateLimit-Remaining"))
	}
	if _, m := ropc(t, e, DefaultUser, "499b84ac-1321-427f-aa17-267ca6975798/.default"); m["access_token"] == nil {
		t.Fatalf("Entra is not metered: %v", m)
	}
	advance(3 * time.Second) // usage 10 → 7
	for i := range 3 {
		if r := do(t, e, "GET", u, auth, nil); r.Status != 200 {
			t.Fatalf("after decay, request %d: %d", i, r.Status)
		}
	}
	if r := do(t, e, "GET", u, auth, nil); r.Status != 429 {
		t.Fatalf("budget used up again: %d", r.Status)
	}
	if st := e.RateLimitStats(); st.Blocked != 2 || st.Charged != 13 || st.PeakUsage != 10 {
		t.Fatalf("stats %+v, want 13 charged, 2 blocked, peak 10", st)
	}
	e.ResetCounters()
	if st := e.RateLimitStats(); st != (RateLimitStats{}) {
		t.Fatalf("after ResetCounters: %+v", st)
	}
	if r := do(t, e, "GET", u, auth, nil); r.Status != 200 {
		t.Fatalf("after ResetCounters the budget is fresh: %d", r.Status)
	}
	for _, bad := range []RateLimit{{Limit: -1}, {Limit: 1, Cost: 2}, {Limit: 5, Announce: 1.5}} {
		if err := (Faults{RateLimit: bad}).validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
