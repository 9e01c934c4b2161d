package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/audit"
	"github.com/patrol-dev/patrol/internal/emulator"
)

// auditWorld: an emulator whose seed holds PATs of two users — a global
// one, a full-scope one, one expiring soon, one patrol manages, an expired
// and a revoked one — and one PAT reported as found in public.
func auditWorld(t *testing.T) (*emulator.Emulator, map[string]string, map[string]string) {
	t.Helper()
	now := time.Now().UTC()
	seed := emulator.DefaultSeed()
	ids := map[string]string{
		"global": "11111111-0000-4000-8000-000000000001", "full": "11111111-0000-4000-8000-000000000002",
		"soon": "11111111-0000-4000-8000-000000000003", "managed": "11111111-0000-4000-8000-000000000004",
		"expired": "11111111-0000-4000-8000-000000000005", "revoked": "11111111-0000-4000-8000-000000000006",
		"leaked": "11111111-0000-4000-8000-000000000007", "fine": "11111111-0000-4000-8000-000000000008",
	}
	pat := func(key, owner, name, scope string, from, to time.Time) emulator.SeedPAT {
		return emulator.SeedPAT{AuthorizationID: ids[key], Owner: owner, Org: emulator.DefaultOrg, DisplayName: name, Scope: scope, ValidFrom: from, ValidTo: to}
	}
	g := pat("global", emulator.DefaultUser, "old-global", "vso.code", now.Add(-100*24*time.Hour), now.Add(30*24*time.Hour))
	g.Global = true
	rv := pat("revoked", emulator.AdminUser, "gone", "app_token", now.Add(-time.Hour), now.Add(24*time.Hour))
	rv.Revoked = true
	seed.PATs = []emulator.SeedPAT{
		g,
		pat("full", emulator.AdminUser, "=cmd|' /C calc'!A0", "app_token", now.Add(-time.Hour), now.Add(60*24*time.Hour)),
		pat("soon", emulator.DefaultUser, "build-agent", "vso.agentpools_manage", now.Add(-20*24*time.Hour), now.Add(3*24*time.Hour)),
		pat("managed", emulator.DefaultUser, "patrol:agents:20261201T000000Z-0a1b2c3d", "vso.code", now.Add(-27*24*time.Hour), now.Add(3*24*time.Hour)),
		pat("expired", emulator.DefaultUser, "expired-one", "vso.code", now.Add(-40*24*time.Hour), now.Add(-24*time.Hour)),
		rv,
		pat("leaked", emulator.DefaultUser, "pasted-in-a-gist", "vso.code", now.Add(-time.Hour), now.Add(20*24*time.Hour)),
		pat("fine", emulator.DefaultUser, "<script>alert(1)</script>", "vso.code", now.Add(-time.Hour), now.Add(10*24*time.Hour)),
	}
	e, env := emuEnvOpts(t, emulator.Options{Seed: &seed})
	env["AZURE_USERNAME"] = emulator.AdminUser
	return e, env, ids
}

func markDiscovered(t *testing.T, env map[string]string, e *emulator.Emulator, id string) {
	t.Helper()
	a := newApp(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
	hc, err := a.httpClient()
	if err != nil {
		t.Fatal(err)
	}
	r, err := hc.Post(e.URL()+"/_emulator/pats/"+id+"/discovered", "application/json", nil)
	if err != nil || r.StatusCode != 204 {
		t.Fatalf("discovered: %v %v", r, err)
	}
	r.Body.Close()
}

func TestAuditFindings(t *testing.T) {
	e, env, ids := auditWorld(t)
	markDiscovered(t, env, e, ids["leaked"])
	code, out, errb := runEP(t, env, "", "audit", "-o", "json", "--max-lifetime", "90d", "--expiring-within", "7d")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	var r audit.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	got := map[string]audit.Severity{}
	for _, f := range r.Findings {
		got[f.Rule+" "+f.AuthorizationID] = f.Severity
	}
	want := map[string]audit.Severity{
		"global " + ids["global"]:           audit.High,
		"long-lived " + ids["global"]:       audit.Medium, // 130 days
		"full-scope " + ids["full"]:         audit.High,
		"expiring " + ids["soon"]:           audit.Medium,
		"expiring " + ids["managed"]:        audit.Low, // patrol renews it
		"public-discovery " + ids["leaked"]: audit.Critical,
		"system-revoked " + ids["leaked"]:   audit.High,
	}
	for k, sev := range want {
		if got[k] != sev {
			t.Errorf("finding %s: %q, want %q", k, got[k], sev)
		}
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want exactly %v", got, want)
	}
	if r.Findings[0].Severity != audit.Critical {
		t.Errorf("most severe first: %+v", r.Findings[0])
	}
	s := r.Summary
	if s.Users != 4 || s.PATs != 8 || s.Active != 5 || s.Expired != 1 || s.Revoked != 2 || s.Global != 1 || s.FullScope != 1 || s.Managed != 1 {
		t.Errorf("summary %+v", s)
	}

	// Not an administrator: TokenAdmin refuses, with its reason.
	env["AZURE_USERNAME"] = emulator.DefaultUser
	code, _, errb = runEP(t, env, "", "audit")
	if code == 0 || !strings.Contains(errb, "Project Collection Administrator") {
		t.Fatalf("non-admin: exit %d: %s", code, errb)
	}
}

func TestAuditCSVDefusesFormulas(t *testing.T) {
	_, env, _ := auditWorld(t)
	code, out, errb := runEP(t, env, "", "audit", "pats", "-o", "csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+8 || rows[0][0] != "OWNER" {
		t.Fatalf("%d rows: %v", len(rows), rows)
	}
	for _, r := range rows {
		if strings.HasPrefix(r[1], "=") {
			t.Fatalf("a cell starts with a formula: %q", r[1])
		}
	}
}

func TestAuditRevokePlansFirstAndSparesManaged(t *testing.T) {
	e, env, ids := auditWorld(t)
	// The plan: nothing revoked.
	code, out, errb := runEP(t, env, "", "audit", "revoke", "--rule", "expires-within=7d")
	if code != 0 || !strings.Contains(out, "build-agent") || strings.Contains(out, "patrol:agents") || !strings.Contains(errb, "--yes") || !strings.Contains(errb, "managed by patrol") {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errb)
	}
	if e.PATIsRevoked(ids["soon"]) {
		t.Fatal("the plan revoked a PAT")
	}
	code, _, errb = runEP(t, env, "", "audit", "revoke", "--rule", "expires-within=7d", "--yes")
	if code != 0 || !e.PATIsRevoked(ids["soon"]) || e.PATIsRevoked(ids["managed"]) || e.PATIsRevoked(ids["fine"]) {
		t.Fatalf("--yes: exit %d, soon %v managed %v fine %v: %s", code, e.PATIsRevoked(ids["soon"]), e.PATIsRevoked(ids["managed"]), e.PATIsRevoked(ids["fine"]), errb)
	}
	code, _, _ = runEP(t, env, "", "audit", "revoke", "--rule", "global", "--rule", "owner="+emulator.DefaultUser, "--yes")
	if code != 0 || !e.PATIsRevoked(ids["global"]) {
		t.Fatal("global PAT not revoked")
	}
	code, _, _ = runEP(t, env, "", "audit", "revoke", "--rule", "expires-within=7d", "--include-managed", "--yes")
	if code != 0 || !e.PATIsRevoked(ids["managed"]) {
		t.Fatal("--include-managed did not revoke the managed PAT")
	}
	for _, bad := range [][]string{{}, {"--rule", "everything"}, {"--rule", "older-than=soon"}, {"--rule", "name=[x"}} {
		code, _, errb := runEP(t, env, "", append([]string{"audit", "revoke"}, bad...)...)
		if code != 2 || !strings.Contains(errb, "rule") {
			t.Fatalf("%v: exit %d: %s", bad, code, errb)
		}
	}
}

// TestAuditHTMLInChromium renders the report in headless Chromium and
// checks the page Chromium built: the charts' bars, the findings' rows, the
// escaped display name, and that the page loads nothing from outside.
func TestAuditHTMLInChromium(t *testing.T) {
	chromium := findChromium(t)
	e, env, ids := auditWorld(t)
	markDiscovered(t, env, e, ids["leaked"])
	report := filepath.Join(t.TempDir(), "audit.html")
	if code, _, errb := runEP(t, env, "", "audit", "--html", report, "--max-lifetime", "0"); code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	if fi, err := os.Stat(report); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("report file: %v %v", fi, err)
	}
	dom := renderDOM(t, chromium, report)
	for _, want := range []string{`id="chart-expiry"`, `id="chart-severity"`, `data-severity="critical"`, `data-rule="public-discovery"`,
		`&lt;script&gt;alert(1)&lt;/script&gt;`, `data-action="PatPublicDiscoveryEvent"`,
		// patrol's app has no Graph consent here: the report says what it could not check.
		`id="notices"`, `data-topic="owners"`, `id="sum-owners-departed"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %s", want)
		}
	}
	if strings.Contains(dom, "<script>alert(1)</script>") {
		t.Error("a display name became markup")
	}
	// One bar per week of the expiry chart, carrying the active PATs.
	if n := strings.Count(dom, `class="bar"`); n != audit.ExpiryWeeks {
		t.Errorf("%d expiry bars, want %d", n, audit.ExpiryWeeks)
	}
	if strings.Count(dom, `class="finding"`) < 5 {
		t.Errorf("findings rows: %d", strings.Count(dom, `class="finding"`))
	}
	// Self-contained: nothing to load (no src or href at all), and a CSP
	// that would block it anyway.
	for _, attr := range []string{" src=", " href=", "<link", "<script"} {
		if strings.Contains(dom, attr) {
			t.Errorf("the page has %q: it must load nothing", attr)
		}
	}
	if !strings.Contains(dom, "default-src 'none'") {
		t.Error("no Content-Security-Policy")
	}
	png := filepath.Join(t.TempDir(), "shot.png")
	screenshot(t, chromium, report, png)
	if fi, err := os.Stat(png); err != nil || fi.Size() < 5000 {
		t.Fatalf("screenshot: %v %v", fi, err)
	}
}

func TestAuditEndpoints(t *testing.T) {
	seed := emulator.DefaultSeed()
	// 150 projects: the projects listing pages ($top 100).
	for i := 0; i < 150; i++ {
		seed.Orgs[0].Projects = append(seed.Orgs[0].Projects, emulator.Project{Name: fmt.Sprintf("p%03d", i), ID: fmt.Sprintf("22222222-0000-4000-8000-%012d", i)})
	}
	seed.ServiceEndpoints = []emulator.SeedEndpoint{
		{Org: emulator.DefaultOrg, Project: "p149", Name: "arm-secret", Type: "azurerm", URL: "https://management.azure.com/", Scheme: "ServicePrincipal",
			Data:       map[string]string{"environment": "AzureCloud", "scopeLevel": "Subscription", "subscriptionId": "s", "subscriptionName": "S"},
			Parameters: map[string]string{"serviceprincipalid": "app", "serviceprincipalkey": "not-a-real-key", "tenantid": emulator.DefaultTenantID, "authenticationType": "spnKey"}},
		{Org: emulator.DefaultOrg, Project: "p000", Name: "arm-wif", Type: "azurerm", URL: "https://management.azure.com/", Scheme: "WorkloadIdentityFederation",
			Data:       map[string]string{"environment": "AzureCloud", "scopeLevel": "Subscription", "subscriptionId": "s", "subscriptionName": "S"},
			Parameters: map[string]string{"serviceprincipalid": "app", "tenantid": emulator.DefaultTenantID}},
	}
	_, env := emuEnvOpts(t, emulator.Options{Seed: &seed})
	env["AZURE_USERNAME"] = emulator.AdminUser
	code, out, errb := runEP(t, env, "", "audit", "endpoints", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	var eps []audit.Endpoint
	if err := json.Unmarshal([]byte(out), &eps); err != nil {
		t.Fatal(err)
	}
	by := map[string]audit.Endpoint{}
	for _, e := range eps {
		by[e.Name] = e
	}
	if e := by["arm-secret"]; !e.Secret || !e.ConvertibleToWIF || e.Project != "p149" {
		t.Errorf("arm-secret: %+v", e)
	}
	if e := by["arm-wif"]; e.Secret || e.ConvertibleToWIF {
		t.Errorf("arm-wif: %+v", e)
	}
	code, out, errb = runEP(t, env, "", "audit", "-o", "json")
	var r audit.Report
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("exit %d: %s", code, errb)
	}
	found := false
	for _, f := range r.Findings {
		if f.Rule == audit.RuleEndpointSecret && f.DisplayName == "p149/arm-secret" {
			found = true
		}
	}
	if !found || r.Summary.Endpoints != len(eps) || r.Summary.Convertible != 1 {
		t.Fatalf("findings %+v, summary %+v", r.Findings, r.Summary)
	}
	if strings.Contains(out, "not-a-real-key") {
		t.Fatal("a connection's secret reached the report")
	}
}
