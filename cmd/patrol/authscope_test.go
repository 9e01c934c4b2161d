package main

import (
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/emulator"
)

// --auth-scope / PATROL_AUTH_SCOPES request explicit Azure DevOps
// permissions; a PAT operation the token's permissions do not cover, or a
// permission the admin did not consent, fails with exit 3 and names the fix.
func TestAuthScopes(t *testing.T) {
	_, env := emuEnv(t)
	delete(env, "AZURE_CLIENT_SECRET") // the least-privilege apps are public clients
	env["AZURE_CLIENT_ID"] = emulator.PATManageClientID
	if code, _, stderr := runCLI(t, env, "pat", "list", "--auth-scope", "vso.pats", "--auth-scope", "vso.pats_manage"); code != 0 {
		t.Fatalf("pat list with explicit vso.pats vso.pats_manage: exit %d: %s", code, stderr)
	}

	env["AZURE_CLIENT_ID"] = emulator.PATReadClientID
	code, _, stderr := runCLI(t, env, "pat", "create", "--name", "x", "--scope", "vso.code", "--expires-in", "1d")
	if code != 3 || !strings.Contains(stderr, "vso.pats_manage") || !strings.Contains(stderr, "admin must grant consent") {
		t.Errorf("create with a vso.pats-only token: exit %d, stderr %s; want 3 naming vso.pats_manage and admin consent", code, stderr)
	}
	env["PATROL_AUTH_SCOPES"] = "vso.pats_manage"
	code, _, stderr = runCLI(t, env, "pat", "list")
	if code != 3 || !strings.Contains(stderr, "AADSTS65001") || !strings.Contains(stderr, "vso.pats_manage") {
		t.Errorf("unconsented PATROL_AUTH_SCOPES: exit %d, stderr %s; want 3 with AADSTS65001", code, stderr)
	}
	env["PATROL_AUTH_SCOPES"] = "https://vault.azure.net/.default"
	if code, _, stderr = runCLI(t, env, "pat", "list"); code != 2 || !strings.Contains(stderr, "PATROL_AUTH_SCOPES") {
		t.Errorf("invalid PATROL_AUTH_SCOPES: exit %d, stderr %s; want 2 naming PATROL_AUTH_SCOPES", code, stderr)
	}
}
