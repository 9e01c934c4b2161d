package emulator

import (
	"encoding/json"
	"testing"

	"sigs.k8s.io/yaml"
)

func FuzzDurationJSON(f *testing.F) {
	for _, s := range []string{`"90s"`, `3600`, `1.5`, `null`, `"x"`, `""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d Duration
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var d2 Duration
		if err := json.Unmarshal(b, &d2); err != nil || d2 != d {
			t.Fatalf("round trip %s -> %s -> %v (%v)", s, b, d2, err)
		}
	})
}

func FuzzSeed(f *testing.F) {
	b, _ := yaml.Marshal(DefaultSeed())
	f.Add(string(b))
	f.Add("tenants: [{id: t}]\norgs: [{name: o, id: x, tenantId: t}]\npats: [{owner: a, org: o}]")
	f.Fuzz(func(t *testing.T, s string) {
		var seed Seed
		if err := yaml.UnmarshalStrict([]byte(s), &seed); err != nil {
			return
		}
		_ = seed.Validate() // must not panic
	})
}

func FuzzAPIVersionRe(f *testing.F) {
	for _, s := range []string{"7.1-preview.1", "6.1-preview", "7.2", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := apiVersionRe().FindStringSubmatch(s)
		if m != nil && m[1] == "" {
			t.Fatalf("match without major: %q", s)
		}
	})
}
