package mustache

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// sharedDir is where CI puts the shared reference material: the repository
// is cloned with shared/ beside it.
const sharedDir = "../../../shared"

// templateKeys are the manifest fields Azure DevOps renders with Mustache.
var templateKeys = map[string]bool{
	"value": true, "endpointurl": true, "requestcontent": true, "resulttemplate": true,
	"callbackcontexttemplate": true, "callbackrequiredtemplate": true, "initialcontexttemplate": true,
	"authorizationurl": true, "resultselector": true, "url": true,
}

type found struct{ file, where, src string }

func collect(file string, v any, where string, inParams bool, out *[]found) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			collect(file, e, where+"."+k, strings.EqualFold(k, "parameters") || strings.EqualFold(k, "inputs"), out)
			if s, ok := e.(string); ok && (templateKeys[strings.ToLower(k)] || inParams) && strings.Contains(s, "{{") {
				*out = append(*out, found{file, where + "." + k, s})
			}
		}
	case []any:
		for _, e := range x {
			collect(file, e, where+"[]", false, out)
		}
	}
}

// headerOnlyHelpers are registered by the scheme engine, not by this package;
// stubs stand in for them here.
var headerOnlyHelpers = []string{"#getTokenUsingBasicAuth", "#getCurrentUTCDate", "#getHashedPayload", "#getAuthorizationHeader", "#GetAzureStorageAccessKey", "#GetKubeConfig"}

func TestParseEveryManifestTemplate(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sharedDir, "manifests", "*.json"))
	types, _ := filepath.Glob(filepath.Join(sharedDir, "specs", "examples", "serviceEndpoint", "*", "*.json"))
	files = append(files, types...)
	if len(files) == 0 {
		t.Skipf("no manifests under %s (CI clones shared/ beside the repository); skipping", sharedDir)
	}
	var all []found
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		collect(filepath.Base(f), doc, "$", false, &all)
	}
	if len(all) < 100 {
		t.Fatalf("found only %d templates; the walker is broken", len(all))
	}
	hs := DefaultHelpers()
	for _, n := range headerOnlyHelpers {
		hs.Register(n, func(c *Call) (any, error) { return "<" + c.Name + ">", nil })
	}
	data := fixture()
	usedHeaderOnly := map[string]bool{}
	for _, f := range all {
		tpl, err := ParseWith(f.src, Options{Helpers: hs})
		if err != nil {
			t.Errorf("%s %s: %v", f.file, f.where, err)
			continue
		}
		// Rendering must not panic; errors are fine for data we do not have.
		_, _ = tpl.Render(data)
		if _, err := Parse(f.src); err != nil {
			for _, n := range headerOnlyHelpers {
				if strings.Contains(f.src, n) && strings.Contains(err.Error(), "missing helper") {
					usedHeaderOnly[n] = true
				}
			}
		}
	}
	// Every other string containing "{{" (descriptions, help text) must parse too.
	var everything []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			if strings.Contains(x, "{{") {
				everything = append(everything, x)
			}
		}
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var doc any
		_ = json.Unmarshal(bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF")), &doc)
		walk(doc)
	}
	if len(everything) < len(all) {
		t.Fatalf("superset walk found %d < %d", len(everything), len(all))
	}
	for _, s := range everything {
		if _, err := ParseWith(s, Options{Helpers: hs}); err != nil {
			t.Errorf("%q: %v", truncate(s), err)
		}
	}
	// Without the scheme engine's helpers those templates fail to parse, as in Azure DevOps.
	var used []string
	for n := range usedHeaderOnly {
		used = append(used, n)
	}
	sort.Strings(used)
	if len(used) == 0 {
		t.Error("expected the header-only helpers to be reported missing by the default set")
	}
	t.Logf("parsed %d templates from %d files; header-only helpers seen: %v", len(all), len(files), used)
}
