package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The full-access refusal names the switch of the place it came from: the
// --full-access flag on the command line, allowFullAccess in patrol.yaml.
func TestFullAccessErrorNamesItsSource(t *testing.T) {
	env := map[string]string{"AZURE_DEVOPS_ORG": "contoso"}
	for _, args := range [][]string{
		{"pat", "create", "--name", "x", "--scope", "app_token"},
		{"pat", "update", "4ab5764f-4193-4f1d-b995-64144880b7d7", "--scope", "app_token"},
	} {
		code, _, stderr := runCLI(t, env, args...)
		if code != 2 || !strings.Contains(stderr, "--full-access") || strings.Contains(stderr, "allowFullAccess") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 naming --full-access (not allowFullAccess)", args, code, stderr)
		}
	}
	cfg := filepath.Join(t.TempDir(), "patrol.yaml")
	if err := os.WriteFile(cfg, []byte("organization: contoso\ncredentials:\n  - name: a\n    scopes: [app_token]\n    sinks:\n      - {type: file, path: "+filepath.Join(filepath.Dir(cfg), "a.pat")+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, env, "config", "validate", "--config", cfg)
	if code != 2 || !strings.Contains(stderr, "allowFullAccess") || strings.Contains(stderr, "--full-access") {
		t.Errorf("config validate: exit %d, stderr %q; want exit 2 naming allowFullAccess (not --full-access)", code, stderr)
	}
}
