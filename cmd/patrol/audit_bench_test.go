package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/emulator"
)

// BenchmarkAuditScale runs `patrol audit pats -o json` and `patrol audit -o
// json` (PATs, service connections, audit log) as processes against an
// emulator holding P PATs of P/100 users and 5,000 service connections in
// 50 projects, and reports each run's peak RSS and largest GC heap: flat in
// P is the goal (issue 13: "memory flat in the number of PATs and
// connections"), and the Microsoft Graph batches each run sends (owners and
// the connections' application: users/20 + 1). PATROL_BENCH_BIN benchmarks
// another build.
func BenchmarkAuditScale(b *testing.B) {
	bin := os.Getenv("PATROL_BENCH_BIN")
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "patrol")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	for _, p := range []int{10000, 100000} {
		seed := emulator.DefaultSeed()
		users := p / 100
		now := time.Now().UTC()
		for u := range users {
			upn := fmt.Sprintf("bench%05d@contoso.example", u)
			seed.Users = append(seed.Users, emulator.User{UPN: upn, Password: emulator.DefaultPassword, ObjectID: fmt.Sprintf("33333333-0000-4000-8000-%012d", u), TenantID: emulator.DefaultTenantID, DisplayName: "Bench"})
			seed.Orgs[0].Members = append(seed.Orgs[0].Members, upn)
			for i := range 100 {
				seed.PATs = append(seed.PATs, emulator.SeedPAT{Owner: upn, Org: emulator.DefaultOrg, DisplayName: fmt.Sprintf("pat-%d", i),
					Scope: "vso.code", ValidFrom: now.Add(-time.Duration(i) * 24 * time.Hour), ValidTo: now.Add(time.Duration(i%60+1) * 24 * time.Hour)})
			}
		}
		for pr := range 50 {
			name := fmt.Sprintf("proj%02d", pr)
			seed.Orgs[0].Projects = append(seed.Orgs[0].Projects, emulator.Project{Name: name, ID: fmt.Sprintf("44444444-0000-4000-8000-%012d", pr)})
			for i := range 100 {
				seed.ServiceEndpoints = append(seed.ServiceEndpoints, emulator.SeedEndpoint{Org: emulator.DefaultOrg, Project: name, Name: fmt.Sprintf("arm-%d", i),
					Type: "azurerm", URL: "https://management.azure.com/", Scheme: "ServicePrincipal",
					Data:       map[string]string{"environment": "AzureCloud", "scopeLevel": "Subscription", "subscriptionId": "s", "subscriptionName": "S"},
					Parameters: map[string]string{"serviceprincipalid": "app", "serviceprincipalkey": "k", "tenantid": emulator.DefaultTenantID, "authenticationType": "spnKey"}})
			}
		}
		// patrol's app may read Graph users and applications: the report run
		// looks up every owner and the connections' application, in batches.
		for i := range seed.Apps {
			if seed.Apps[i].ClientID == emulator.DefaultClientID {
				seed.Apps[i].ConsentedScopes = map[string][]string{"https://graph.microsoft.com": {"User.Read.All", "Application.Read.All"}}
			}
		}
		e, env := emuEnvOpts(b, emulator.Options{Seed: &seed})
		env["AZURE_USERNAME"] = emulator.AdminUser
		for _, run := range []struct {
			name string
			args []string
		}{{"inventory", []string{"audit", "pats", "-o", "json"}}, {"report", []string{"audit", "-o", "json"}}} {
			args := run.args
			b.Run(fmt.Sprintf("%s/pats=%d", run.name, p), func(b *testing.B) {
				var rss, heap float64
				before := e.Counters()["POST /v1.0/$batch"]
				for range b.N {
					var out countingWriter
					r, _, h := runMeasured(b, bin, env, &out, args...)
					rss, heap = max(rss, r), max(heap, h)
				}
				b.ReportMetric(rss, "peak-rss-MB")
				b.ReportMetric(heap, "peak-heap-MB")
				// Graph lookups grow with users/20 (+ distinct apps/20), not with PATs.
				b.ReportMetric(float64(e.Counters()["POST /v1.0/$batch"]-before)/float64(b.N), "graph-batches/op")
			})
		}
	}
}
