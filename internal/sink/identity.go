package sink

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Identity is the canonical name of the place a sink writes, for the
// duplicate check across credentials: two sinks with one identity would
// overwrite each other's credential on alternate runs. Spelling does not
// matter — a file path is cleaned and made absolute (relative paths are
// relative to the working directory, as when patrol writes them); a
// Kubernetes Secret is kubeconfig+context+namespace/name#key (key default
// "token"); a Key Vault secret is the vault's scheme://host (lowercase,
// default port dropped) + the secret name, case-insensitively as Key Vault
// compares them; a service-endpoint parameter and a variable-group variable
// are organisation/project/endpoint-or-group#name (spec.Organization, ""
// for the default organisation), case-insensitively as Azure DevOps
// compares them: the same-named group in two organisations is two places. The http sink's identity is its stateFile (a file it
// writes). Options that do not change the destination (format, contentType,
// pollInterval …) are not part of it. Unknown types and unparsable
// parameters use the parameters as sorted-key JSON; "" means no identity.
func Identity(spec Spec) string {
	var m map[string]any
	if err := json.Unmarshal(spec.Params, &m); err != nil {
		return ""
	}
	str := func(k string) string { s, _ := m[k].(string); return strings.TrimSpace(s) }
	lower := func(k string) string { return strings.ToLower(str(k)) }
	ref := func(idKey, nameKey string) string {
		if v, ok := m[idKey]; ok && v != nil && fmt.Sprint(v) != "" && fmt.Sprint(v) != "0" {
			return "id:" + strings.ToLower(fmt.Sprint(v))
		}
		return "name:" + lower(nameKey)
	}
	switch spec.Type {
	case "file":
		return "file:" + absPath(str("path"))
	case "http":
		return "file:" + absPath(str("stateFile"))
	case KubernetesSecretTypeName:
		key := str("key")
		if key == "" {
			key = "token"
		}
		kc := str("kubeconfig")
		if kc != "" {
			kc = absPath(kc)
		}
		return "k8s:" + kc + "|" + str("context") + "|" + str("namespace") + "/" + str("name") + "#" + key
	case KeyVaultTypeName:
		return "kv:" + vaultOrigin(str("vaultUrl")) + "/" + lower("secretName")
	case "azure-devops-service-endpoint":
		return "se:" + strings.ToLower(spec.Organization) + "/" + lower("project") + "/" + ref("endpointId", "endpointName") + "#" + lower("parameter")
	case "azure-devops-variable-group":
		return "vg:" + strings.ToLower(spec.Organization) + "/" + lower("project") + "/" + ref("groupId", "groupName") + "#" + lower("variable")
	}
	b, err := json.Marshal(m)
	if err != nil {
		return ""
	}
	return spec.Type + ":" + string(b)
}

// absPath cleans p and makes it absolute ("" stays "").
func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// vaultOrigin is a vault URL's lowercase scheme://host without the default
// port, path or trailing slash.
func vaultOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return strings.ToLower(strings.TrimRight(raw, "/"))
	}
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" && !(p == "443" && strings.EqualFold(u.Scheme, "https")) {
		host += ":" + p
	}
	return strings.ToLower(u.Scheme) + "://" + host
}
