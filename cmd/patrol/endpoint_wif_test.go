package main

import (
	"encoding/json"
	"strings"
	"testing"

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
