package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/patrol-dev/patrol/internal/sink" // the sink types
)

// Two credentials naming one destination in two spellings would overwrite
// each other on alternate runs: the duplicate check compares canonical
// identities (cleaned absolute paths; the same Secret, vault secret,
// endpoint parameter, variable), not the text.
func TestDuplicateSinkCanonicalIdentity(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, filepath.Join(dir, "shared"))
	if err != nil {
		t.Fatal(err)
	}
	pairs := map[string][2]string{
		"dot segment":  {"{type: file, path: " + dir + "/shared}", "{type: file, path: " + dir + "/./shared}"},
		"double slash": {"{type: file, path: " + dir + "/shared}", "{type: file, path: " + dir + "//x/../shared}"},
		"relative":     {"{type: file, path: " + dir + "/shared}", "{type: file, path: " + rel + "}"},
		"extra field":  {"{type: file, path: " + dir + "/shared}", "{type: file, path: " + dir + "/shared, format: raw}"},
		"http state":   {"{type: file, path: " + dir + "/shared}", "{type: http, url: 'https://x.example/a', body: 'p={{token}}', stateFile: " + dir + "/./shared}"},
		"k8s secret":   {"{type: kubernetes-secret, namespace: ns, name: s, key: token}", "{type: kubernetes-secret, namespace: ns, name: s}"},
		"key vault":    {"{type: azure-key-vault, vaultUrl: 'https://kv.vault.azure.net/', secretName: pat}", "{type: azure-key-vault, vaultUrl: 'https://KV.vault.azure.net:443', secretName: PAT, contentType: text/plain}"},
		"endpoint":     {"{type: azure-devops-service-endpoint, project: Platform, endpointName: sonar, parameter: username}", "{type: azure-devops-service-endpoint, project: platform, endpointName: Sonar, parameter: username, pollInterval: 5s}"},
		"variable":     {"{type: azure-devops-variable-group, project: Platform, groupName: creds, variable: ADO_PAT}", "{type: azure-devops-variable-group, project: platform, groupName: Creds, variable: ado_pat, isSecret: true}"},
	}
	for name, p := range pairs {
		yaml := "organization: contoso\ncredentials:\n  - name: a\n    scopes: [vso.code]\n    sinks:\n      - " + p[0] + "\n  - name: b\n    scopes: [vso.code]\n    sinks:\n      - " + p[1] + "\n"
		_, err := ParseFile([]byte(yaml), "patrol.yaml", ValidateOptions{})
		if err == nil || !strings.Contains(err.Error(), "the same sink is already configured") {
			t.Errorf("%s: got %v; want the duplicate refused", name, err)
		}
	}
	// Different destinations stay allowed.
	yaml := "organization: contoso\ncredentials:\n  - name: a\n    scopes: [vso.code]\n    sinks:\n      - {type: kubernetes-secret, namespace: ns, name: s, key: a}\n  - name: b\n    scopes: [vso.code]\n    sinks:\n      - {type: kubernetes-secret, namespace: ns, name: s, key: b}\n"
	if _, err := ParseFile([]byte(yaml), "patrol.yaml", ValidateOptions{}); err != nil && strings.Contains(err.Error(), "the same sink") {
		t.Errorf("two keys of one Secret are two sinks: %v", err)
	}
}
