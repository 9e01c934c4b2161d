package emulator

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// specOperation is one operation of the 7.2 specs, as discovery must list it.
type specOperation struct {
	file, method, path string // path relative to the organization, without the query
	area, resource     string
}

func specOperations(t *testing.T) []specOperation {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("conformance", "testdata", "specs", "*-7.2.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no specs under conformance/testdata/specs (%v)", err)
	}
	var ops []specOperation
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var spec struct {
			Area   string                                `json:"x-ms-vss-area"`
			Paths  map[string]map[string]json.RawMessage `json:"paths"`
			XPaths map[string]map[string]json.RawMessage `json:"x-ms-paths"`
		}
		if err := json.Unmarshal(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), &spec); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, paths := range []map[string]map[string]json.RawMessage{spec.Paths, spec.XPaths} {
			for p, methods := range paths {
				rel, _, _ := strings.Cut(strings.TrimPrefix(p, "/{organization}/"), "?")
				for m, raw := range methods {
					var op struct {
						Resource string `json:"x-ms-vss-resource"`
					}
					if json.Unmarshal(raw, &op) != nil || op.Resource == "" {
						continue // "parameters" and other non-operations
					}
					ops = append(ops, specOperation{filepath.Base(f), strings.ToUpper(m), rel, spec.Area, op.Resource})
				}
			}
		}
	}
	return ops
}

// Every operation of the specs is reachable through a location of its area
// and resource, and every location of a spec area has a route template that
// is one of the specs' paths.
func TestDiscoveryMatchesSpecs(t *testing.T) {
	ops := specOperations(t)
	if len(ops) < 19 {
		t.Fatalf("read %d spec operations, want the 19 of tokens, tokenAdmin and serviceEndpoint 7.2", len(ops))
	}
	specAreas := map[string]bool{}
	specPaths := map[string]bool{}
	for _, op := range ops {
		specAreas[strings.ToLower(op.area)] = true
		specPaths[strings.ToLower(op.path)] = true
		found := false
		for _, l := range locationsFilling(strings.Split(op.path, "/")) {
			if strings.EqualFold(l.Area, op.area) && strings.EqualFold(l.ResourceName, op.resource) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s %s %s (%s/%s): no location of that area and resource fills it", op.file, op.method, op.path, op.area, op.resource)
		}
	}
	for _, l := range locationTable {
		if specAreas[strings.ToLower(l.Area)] && !specPaths[strings.ToLower(strings.ReplaceAll(l.RouteTemplate, "{*", "{"))] {
			t.Errorf("location %s (%s/%s): route template %q is none of the specs' paths", l.ID, l.Area, l.ResourceName, l.RouteTemplate)
		}
	}
}
