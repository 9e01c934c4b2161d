package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/patrol-dev/patrol/internal/sink"
)

// TestSchemaUpToDate fails when docs/patrol.schema.json is stale.
// Regenerate with: PATROL_UPDATE_SCHEMA=1 go test ./internal/config -run TestSchemaUpToDate
func TestSchemaUpToDate(t *testing.T) {
	got, err := Schema(sink.Types())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "patrol.schema.json")
	if os.Getenv("PATROL_UPDATE_SCHEMA") != "" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; generate it with PATROL_UPDATE_SCHEMA=1 go test ./internal/config -run TestSchemaUpToDate", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/patrol.schema.json is stale; regenerate with PATROL_UPDATE_SCHEMA=1 go test ./internal/config -run TestSchemaUpToDate")
	}
}

func TestSchemaShape(t *testing.T) {
	b, err := Schema([]string{"file"})
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]struct {
			Properties map[string]json.RawMessage
			Items      struct {
				Required   []string
				Properties map[string]struct{ Pattern string }
			}
		}
		AdditionalProperties bool
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.AdditionalProperties {
		t.Fatal("top level must refuse unknown fields")
	}
	for _, k := range []string{"organization", "auth", "endpoints", "log", "rotation", "credentials"} {
		if _, ok := s.Properties[k]; !ok {
			t.Errorf("schema lacks %s", k)
		}
	}
	if _, ok := s.Properties["auth"].Properties["password"]; ok {
		t.Error("schema offers auth.password, which the file must not hold")
	}
	cr := s.Properties["credentials"].Items
	if len(cr.Required) != 2 {
		t.Errorf("credential required: %v", cr.Required)
	}
	re := regexp.MustCompile(cr.Properties["lifetime"].Pattern)
	for in, ok := range map[string]bool{"30d": true, "1w2d": true, "36h30m": true, "0": true, "30": false, "1y": false} {
		if re.MatchString(in) != ok {
			t.Errorf("lifetime pattern on %q: %v", in, !ok)
		}
	}
	rb := regexp.MustCompile(cr.Properties["renewBefore"].Pattern)
	if !rb.MatchString("33%") || !rb.MatchString("10d") || rb.MatchString("abc") {
		t.Error("renewBefore pattern")
	}
}

// TestExampleConfig keeps deploy/patrol.example.yaml valid.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "patrol.example.yaml")
	if _, err := os.Stat(path); err != nil {
		t.Skip("no example yet")
	}
	f, err := LoadFile(path, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Warnings) > 0 {
		t.Fatalf("the example draws warnings: %q", f.Warnings)
	}
}
