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

const (
	leaverUPN      = "leaver@" + emulator.DefaultTenantDomain
	expiringApp    = "77777777-0000-4000-8000-000000000001"
	expiredApp     = "77777777-0000-4000-8000-000000000002"
	unknownApp     = "77777777-0000-4000-8000-0000000000ff"
	extraOwners    = 45
	graphScopesKey = "https://graph.microsoft.com"
)

// ownersWorld: auditWorld plus a departed user (deleted in Entra, still a
// member) and the disabled user each with an active PAT, 45 more users, and
// Azure RM connections whose applications have a password expiring in 3
// days (and one in 200), only expired passwords, a long-lived one, or are
// not in the tenant — 30 connections of the same application among them.
// graphPerms: the delegated Graph permissions consented for patrol's app.
func ownersWorld(t *testing.T, graphPerms []string) (*emulator.Emulator, map[string]string) {
	t.Helper()
	now := time.Now().UTC()
	seed := emulator.DefaultSeed()
	seed.Users = append(seed.Users, emulator.User{UPN: leaverUPN, Password: emulator.DefaultPassword, ObjectID: "77777777-1111-4000-8000-000000000001",
		TenantID: emulator.DefaultTenantID, DisplayName: "Leaver", Deleted: true})
	seed.Orgs[0].Members = append(seed.Orgs[0].Members, leaverUPN)
	for i := range extraOwners {
		upn := fmt.Sprintf("dev%02d@%s", i, emulator.DefaultTenantDomain)
		seed.Users = append(seed.Users, emulator.User{UPN: upn, Password: emulator.DefaultPassword, ObjectID: fmt.Sprintf("77777777-2222-4000-8000-%012d", i), TenantID: emulator.DefaultTenantID})
		seed.Orgs[0].Members = append(seed.Orgs[0].Members, upn)
	}
	pat := func(id, owner, name string) emulator.SeedPAT {
		return emulator.SeedPAT{AuthorizationID: id, Owner: owner, Org: emulator.DefaultOrg, DisplayName: name, Scope: "vso.code",
			ValidFrom: now.Add(-time.Hour), ValidTo: now.Add(30 * 24 * time.Hour)}
	}
	seed.PATs = []emulator.SeedPAT{
		pat("88888888-0000-4000-8000-000000000001", leaverUPN, "leavers-deploy"),
		pat("88888888-0000-4000-8000-000000000002", emulator.DisabledUser, "disabled-build"),
		pat("88888888-0000-4000-8000-000000000003", emulator.DefaultUser, "still-here"),
	}
	seed.Apps = append(seed.Apps,
		emulator.App{ClientID: expiringApp, TenantID: emulator.DefaultTenantID, DisplayName: "deploy-expiring", Secrets: []string{"s-one", "s-two"},
			SecretEnds: []time.Time{now.Add(3 * 24 * time.Hour), now.Add(200 * 24 * time.Hour)}},
		emulator.App{ClientID: expiredApp, TenantID: emulator.DefaultTenantID, DisplayName: "deploy-expired", Secrets: []string{"s-old"},
			SecretEnds: []time.Time{now.Add(-24 * time.Hour)}})
	for i := range seed.Apps {
		if seed.Apps[i].ClientID == emulator.DefaultClientID && graphPerms != nil {
			seed.Apps[i].ConsentedScopes = map[string][]string{graphScopesKey: graphPerms}
		}
	}
	arm := func(name, appID string) emulator.SeedEndpoint {
		return emulator.SeedEndpoint{Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: name, Type: "azurerm", URL: "https://management.azure.com/", Scheme: "ServicePrincipal",
			Data:       map[string]string{"environment": "AzureCloud", "scopeLevel": "Subscription", "subscriptionId": "s", "subscriptionName": "S"},
			Parameters: map[string]string{"serviceprincipalid": appID, "serviceprincipalkey": "not-a-real-key", "tenantid": emulator.DefaultTenantID, "authenticationType": "spnKey"}}
	}
	seed.ServiceEndpoints = []emulator.SeedEndpoint{arm("arm-expiring", expiringApp), arm("arm-expired", expiredApp),
		arm("arm-fine", emulator.ManagedAppClientID), arm("arm-elsewhere", unknownApp)}
	for i := range 30 {
		seed.ServiceEndpoints = append(seed.ServiceEndpoints, arm(fmt.Sprintf("arm-same-%02d", i), emulator.ManagedAppClientID))
	}
	e, env := emuEnvOpts(t, emulator.Options{Seed: &seed})
	env["AZURE_USERNAME"] = emulator.AdminUser
	return e, env
}

func findingsBy(r audit.Report) map[string]audit.Finding {
	m := map[string]audit.Finding{}
	for _, f := range r.Findings {
		m[f.Rule+" "+f.DisplayName] = f
	}
	return m
}

func TestAuditOwnersAndConnectionSecrets(t *testing.T) {
	e, env := ownersWorld(t, []string{"User.Read.All", "Application.Read.All"})
	e.ResetCounters()
	code, out, errb := runEP(t, env, "", "audit", "-o", "json", "--expiring-within", "14d")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	var r audit.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	got := findingsBy(r)
	for key, sev := range map[string]audit.Severity{
		"owner-departed leavers-deploy":                                         audit.High,
		"owner-disabled disabled-build":                                         audit.High,
		"endpoint-secret-expiring " + emulator.DefaultProject + "/arm-expiring": audit.Medium,
		"endpoint-secret-expired " + emulator.DefaultProject + "/arm-expired":   audit.High,
	} {
		if f, ok := got[key]; !ok || f.Severity != sev {
			t.Errorf("finding %s: %+v, want severity %s", key, f, sev)
		}
	}
	for key := range got {
		if strings.Contains(key, "still-here") && strings.HasPrefix(key, "owner-") || strings.Contains(key, "arm-fine") && strings.HasPrefix(key, "endpoint-secret-exp") ||
			strings.Contains(key, "arm-elsewhere") && strings.HasPrefix(key, "endpoint-secret-exp") {
			t.Errorf("unexpected finding %s", key)
		}
	}
	f := got["endpoint-secret-expiring "+emulator.DefaultProject+"/arm-expiring"]
	if !strings.Contains(f.Message, "cannot tell which") || !strings.Contains(f.Fix, "patrol endpoint convert-to-wif arm-expiring") {
		t.Errorf("expiring secret finding: %+v", f)
	}
	if len(r.Notices) != 0 || r.Summary.OwnersDisabled != 1 || r.Summary.OwnersDeparted != 1 {
		t.Errorf("notices %v, summary %+v", r.Notices, r.Summary)
	}
	// Batched and bounded: users/20 batches for the owners, one for the 4
	// distinct applications of the 34 connections; no per-PAT or per-user call.
	users := r.Summary.Users
	c := e.Counters()
	if want := int64((users+19)/20 + 1); c["POST /v1.0/$batch"] != want || c["GET /v1.0/users/{id}"] != 0 {
		t.Errorf("%d users, 34 connections: %d Graph batches (want %d), counters %v", users, c["POST /v1.0/$batch"], want, c)
	}

	// The connections' table shows when each application's passwords end.
	code, out, errb = runEP(t, env, "", "audit", "endpoints", "-o", "csv")
	if code != 0 {
		t.Fatalf("endpoints: exit %d: %s", code, errb)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, h := range rows[0] {
		if h == "SECRET EXPIRES" {
			col = i
		}
	}
	cells := map[string]string{}
	for _, row := range rows[1:] {
		cells[row[1]] = row[col]
	}
	day := func(d time.Duration) string { return time.Now().UTC().Add(d).Format(time.DateOnly) }
	if cells["arm-expiring"] != day(3*24*time.Hour)+" .. "+day(200*24*time.Hour) || !strings.Contains(cells["arm-elsewhere"], "application not found") ||
		cells["arm-expired"] != day(-24*time.Hour) {
		t.Errorf("SECRET EXPIRES cells: %v", cells)
	}
	// audit pats: the owner's state per PAT.
	code, out, _ = runEP(t, env, "", "audit", "pats", "-o", "json")
	var pats []audit.PAT
	if code != 0 || json.Unmarshal([]byte(out), &pats) != nil {
		t.Fatalf("pats: exit %d %s", code, out)
	}
	for _, p := range pats {
		if want := map[string]string{"leavers-deploy": "departed", "disabled-build": "disabled", "still-here": "active"}[p.DisplayName]; p.OwnerState != want {
			t.Errorf("%s: owner state %q, want %q", p.DisplayName, p.OwnerState, want)
		}
	}

	// In the HTML report, with the cards of owners.
	report := filepath.Join(t.TempDir(), "a.html")
	if code, _, errb := runEP(t, env, "", "audit", "--html", report); code != 0 {
		t.Fatalf("html: %d %s", code, errb)
	}
	page, _ := os.ReadFile(report)
	for _, want := range []string{`data-rule="owner-departed"`, `data-rule="endpoint-secret-expired"`, `id="sum-owners-departed"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("HTML lacks %s", want)
		}
	}
}

// Without Graph permissions the audit still succeeds, says once per topic
// what it could not check, and still reports what Azure DevOps tells
// (a user deleted in Entra is isDeletedInOrigin).
func TestAuditWithoutGraphPermission(t *testing.T) {
	_, env := ownersWorld(t, nil)
	code, out, errb := runEP(t, env, "", "audit", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	var r audit.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int{}
	for _, n := range r.Notices {
		topics[n.Topic]++
		if n.Level != "warn" || !strings.Contains(n.Fix, ".Read.All") {
			t.Errorf("notice %+v", n)
		}
	}
	if topics[audit.NoticeOwners] != 1 || topics[audit.NoticeEndpointSecrets] != 1 || len(r.Notices) != 2 {
		t.Errorf("notices %+v", r.Notices)
	}
	if strings.Count(errb, "warn: ") != 2 || !strings.Contains(errb, "User.Read.All") {
		t.Errorf("stderr should say it once per topic:\n%s", errb)
	}
	got := findingsBy(r)
	if _, ok := got["owner-departed leavers-deploy"]; !ok {
		t.Errorf("isDeletedInOrigin not reported without Graph: %v", got)
	}
	if _, ok := got["owner-disabled disabled-build"]; ok {
		t.Error("a disabled owner reported without reading Graph")
	}
	for k := range got {
		if strings.HasPrefix(k, "endpoint-secret-exp") {
			t.Errorf("secret expiry without reading Graph: %s", k)
		}
	}
}

func TestAuditRevokeOwnersGone(t *testing.T) {
	e, env := ownersWorld(t, []string{"User.Read.All"})
	code, out, errb := runEP(t, env, "", "audit", "revoke", "--rule", "owner-disabled", "-o", "json")
	var plan revokePlan
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || len(plan.Selected) != 1 || plan.Selected[0].DisplayName != "disabled-build" || plan.Revoked {
		t.Fatalf("plan: exit %d %s %s", code, out, errb)
	}
	code, _, errb = runEP(t, env, "", "audit", "revoke", "--rule", "owner-departed", "--yes")
	if code != 0 || !e.PATIsRevoked("88888888-0000-4000-8000-000000000001") || e.PATIsRevoked("88888888-0000-4000-8000-000000000002") || e.PATIsRevoked("88888888-0000-4000-8000-000000000003") {
		t.Fatalf("--rule owner-departed --yes: exit %d: %s", code, errb)
	}
	// Without Graph: owner-disabled selects nothing and says why.
	_, env = ownersWorld(t, nil)
	code, out, errb = runEP(t, env, "", "audit", "revoke", "--rule", "owner-disabled", "--yes", "-o", "json")
	plan = revokePlan{}
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || len(plan.Selected) != 0 || !strings.Contains(errb, "User.Read.All") {
		t.Fatalf("without Graph: exit %d %s %s", code, out, errb)
	}
}
