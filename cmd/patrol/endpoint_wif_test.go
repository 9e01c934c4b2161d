package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/emulator"
)

func azureRMSeed(name, clientID, secret string) emulator.SeedEndpoint {
	return emulator.SeedEndpoint{Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: name, Type: "azurerm",
		URL: "https://management.azure.com/", Data: map[string]string{"environment": "AzureCloud", "scopeLevel": "Subscription",
			"subscriptionId": "11111111-2222-4333-8444-555555555555", "subscriptionName": "prod", "creationMode": "Manual"},
		Scheme: "ServicePrincipal", Parameters: map[string]string{"serviceprincipalid": clientID, "tenantid": emulator.DefaultTenantID,
			"authenticationType": "spnKey", "serviceprincipalkey": secret}}
}

func endpointScheme(t *testing.T, env map[string]string, name string) string {
	t.Helper()
	code, out, errs := runEP(t, env, "", "endpoint", "get", name, "-o", "json")
	if code != 0 {
		t.Fatalf("get %s: exit %d %s %s", name, code, out, errs)
	}
	var ep struct {
		Authorization struct{ Scheme string } `json:"authorization"`
	}
	if err := json.Unmarshal([]byte(out), &ep); err != nil {
		var list []json.RawMessage
		if json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || json.Unmarshal(list[0], &ep) != nil {
			t.Fatalf("get output: %s", out)
		}
	}
	return ep.Authorization.Scheme
}

// A secret-based Azure RM connection converts to workload identity
// federation end to end (federated credential added through Graph,
// conversion, TestConnection) and back; the plan changes nothing.
func TestEndpointConvertToWIF(t *testing.T) {
	seed := emulator.DefaultSeed()
	seed.ServiceEndpoints = []emulator.SeedEndpoint{
		azureRMSeed("deploy", emulator.ManagedAppClientID, emulator.ManagedAppSecret),
		azureRMSeed("not-owned", emulator.ConfidentialClientID, emulator.ConfidentialClientSecret),
	}
	_, env := emuEnvOpts(t, emulator.Options{Seed: &seed})
	env["PATROL_PROJECT"] = emulator.DefaultProject

	code, out, errs := runEP(t, env, "", "endpoint", "convert-to-wif", "--all", "-o", "json")
	if code != 0 || strings.Count(out, `"action": "plan"`) != 2 {
		t.Fatalf("plan --all: exit %d %s %s", code, out, errs)
	}
	code, out, errs = runEP(t, env, "", "endpoint", "convert-to-wif", "deploy", "-o", "json")
	if code != 0 || !strings.Contains(out, `"action": "plan"`) || !strings.Contains(out, "sc://contoso/Platform/deploy") ||
		!strings.Contains(out, "https://vstoken.dev.azure.com/"+emulator.DefaultOrgID) {
		t.Fatalf("plan: exit %d %s %s", code, out, errs)
	}
	if s := endpointScheme(t, env, "deploy"); s != "ServicePrincipal" {
		t.Fatalf("the plan changed the scheme to %s", s)
	}
	code, out, errs = runEP(t, env, "", "endpoint", "convert-to-wif", "deploy", "--yes", "-o", "json")
	if code != 0 || !strings.Contains(out, `"action": "converted"`) || !strings.Contains(out, `"verified": true`) ||
		!strings.Contains(out, `"revertDeadline": "20`) || strings.Contains(out+errs, emulator.ManagedAppSecret) {
		t.Fatalf("convert: exit %d %s %s", code, out, errs)
	}
	if s := endpointScheme(t, env, "deploy"); s != "WorkloadIdentityFederation" {
		t.Fatalf("scheme after convert = %s", s)
	}
	code, out, errs = runEP(t, env, "", "endpoint", "convert-to-wif", "deploy", "--revert", "--yes", "-o", "json")
	if code != 0 || !strings.Contains(out, `"action": "reverted"`) {
		t.Fatalf("revert: exit %d %s %s", code, out, errs)
	}
	if s := endpointScheme(t, env, "deploy"); s != "ServicePrincipal" {
		t.Fatalf("scheme after revert = %s", s)
	}
	// The signed-in user does not own the second connection's application:
	// Graph refuses the federated credential, and the connection is left as it was.
	code, out, errs = runEP(t, env, "", "endpoint", "convert-to-wif", "not-owned", "--yes", "-o", "json")
	if code == 0 || !strings.Contains(out+errs, "Authorization_RequestDenied") {
		t.Fatalf("not owned: exit %d %s %s", code, out, errs)
	}
	if s := endpointScheme(t, env, "not-owned"); s != "ServicePrincipal" {
		t.Fatalf("a refused conversion changed the scheme to %s", s)
	}
	if code, _, errs := runEP(t, env, "", "endpoint", "convert-to-wif", "--revert", "deploy"); code == 0 || !strings.Contains(errs, "revert") {
		t.Fatalf("revert of an unconverted connection: exit %d %s", code, errs)
	}
}

// A conversion that does not verify (here: the service reports the
// converted connection Failed) is reverted at once and reported as failed.
func TestEndpointConvertToWIFRevertsWhenNotVerified(t *testing.T) {
	seed := emulator.DefaultSeed()
	seed.ServiceEndpoints = []emulator.SeedEndpoint{azureRMSeed("deploy", emulator.ManagedAppClientID, emulator.ManagedAppSecret)}
	e, env := emuEnvOpts(t, emulator.Options{Seed: &seed})
	env["PATROL_PROJECT"] = emulator.DefaultProject
	e.SetEndpointBehavior(emulator.EndpointBehavior{Fail: true})
	code, out, errs := runEP(t, env, "", "endpoint", "convert-to-wif", "deploy", "--yes", "-o", "json")
	if code == 0 || !strings.Contains(out, `"action": "failed"`) || !strings.Contains(out, "reverted to ServicePrincipal") {
		t.Fatalf("convert: exit %d %s %s", code, out, errs)
	}
	var rows []struct{ ID string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("report: %v %s", err, out)
	}
	// Reverted: the secret-based parameters are back (a converted connection has no serviceprincipalkey).
	if v, ok := e.ServiceEndpointSecret(emulator.DefaultOrg, rows[0].ID, "serviceprincipalkey"); !ok || v != emulator.ManagedAppSecret {
		t.Fatalf("serviceprincipalkey after a conversion that did not verify = %q, %v", v, ok)
	}
}

// seedKeyID is the keyId of the managed application's seeded password
// (random per emulator).
func seedKeyID(t *testing.T, e *emulator.Emulator) string {
	t.Helper()
	ps := appPasswords(t, e)
	if len(ps) != 1 {
		t.Fatalf("seeded passwords: %v", ps)
	}
	return ps[0].KeyID
}

func hasPassword(t *testing.T, e *emulator.Emulator, keyID string) bool {
	t.Helper()
	for _, p := range appPasswords(t, e) {
		if strings.EqualFold(p.KeyID, keyID) {
			return true
		}
	}
	return false
}

// --remove-secret: checked before anything changes (one connection only,
// known keyIds, shown in the plan), removed only after the converted
// connection verified, then verified again.
func TestEndpointConvertToWIFRemoveSecret(t *testing.T) {
	seed := emulator.DefaultSeed()
	seed.ServiceEndpoints = []emulator.SeedEndpoint{azureRMSeed("deploy", emulator.ManagedAppClientID, emulator.ManagedAppSecret)}
	e, env := emuEnvOpts(t, emulator.Options{Seed: &seed})
	env["PATROL_PROJECT"] = emulator.DefaultProject
	key := seedKeyID(t, e)
	const unknown = "00000000-0000-4000-8000-00000000dead"

	for _, extra := range [][]string{{"--all"}, {"deploy", "--revert"}} {
		args := append([]string{"endpoint", "convert-to-wif", "--remove-secret", key, "--yes"}, extra...)
		if code, out, errs := runEP(t, env, "", args...); code != 2 || !strings.Contains(errs, "--all or --revert") {
			t.Fatalf("%v: exit %d %s %s", extra, code, out, errs)
		}
	}
	// An unknown keyId (even next to a known one) changes nothing and lists the passwords to pick from.
	code, out, errs := runEP(t, env, "", "endpoint", "convert-to-wif", "deploy", "--remove-secret", key, "--remove-secret", unknown, "--yes")
	if code != 2 || !strings.Contains(errs, unknown) || !strings.Contains(errs, key) || !strings.Contains(errs, `"seed-0"`) ||
		!strings.Contains(errs, "contoso-deploy") || strings.Contains(out+errs, emulator.ManagedAppSecret) {
		t.Fatalf("unknown keyId: exit %d %s %s", code, out, errs)
	}
	if s := endpointScheme(t, env, "deploy"); s != "ServicePrincipal" || !hasPassword(t, e, key) {
		t.Fatalf("an unknown keyId changed things: scheme %s", s)
	}
	// The plan shows the secret, in JSON and in the table.
	code, out, errs = runEP(t, env, "", "endpoint", "convert-to-wif", "deploy", "--remove-secret", key, "-o", "json")
	var plan []wifRow
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || len(plan) != 1 || len(plan[0].RemoveSecrets) != 1 ||
		plan[0].RemoveSecrets[0].KeyID != key || plan[0].RemoveSecrets[0].DisplayName != "seed-0" || plan[0].Action != "plan" {
		t.Fatalf("plan: exit %d %s %s", code, out, errs)
	}
	code, out, errs = runEP(t, env, "", "endpoint", "convert-to-wif", "deploy", "--remove-secret", key)
	if code != 0 || !strings.Contains(out, "REMOVE SECRETS") || !strings.Contains(out, key+" (seed-0)") {
		t.Fatalf("plan table: exit %d %s %s", code, out, errs)
	}
	if s := endpointScheme(t, env, "deploy"); s != "ServicePrincipal" || !hasPassword(t, e, key) {
		t.Fatalf("the plan changed things: scheme %s", s)
	}
	// Convert, verify, remove, verify again.
	before := e.CountRequests("endpointproxy")
	code, out, errs = runEP(t, env, "", "endpoint", "convert-to-wif", "deploy", "--remove-secret", key, "--yes", "-o", "json")
	var rep []wifRow
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep) != 1 || rep[0].Action != "converted" || !rep[0].Verified ||
		len(rep[0].RemovedSecrets) != 1 || rep[0].RemovedSecrets[0] != key || !strings.Contains(out, `"removedSecrets"`) {
		t.Fatalf("convert: exit %d %s %s", code, out, errs)
	}
	if hasPassword(t, e, key) {
		t.Fatal("the password is still there")
	}
	if n := e.CountRequests("endpointproxy") - before; n != 2 {
		t.Fatalf("%d TestConnection calls, want 2 (after the conversion and after the removal)", n)
	}
	if s := endpointScheme(t, env, "deploy"); s != "WorkloadIdentityFederation" {
		t.Fatalf("scheme after convert = %s", s)
	}
}

// A conversion whose TestConnection fails is reverted and removes nothing.
func TestEndpointConvertToWIFRemoveSecretNotVerified(t *testing.T) {
	seed := emulator.DefaultSeed()
	ep := azureRMSeed("deploy", emulator.ManagedAppClientID, emulator.ManagedAppSecret)
	ep.Parameters["tenantid"] = "99999999-9999-4999-8999-999999999999" // TestConnection cannot sign in
	seed.ServiceEndpoints = []emulator.SeedEndpoint{ep}
	e, env := emuEnvOpts(t, emulator.Options{Seed: &seed})
	env["PATROL_PROJECT"] = emulator.DefaultProject
	defer func(d time.Duration) { wifVerifyDelay = d }(wifVerifyDelay)
	wifVerifyDelay = time.Millisecond
	key := seedKeyID(t, e)
	code, out, errs := runEP(t, env, "", "endpoint", "convert-to-wif", "deploy", "--remove-secret", key, "--yes", "-o", "json")
	if code == 0 || !strings.Contains(out, `"action": "failed"`) || !strings.Contains(out, "AADSTS700016") ||
		!strings.Contains(out, "reverted to ServicePrincipal") || strings.Contains(out, `"removedSecrets"`) {
		t.Fatalf("convert: exit %d %s %s", code, out, errs)
	}
	if !hasPassword(t, e, key) {
		t.Fatal("the password was removed although the conversion did not verify")
	}
	if s := endpointScheme(t, env, "deploy"); s != "ServicePrincipal" {
		t.Fatalf("scheme = %s", s)
	}
}

// Another ServicePrincipal connection signing in as the same application
// would break: refused before anything changes, naming it.
func TestEndpointConvertToWIFRemoveSecretShared(t *testing.T) {
	seed := emulator.DefaultSeed()
	seed.ServiceEndpoints = []emulator.SeedEndpoint{azureRMSeed("deploy", emulator.ManagedAppClientID, emulator.ManagedAppSecret),
		azureRMSeed("deploy-staging", emulator.ManagedAppClientID, emulator.ManagedAppSecret)}
	e, env := emuEnvOpts(t, emulator.Options{Seed: &seed})
	env["PATROL_PROJECT"] = emulator.DefaultProject
	key := seedKeyID(t, e)
	for _, yes := range []bool{false, true} {
		args := []string{"endpoint", "convert-to-wif", "deploy", "--remove-secret", key}
		if yes {
			args = append(args, "--yes")
		}
		code, out, errs := runEP(t, env, "", args...)
		if code == 0 || !strings.Contains(errs, "deploy-staging") || !strings.Contains(errs, "would break") {
			t.Fatalf("%v: exit %d %s %s", args, code, out, errs)
		}
	}
	if s := endpointScheme(t, env, "deploy"); s != "ServicePrincipal" || !hasPassword(t, e, key) {
		t.Fatalf("a refused removal changed things: scheme %s", s)
	}
	// Without --remove-secret the conversion is fine: the secret stays for the other connection.
	if code, out, errs := runEP(t, env, "", "endpoint", "convert-to-wif", "deploy", "--yes"); code != 0 {
		t.Fatalf("convert: exit %d %s %s", code, out, errs)
	}
	// Once the other one is converted too, nothing uses the secret any more.
	if code, out, errs := runEP(t, env, "", "endpoint", "convert-to-wif", "deploy-staging", "--remove-secret", key, "--yes"); code != 0 || hasPassword(t, e, key) {
		t.Fatalf("convert the last one: exit %d %s %s", code, out, errs)
	}
}
