package config

import (
	"encoding/json"
	"reflect"
	"strings"
)

// Schema returns the JSON Schema (draft 2020-12) of patrol.yaml, generated
// from the File type's json tags, so it cannot drift from the decoder.
// sinkTypes are the registered sink type names (sink.Types()); each sink's
// own parameters are checked by patrol (`patrol config validate`), the schema
// only requires a known type.
func Schema(sinkTypes []string) ([]byte, error) {
	s := schemaFor(reflect.TypeOf(File{}), "", sinkTypes)
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://github.com/patrol-dev/patrol/docs/patrol.schema.json"
	s["title"] = "patrol.yaml"
	s["description"] = "patrol configuration: connection settings, rotation settings and the managed credentials. See docs/rotation.md."
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

const durationPattern = `^(0|\+?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d|w))+)$`

var schemaDescriptions = map[string]string{
	"apiVersion":                       "Version of the file format: patrol.dev/v1. Absent: read as patrol.dev/v1 with a warning (a later release requires it); another value is refused. See docs/config.md.",
	"organization":                     "Azure DevOps organisation: its name or URL, https://dev.azure.com/ORG or https://ORG.visualstudio.com (env AZURE_DEVOPS_ORG: the name).",
	"auth":                             "Entra sign-in. Secrets are never read from this file: use the environment or the *File fields.",
	"endpoints":                        "Service URLs (sovereign clouds, the emulator).",
	"log":                              "Logging on stderr.",
	"endpoints.maxPages":               "Pages one Azure DevOps listing follows at most (env PATROL_MAX_PAGES, flag --max-pages; default 1000, max 1000000).",
	"rotation":                         "Settings of `patrol rotate`.",
	"rotation.concurrency":             "Credentials rotated at once (default 32, max 64).",
	"rotation.orphanAge":               "Age after which a managed PAT no sink holds is revoked as an orphan (default 1h).",
	"rotation.lock":                    "Run lock: runs never overlap.",
	"rotation.lock.type":               "file (default, flock), lease (Kubernetes Lease) or none.",
	"rotation.lock.path":               "Lock file (type file). Default $XDG_RUNTIME_DIR/patrol/rotate.lock or <tmp>/patrol-rotate-<uid>.lock.",
	"rotation.lock.wait":               "How long to wait for a held lock (default 0: fail at once, exit 7).",
	"rotation.metrics.textfile":        "Write Prometheus text format here after each run (atomic).",
	"rotation.metrics.pushgateway":     "Push metrics to this Pushgateway URL after each run.",
	"rotation.metrics.job":             "Pushgateway job label (default patrol).",
	"rotation.stateFile":               "Where each run's outcome per credential, the last success and the counters are kept (0600, atomic). Default <metrics.textfile>.state.json, else $XDG_STATE_HOME/patrol/state-<hash>.json.",
	"credentials":                      "The managed credentials.",
	"notify":                           "Where notices about runs go: failures, rotations, PATs expiring without rotation. Never carries a secret.",
	"notify.name":                      "Unique name (default: the type); the notifier label of patrol_notification*_total.",
	"notify.type":                      "webhook (generic JSON POST), teams (Workflows webhook, Adaptive Card) or slack (incoming webhook).",
	"notify.url":                       "https URL of a generic webhook (teams and slack URLs are secrets: use urlEnv or urlFile).",
	"notify.urlEnv":                    "Environment variable holding the https webhook URL.",
	"notify.urlFile":                   "File holding the https webhook URL.",
	"notify.on":                        "Events notified: failure, rotation, expiring (default failure and expiring).",
	"notify.expiringWithin":            "Send an expiring notice when a PAT expires within this long and was not rotated (default 7d).",
	"notify.maxAttempts":               "Delivery attempts per notice, with exponential backoff (default 3, 1..10).",
	"credentials.name":                 "Unique name; PATs are named patrol:<name>:<yyyymmddThhmmssZ>-<attempt>.",
	"credentials.kind":                 "pat (default), entra-token (write a fresh Entra access token instead of a PAT) or entra-app-secret (rotate a client secret of an Entra application through Microsoft Graph; docs/entra-apps.md).",
	"credentials.application":          "The Entra application whose client secret is rotated (kind entra-app-secret only): appId or objectId, exactly one.",
	"credentials.application.appId":    "Application (client) ID of the application (a GUID).",
	"credentials.application.objectId": "Object ID of the application object (not of its service principal; a GUID).",
	"credentials.scopes":               "PAT scopes, e.g. vso.code, vso.packaging (see `patrol pat scopes`).",
	"credentials.lifetime":             "Lifetime of each new PAT (default 30d, 1h..365d) or application secret (default 90d, 1h..730d). Units: w, d, h, m, s.",
	"credentials.renewBefore":          "Renew this long before expiry (\"10d\") or at this percentage of the lifetime left (\"33%\"). Default 33.3%.",
	"credentials.allOrgs":              "Create global PATs (default false). Global PATs stopped working on 2026-12-01; from then on true is refused.",
	"credentials.allowFullAccess":      "Allow the app_token (full access) scope.",
	"credentials.gracePeriod":          "Keep the replaced PAT or application secret alive this long after a rotation (default 0).",
	"credentials.sinks":                "Where the credential is delivered; each sink has a type and its own parameters.",
	"identities":                       "Named sign-in settings (the fields of auth:) a credential selects with identity:. Secrets only from the *File fields; the environment and flags belong to auth:. See docs/config.md.",
	"credentials.organization":         "Azure DevOps organisation of this credential's PATs, its name or URL (default: the top-level organization).",
	"credentials.identity":             "Name of the identities: entry that signs in for this credential (default: the top-level auth:); for kind entra-app-secret the identity that manages the application's credentials in Microsoft Graph.",
}

func schemaFor(t reflect.Type, path string, sinkTypes []string) map[string]any {
	desc := func(m map[string]any) map[string]any {
		if d, ok := schemaDescriptions[path]; ok {
			m["description"] = d
		}
		return m
	}
	switch t {
	case durationType:
		return desc(map[string]any{"type": "string", "pattern": durationPattern})
	case renewBeforeType:
		return desc(map[string]any{"type": "string", "pattern": `^(` + strings.Trim(durationPattern, "^$") + `|[0-9]+(\.[0-9]+)?%)$`})
	case sinkSpecType:
		return desc(map[string]any{
			"type":                 "object",
			"required":             []string{"type"},
			"properties":           map[string]any{"type": map[string]any{"enum": sinkTypes}},
			"additionalProperties": true,
		})
	}
	switch t.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		var walk func(t reflect.Type)
		walk = func(t reflect.Type) {
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				tag := f.Tag.Get("json")
				name, opts, _ := strings.Cut(tag, ",")
				if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
					walk(f.Type)
					continue
				}
				if name == "-" || name == "" || !f.IsExported() {
					continue
				}
				sub := path + "." + name
				if path == "" {
					sub = name
				}
				props[name] = schemaFor(f.Type, strings.ReplaceAll(sub, "[]", ""), sinkTypes)
				if !strings.Contains(opts, "omit") && t != reflect.TypeOf(File{}) {
					required = append(required, name)
				}
			}
		}
		walk(t)
		m := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			m["required"] = required
		}
		if t == reflect.TypeOf(Credential{}) {
			m["required"] = []string{"name", "sinks"}
		}
		return desc(m)
	case reflect.Slice:
		return desc(map[string]any{"type": "array", "items": schemaFor(t.Elem(), path, sinkTypes)})
	case reflect.Map:
		return desc(map[string]any{"type": "object", "propertyNames": map[string]any{"pattern": nameRE().String()}, "additionalProperties": schemaFor(t.Elem(), path+".*", sinkTypes)})
	case reflect.String:
		m := map[string]any{"type": "string"}
		switch path {
		case "apiVersion":
			m["enum"] = APIVersions
		case "credentials.kind":
			m["enum"] = []string{KindPAT, KindEntraToken, KindEntraAppSecret}
		case "rotation.lock.type":
			m["enum"] = []string{LockFile, LockLease, LockNone}
		case "notify.type":
			m["enum"] = []string{NotifyWebhook, NotifyTeams, NotifySlack}
		case "notify.on":
			m["enum"] = []string{NotifyOnFailure, NotifyOnRotation, NotifyOnExpiring}
		}
		return desc(m)
	case reflect.Bool:
		return desc(map[string]any{"type": "boolean"})
	case reflect.Int, reflect.Int32, reflect.Int64:
		m := map[string]any{"type": "integer"}
		if path == "rotation.concurrency" {
			m["minimum"], m["maximum"] = 1, MaxConcurrency
		}
		return desc(m)
	}
	return map[string]any{}
}
