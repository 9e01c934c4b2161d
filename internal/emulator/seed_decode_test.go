package emulator

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestLoadSeedJSONMatchesYAML: a seed file as JSON (the encoding/json path)
// loads exactly as the same seed as YAML does, and unknown fields and
// trailing data are refused.
func TestLoadSeedJSONMatchesYAML(t *testing.T) {
	dir := t.TempDir()
	seed := benchSeed(50)
	seed.PATs[3].Global, seed.PATs[4].Revoked = true, true
	j, err := json.MarshalIndent(seed, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fromJSON, err := LoadSeed(write("seed.json", append([]byte("\n  "), j...)))
	if err != nil {
		t.Fatalf("JSON seed: %v", err)
	}
	fromYAML, err := LoadSeed(write("seed.yaml", y))
	if err != nil {
		t.Fatalf("YAML seed: %v", err)
	}
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Errorf("the JSON and the YAML of one seed load differently")
	}
	bad := strings.Replace(string(j), `"users"`, `"userz"`, 1)
	if _, err := LoadSeed(write("bad.json", []byte(bad))); err == nil || !strings.Contains(err.Error(), "userz") {
		t.Errorf("unknown field: %v, want an error naming userz", err)
	}
	if _, err := LoadSeed(write("trail.json", append(j, []byte(` {}`)...))); err == nil {
		t.Errorf("trailing data accepted")
	}
}

// BenchmarkLoadSeed loads a 100,000-PAT seed file as JSON and as YAML.
func BenchmarkLoadSeed(b *testing.B) {
	dir := b.TempDir()
	j, err := json.Marshal(benchSeed(100_000))
	if err != nil {
		b.Fatal(err)
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{"json", j}, {"yaml", y}} {
		p := filepath.Join(dir, "seed."+f.name)
		if err := os.WriteFile(p, f.b, 0o600); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("pats=100000/%s", f.name), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, err := LoadSeed(p)
				if err != nil || len(s.PATs) != 100_000 {
					b.Fatalf("LoadSeed: %d PATs, %v", len(s.PATs), err)
				}
			}
		})
	}
}
