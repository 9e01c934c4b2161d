package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/graph"
)

// appPasswords lists the managed application's passwords through Graph, as
// its owner DefaultSPClientID.
func appPasswords(t *testing.T, e *emulator.Emulator) []graph.PasswordCredential {
	t.Helper()
	ts, err := entra.New(entra.Options{Method: entra.MethodClientSecret, AuthorityHost: e.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultSPClientID, ClientSecret: emulator.DefaultSPSecret, Scope: graph.Scope, DisableInstanceDiscovery: true, HTTPClient: e.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	gc, err := graph.New(graph.Options{BaseURL: e.GraphURL(), Token: ts, HTTPClient: e.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	app, err := gc.Application(context.Background(), emulator.ManagedAppClientID)
	if err != nil {
		t.Fatal(err)
	}
	return app.PasswordCredentials
}

// testConnection runs the connection's TestConnection through endpointproxy
// (the emulator signs in with the secret the connection holds).
func testConnection(t *testing.T, e *emulator.Emulator, id string) {
	t.Helper()
	ts, err := entra.New(entra.Options{Method: entra.MethodROPC, AuthorityHost: e.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultClientID, Username: emulator.DefaultUser, Password: emulator.DefaultPassword, DisableInstanceDiscovery: true, HTTPClient: e.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := devops.New(devops.Options{Organization: emulator.DefaultOrg, VSSPSURL: e.VSSPSURL(), DevOpsURL: e.DevOpsURL(), Token: ts, HTTPClient: e.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := dc.ExecuteServiceEndpointRequest(context.Background(), emulator.DefaultProject, id,
		api.ServiceEndpointRequest{DataSourceDetails: &api.DataSourceDetails{DataSourceName: "TestConnection"}})
	if err != nil || res.StatusCode != "ok" {
		t.Fatalf("TestConnection: %v %+v", err, res)
	}
}

func passwordNames(ps []graph.PasswordCredential) map[string]string {
	out := map[string]string{}
	for _, p := range ps {
		out[p.KeyID] = p.DisplayName
	}
	return out
}

// Issue 14 §1 end to end over HTTPS against the emulator: a client secret
// of the application behind an Azure RM service connection rotates into
// the connection (serviceprincipalkey, TestConnection through endpointproxy
// passes with the new secret) and into a Key Vault; Graph's replication
// delay is waited out; a forced rotation replaces it and the replaced keyId
// is removed once gracePeriod has passed; the application's own secret
// (not patrol's) is never touched.
func TestRotateEntraAppSecretEndToEnd(t *testing.T) {
	seed := emulator.DefaultSeed()
	seed.ServiceEndpoints = []emulator.SeedEndpoint{azureRMSeed("deploy", emulator.ManagedAppClientID, emulator.ManagedAppSecret)}
	seed.PasswordReplicationDelay = emulator.Duration(1500 * time.Millisecond)
	e, env := emuEnvOpts(t, emulator.Options{Seed: &seed})
	dir := t.TempDir()
	secretFile := writeFile(t, "sp-secret", emulator.DefaultSPSecret)
	cfg := `apiVersion: patrol.dev/v1
organization: ` + emulator.DefaultOrg + `
rotation:
  lock: {type: file, path: ` + filepath.Join(dir, "rotate.lock") + `}
  metrics: {textfile: ` + filepath.Join(dir, "patrol.prom") + `}
identities:
  app-admin: {method: client-secret, tenantId: ` + emulator.DefaultTenantID + `, clientId: ` + emulator.DefaultSPClientID + `, clientSecretFile: ` + secretFile + `}
credentials:
  - name: deploy-spn
    kind: entra-app-secret
    application: {appId: ` + emulator.ManagedAppClientID + `}
    identity: app-admin
    lifetime: 90d
    renewBefore: 30d
    gracePeriod: 3s
    sinks:
      - {type: azure-devops-service-endpoint, project: ` + emulator.DefaultProject + `, endpointName: deploy, parameter: serviceprincipalkey, scheme: ServicePrincipal, pollInterval: 100ms}
      - {type: azure-key-vault, vaultUrl: ` + e.KeyVaultURL("patrol-kv") + `, secretName: deploy-spn, disableChallengeResourceVerification: true}
`
	path := filepath.Join(dir, "patrol.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	before := passwordNames(appPasswords(t, e))
	if len(before) != 1 {
		t.Fatalf("seed passwords: %v", before)
	}

	code, out, errs := runCLI(t, env, "rotate", "--config", path, "--dry-run", "-o", "json")
	var dry rotateOutput
	if code != 0 || json.Unmarshal([]byte(out), &dry) != nil || dry.Plan.Items[0].Action != "renew" || dry.Plan.Items[0].Kind != "entra-app-secret" {
		t.Fatalf("dry run: exit %d %s %s", code, out, errs)
	}
	if got := dry.Plan.Items[0].Application.AppID; got != emulator.ManagedAppClientID {
		t.Errorf("dry run: application %q, want the configured appId %s", got, emulator.ManagedAppClientID)
	}
	if got := passwordNames(appPasswords(t, e)); len(got) != 1 {
		t.Fatalf("the dry run changed the application's passwords: %v", got)
	}

	rotate := func() rotateOutput {
		t.Helper()
		code, out, errs := runCLI(t, env, "rotate", "--config", path, "-o", "json", "--force")
		var res rotateOutput
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res.Results) != 1 || res.Results[0].Error != "" {
			t.Fatalf("rotate: exit %d %s %s", code, out, errs)
		}
		for _, s := range []string{emulator.ManagedAppSecret, emulator.DefaultSPSecret} {
			if strings.Contains(out+errs, s) {
				t.Fatal("a secret reached the output")
			}
		}
		return res
	}
	first := rotate().Results[0]
	keyID := first.AuthorizationID
	pws := passwordNames(appPasswords(t, e))
	if !strings.HasPrefix(pws[keyID], "patrol:deploy-spn:") || len(pws) != 2 {
		t.Fatalf("after the first rotation: %v (new %s)", pws, keyID)
	}
	// Both sinks hold the new secret, and it is the application's.
	code, out, errs = runEP(t, env, "", "endpoint", "get", "deploy", "--project", emulator.DefaultProject, "-o", "json")
	var ep struct {
		ID   string            `json:"id"`
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &ep); err != nil {
		var list []json.RawMessage
		if json.Unmarshal([]byte(out), &list) == nil && len(list) == 1 {
			_ = json.Unmarshal(list[0], &ep)
		}
	}
	if code != 0 || ep.ID == "" {
		t.Fatalf("endpoint get: exit %d %s %s", code, out, errs)
	}
	epSecret, ok := e.ServiceEndpointSecret(emulator.DefaultOrg, ep.ID, "serviceprincipalkey")
	if !ok || epSecret == emulator.ManagedAppSecret || epSecret == "" || ep.Data["patrolAuthorizationId"] != keyID {
		t.Fatalf("serviceprincipalkey not rotated (ok %v, data %v)", ok, ep.Data)
	}
	kv, ok := e.KeyVaultSecret("patrol-kv", "deploy-spn")
	if !ok || kv.Value != epSecret || kv.Tags["patrol-authorization-id"] != keyID {
		t.Fatalf("key vault: ok %v tags %v (same secret as the connection: %v)", ok, kv.Tags, kv.Value == epSecret)
	}
	testConnection(t, e, ep.ID)

	// A forced rotation replaces it; the replaced keyId stays for gracePeriod.
	second := rotate().Results[0]
	if second.AuthorizationID == keyID || len(second.Kept) != 1 || second.Kept[0] != keyID {
		t.Fatalf("second rotation: %+v", second)
	}
	if _, ok := passwordNames(appPasswords(t, e))[keyID]; !ok {
		t.Fatal("the replaced password was removed before gracePeriod")
	}
	time.Sleep(3 * time.Second)
	code, out, errs = runCLI(t, env, "rotate", "--config", path, "-o", "json")
	var third rotateOutput
	if code != 0 || json.Unmarshal([]byte(out), &third) != nil || len(third.Results[0].Revoked) != 1 || third.Results[0].Revoked[0] != keyID {
		t.Fatalf("after gracePeriod: exit %d %s %s", code, out, errs)
	}
	after := passwordNames(appPasswords(t, e))
	if _, ok := after[keyID]; ok || len(after) != 2 || after[second.AuthorizationID] == "" {
		t.Fatalf("after gracePeriod: %v", after)
	}
	for id, name := range before {
		if after[id] != name {
			t.Fatalf("the application's own password %s (%s) was touched: %v", id, name, after)
		}
	}
	testConnection(t, e, ep.ID)
	code, out, errs = runCLI(t, env, "status", "--config", path, "-o", "json")
	if code != 0 || !strings.Contains(out, `"entra-app-secret"`) || !strings.Contains(out, second.AuthorizationID) || !strings.Contains(out, `"ok"`) {
		t.Fatalf("status: exit %d %s %s", code, out, errs)
	}
	// -o wide names the application beside the account.
	code, out, errs = runCLI(t, env, "status", "--config", path, "-o", "wide")
	if lines := strings.Split(out, "\n"); code != 0 || len(lines) < 2 || !strings.Contains(lines[0], "APPLICATION") || !strings.Contains(lines[1], emulator.ManagedAppClientID) {
		t.Errorf("status -o wide: exit %d %s %s", code, out, errs)
	}
	prom, err := os.ReadFile(filepath.Join(dir, "patrol.prom"))
	if err != nil || !strings.Contains(string(prom), `credential="deploy-spn"`) || !strings.Contains(string(prom), `kind="entra-app-secret"`) {
		t.Fatalf("metrics: %v %s", err, prom)
	}
}
