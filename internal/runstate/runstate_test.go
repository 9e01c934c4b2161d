package runstate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/rotation"
)

func TestRecordSaveLoad(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	s := New()
	s.Record(rotation.Report{Results: []rotation.Result{
		{Credential: "Agents", Action: rotation.ActionCreate},
		{Credential: "feed", Action: rotation.ActionNone},
	}}, at)
	s.Record(rotation.Report{Results: []rotation.Result{
		{Credential: "agents", Action: rotation.ActionRenew, Err: errors.New("refused"), Reason: "verify"},
	}}, at.Add(time.Hour))
	a := s.Credential("AGENTS")
	if a == nil || a.Rotations != 1 || a.Failures["verify"] != 1 || !a.LastSuccess.Equal(at) || !a.LastRotation.Equal(at) || !a.Last.Failed() {
		t.Fatalf("agents: %+v", a)
	}
	if s.LastRun.Success || len(s.LastRun.Credentials) != 1 {
		t.Fatalf("last run: %+v", s.LastRun)
	}
	if rv := s.Reverify(); !rv["agents"] || rv["feed"] {
		t.Fatalf("reverify: %v", rv)
	}
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Credential("agents"); g.Rotations != 1 || g.Last.Reason != "verify" || !g.LastSuccess.Equal(at) {
		t.Fatalf("loaded: %+v", g)
	}
	if got.Credential("feed").Last.Result != rotation.OutcomeOK {
		t.Fatalf("feed: %+v", got.Credential("feed"))
	}
}

func TestLoadProblems(t *testing.T) {
	dir := t.TempDir()
	if s, err := Load(filepath.Join(dir, "none.json")); err != nil || s.Version != Version {
		t.Fatalf("missing file: %v %+v", err, s)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{nope"), 0o600)
	if s, err := Load(bad); err == nil || !strings.Contains(err.Error(), "replaced by the next run") || s == nil {
		t.Fatalf("corrupt file: %v", err)
	}
	old := filepath.Join(dir, "old.json")
	os.WriteFile(old, []byte(`{"version":99}`), 0o600)
	if _, err := Load(old); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("other version: %v", err)
	}
	big := filepath.Join(dir, "big.json")
	os.WriteFile(big, []byte(`{"version":1,"x":"`+strings.Repeat("a", MaxSize)+`"}`), 0o600)
	if _, err := Load(big); err == nil {
		t.Fatal("an oversized file was read")
	}
}

func TestDefaultPath(t *testing.T) {
	env := func(m map[string]string) Lookup {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	if p := DefaultPath("/var/lib/ne/patrol.prom", "patrol.yaml", nil); p != "/var/lib/ne/patrol.prom.state.json" {
		t.Fatalf("beside the textfile: %s", p)
	}
	p := DefaultPath("", "/etc/patrol.yaml", env(map[string]string{"XDG_STATE_HOME": "/st"}))
	if !strings.HasPrefix(p, "/st/patrol/state-") || p == DefaultPath("", "/etc/other.yaml", env(map[string]string{"XDG_STATE_HOME": "/st"})) {
		t.Fatalf("XDG: %s", p)
	}
	if p := DefaultPath("", "/etc/patrol.yaml", env(map[string]string{"HOME": "/h"})); !strings.HasPrefix(p, "/h/.local/state/patrol/") {
		t.Fatalf("HOME: %s", p)
	}
	if p := DefaultPath("", "/etc/patrol.yaml", env(map[string]string{"HOME": "/h", "KUBERNETES_SERVICE_HOST": "10.0.0.1"})); p != "" {
		t.Fatalf("in a Pod: %s", p)
	}
}
