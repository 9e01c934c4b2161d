package endpointlint

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/scheme"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Every mistake in testdata/mistakes.json is found once, at its path.
func TestLintFindsEveryMistake(t *testing.T) {
	r, err := File("testdata/mistakes.json", scheme.JSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range r.Findings {
		if f.Contribution != "mistakes" || f.Fix == "" || f.Message == "" {
			t.Errorf("finding without contribution, message or fix: %+v", f)
		}
		got[fmt.Sprintf("%s %s %s", f.Severity, f.Rule, strings.TrimPrefix(f.Path, "$.contributions[1].properties."))] = true
	}
	want := []string{
		"error url url",
		"error input-descriptor inputDescriptors[0].validation.dataType",
		"warning input-descriptor inputDescriptors[1].id",
		"error required-input-unsettable inputDescriptors[2]",
		"error required-input-unsettable inputDescriptors[3]",
		"error input-descriptor inputDescriptors[4].id",
		"error scheme-type authenticationSchemes[0].type",
		"error header-input authenticationSchemes[1].headers[0].value",
		"error header-input authenticationSchemes[1].headers[1].value",
		"error template authenticationSchemes[1].headers[2].value",
		"error template authenticationSchemes[1].headers[3].value",
		"error confidential-in-url dataSources[0].endpointUrl",
		"error result-selector dataSources[0].resultSelector",
		"error data-source-name dataSources[1].name",
		"error result-selector dataSources[1].resultSelector",
		"error url dataSources[2].endpointUrl",
		"error url dataSources[3].endpointUrl",
		"warning url dataSources[3].requestVerb",
		"warning url dataSources[4].endpointUrl",
		"warning url dataSources[5].endpointUrl",
		"error url dataSources[6].endpointUrl",
		"warning test-connection dataSources",
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing finding %q", w)
		}
		delete(got, w)
	}
	for g := range got {
		t.Errorf("unexpected finding %q", g)
	}
	if r.Types != 1 || r.Errors == 0 || r.Errors+r.Warnings != len(r.Findings) {
		t.Errorf("report counts: %+v", r)
	}
}

// Every shared manifest lints (golden output); the files are the verbatim
// copies in internal/scheme/testdata/manifests.
func TestLintSharedManifests(t *testing.T) {
	paths, err := filepath.Glob("../scheme/testdata/manifests/*.json")
	if err != nil || len(paths) != 14 {
		t.Fatalf("want 14 manifests, got %d (%v)", len(paths), err)
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		r, err := File(p, scheme.JSOptions{})
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		fmt.Fprintf(&b, "== %s: %d types, %d errors, %d warnings\n", filepath.Base(p), r.Types, r.Errors, r.Warnings)
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "%s %s %s %s: %s | fix: %s\n", f.Severity, f.Rule, f.Contribution, f.Path, f.Message, f.Fix)
		}
	}
	golden := filepath.Join("testdata", "shared-manifests.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("golden missing (go test ./internal/endpointlint -run TestLintSharedManifests -update): %v", err)
	}
	if string(want) != b.String() {
		t.Errorf("lint output differs from %s (rerun with -update and review the diff)\n%s", golden, b.String())
	}
}

func FuzzLint(f *testing.F) {
	b, err := os.ReadFile("testdata/mistakes.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"contributions":[{"type":"ms.vss-endpoint.service-endpoint-type","properties":{"authenticationSchemes":[{"headers":[{"value":"{{"}]}],"dataSources":[{}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Lint(data, "fuzz")
		if err == nil && r.Errors+r.Warnings != len(r.Findings) {
			t.Fatalf("counts do not add up: %+v", r)
		}
	})
}
