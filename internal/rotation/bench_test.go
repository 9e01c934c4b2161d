package rotation_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
)

// BenchmarkRotateDue rotates N due PATs (default 200, PATROL_BENCH_CREDS)
// against the emulator with 50 ms injected latency on every Azure DevOps
// call, at concurrency 1, 4, 16, 32 and 64 (PATROL_BENCH_CONC=1,16) and with
// the emulator's usage budget off and on (budget=150per1s: 150 units decaying
// in 1 s, 1 per request, so the fastest runs would pass it;
// PATROL_BENCH_BUDGET=off|on). It reports API calls against the minimum and
// the requests the budget blocked (429s/run: a violation each; the client's
// pacer should keep it at 0).
// The minimum counted is the issue's: 1 sign-in + list pages + create +
// revoke per PAT; patrol adds one deliberate verify call per new PAT
// (a PAT that does not authenticate is never delivered), reported apart.
// Sink writes are local files. Run: go test -run ^$ -bench RotateDue -benchtime 1x ./internal/rotation
func BenchmarkRotateDue(b *testing.B) {
	n := 200
	if v, err := strconv.Atoi(os.Getenv("PATROL_BENCH_CREDS")); err == nil && v > 0 {
		n = v
	}
	concs := []int{1, 4, 16, 32, 64}
	if v := os.Getenv("PATROL_BENCH_CONC"); v != "" {
		concs = nil
		for _, s := range strings.Split(v, ",") {
			c, _ := strconv.Atoi(s)
			concs = append(concs, c)
		}
	}
	budgets := []struct {
		name string
		rl   emulator.RateLimit
	}{{"off", emulator.RateLimit{}}, {"150per1s", emulator.RateLimit{Limit: 150, Window: emulator.Duration(time.Second)}}}
	switch os.Getenv("PATROL_BENCH_BUDGET") {
	case "off":
		budgets = budgets[:1]
	case "on":
		budgets = budgets[1:]
	}
	for _, budget := range budgets {
		for _, conc := range concs {
			benchRotateDue(b, n, conc, budget.name, budget.rl)
		}
	}
}

func benchRotateDue(b *testing.B, n, conc int, budgetName string, budget emulator.RateLimit) {
	b.Run(fmt.Sprintf("creds=%d/budget=%s/concurrency=%d", n, budgetName, conc), func(b *testing.B) {
		var calls, minimum, blocked int64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			h := benchHarness(b, n)
			h.conc = conc
			h.timeout = 30 * time.Minute
			h.emu.SetFaults(emulator.Faults{Latency: emulator.Duration(50 * time.Millisecond), RateLimit: budget})
			h.emu.ResetCounters()
			b.StartTimer()
			rep := h.run(false, nil)
			b.StopTimer()
			if err := rep.Err(); err != nil {
				b.Fatal(err)
			}
			for _, r := range rep.Results {
				if r.Action != rotation.ActionRenew || len(r.Revoked) != 1 {
					b.Fatalf("not a plain renewal: %+v", r)
				}
			}
			var total, signIns, lists int64
			for k, v := range h.emu.Counters() {
				total += v
				if strings.Contains(k, "oauth2/v2.0/token") {
					signIns += v
				}
				if strings.HasPrefix(k, "GET /vssps/{org}/_apis/tokens/pats") {
					lists += v
				}
			}
			calls += total
			blocked += h.emu.RateLimitStats().Blocked
			pages := int64((n + 99) / 100)
			minimum += 1 + pages + 2*int64(n)
			if signIns != 1 || (lists != pages && budget.Limit == 0) {
				b.Fatalf("sign-ins %d (want 1), list pages %d (want %d)", signIns, lists, pages)
			}
		}
		b.ReportMetric(float64(calls)/float64(b.N), "calls/run")
		b.ReportMetric(float64(blocked)/float64(b.N), "429s/run")
		b.ReportMetric(float64(minimum)/float64(b.N), "min-calls/run")
		b.ReportMetric(float64(n), "verify-calls/run")
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/float64(n), "ms/credential")
	})
}

// benchHarness seeds n managed PATs created 25 days ago (due: 1/3 of 30d
// left = 10d) and n file sinks holding them.
func benchHarness(b *testing.B, n int) *harness {
	seed := emulator.DefaultSeed()
	created := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC).Add(-25 * 24 * time.Hour)
	var creds []config.Credential
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("c%04d", i)
		seed.PATs = append(seed.PATs, emulator.SeedPAT{
			AuthorizationID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Owner: emulator.DefaultUser, Org: emulator.DefaultOrg,
			DisplayName: rotation.DisplayName(name, created), Scope: "vso.code", ValidFrom: created, ValidTo: created.Add(30 * 24 * time.Hour),
			Token: fmt.Sprintf("seededsecret%040d", i),
		})
		creds = append(creds, fileCred(name, 1))
	}
	h := newHarness(b, &seed, creds...)
	for i, c := range creds {
		fs, err := sink.NewFile(sink.FileParams{Type: "file", Path: h.sinkPath(c.Name, 0), Format: sink.FormatRaw, Mode: "0600"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		p := seed.PATs[i]
		if err := fs.Write(context.Background(), p.Token, sink.Meta{Credential: c.Name, AuthorizationID: p.AuthorizationID, ValidTo: p.ValidTo, RotatedAt: created}); err != nil {
			b.Fatal(err)
		}
	}
	return h
}
