package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
)

const goodYAML = `
organization: contoso
auth:
  method: ropc
  username: patrol-bot@contoso.example
rotation:
  concurrency: 2
  lock: {type: file, path: /tmp/x.lock}
  metrics: {textfile: /tmp/patrol.prom}
credentials:
  - name: agents
    scopes: [vso.agentpools_manage]
    lifetime: 30d
    renewBefore: 10d
    sinks:
      - type: file
        path: /tmp/agents.pat
  - name: feed
    scopes: [vso.packaging]
    lifetime: 1w
    renewBefore: 25%
    gracePeriod: 1h
    sinks:
      - {type: file, path: /tmp/feed.env, format: env}
  - name: bearer
    kind: entra-token
    sinks:
      - {type: file, path: /tmp/bearer}
`

func TestParseFileGood(t *testing.T) {
	f, err := ParseFile([]byte(goodYAML), "patrol.yaml", ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Organization != "contoso" || f.Auth.Username != "patrol-bot@contoso.example" {
		t.Fatalf("connection not decoded: %+v", f.Connection)
	}
	if f.Rotation.Concurrency != 2 || f.Rotation.Lock.Path != "/tmp/x.lock" || f.Rotation.Metrics.Job != "patrol" {
		t.Fatalf("rotation: %+v", f.Rotation)
	}
	if len(f.Credentials) != 3 {
		t.Fatalf("credentials: %d", len(f.Credentials))
	}
	a := f.Credentials[0]
	if a.Kind != KindPAT || a.Lifetime.D() != 30*24*time.Hour || a.RenewBefore.For(a.Lifetime.D()) != 10*24*time.Hour {
		t.Fatalf("agents: %+v", a)
	}
	if a.Line != 11 || a.Sinks[0].Line != 16 || a.Sinks[0].Type != "file" {
		t.Fatalf("lines: cred %d sink %d", a.Line, a.Sinks[0].Line)
	}
	fd := f.Credentials[1]
	if got := fd.RenewBefore.For(fd.Lifetime.D()); got != 42*time.Hour {
		t.Fatalf("25%% of 1w = %s", got)
	}
	if f.Credentials[2].Kind != KindEntraToken || f.Credentials[2].Lifetime != 0 {
		t.Fatalf("entra: %+v", f.Credentials[2])
	}
	if c, ok := f.Credential("FEED"); !ok || c.Name != "feed" {
		t.Fatal("Credential lookup is not case-insensitive")
	}
}

func TestParseFileDefaults(t *testing.T) {
	f, err := ParseFile([]byte("credentials:\n- name: a\n  scopes: [vso.code]\n  sinks: [{type: file, path: /tmp/a}]\n"), "", ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := f.Credentials[0]
	if c.Lifetime != DefaultLifetime || f.Rotation.Concurrency != DefaultConcurrency || f.Rotation.Lock.Type != LockFile || f.Rotation.OrphanAge != DefaultOrphanAge {
		t.Fatalf("defaults not applied: %+v %+v", c, f.Rotation)
	}
	if got := c.RenewBefore.For(c.Lifetime.D()); got != 10*24*time.Hour {
		t.Fatalf("default renewBefore of 30d = %s, want 10d", got)
	}
}

func TestParseFileErrors(t *testing.T) {
	scope := func(ss []string, full bool) error {
		for _, s := range ss {
			if !strings.HasPrefix(s, "vso.") && !(full && s == "app_token") {
				return fmt.Errorf("unknown scope %q; see patrol pat scopes", s)
			}
		}
		return nil
	}
	cases := []struct {
		name, yaml string
		want       []string // substrings of the error, incl. "line N"
	}{
		{"unknown top field", "organisation: x\n", []string{"line 1", "organisation", `did you mean "organization"`}},
		{"unknown nested", "rotation:\n  concurency: 2\n", []string{"line 2", "rotation.concurency", "concurrency"}},
		{"secret in yaml", "auth:\n  password: hunter2\n", []string{"line 2", "auth.password", "AZURE_PASSWORD"}},
		{"bad duration", "credentials:\n- name: a\n  scopes: [vso.code]\n  lifetime: 30x\n  sinks: [{type: file, path: /a}]\n", []string{"line 4", "credentials[0].lifetime", `unknown unit "x"`}},
		{"renewBefore >= lifetime", "credentials:\n- name: a\n  scopes: [vso.code]\n  lifetime: 7d\n  renewBefore: 7d\n  sinks: [{type: file, path: /a}]\n", []string{"line 5", "renewBefore", "not shorter than the lifetime"}},
		{"bad percent", "credentials:\n- name: a\n  scopes: [vso.code]\n  renewBefore: 120%\n  sinks: [{type: file, path: /a}]\n", []string{"line 4", "less than 100%"}},
		{"duplicate names", "credentials:\n- name: a\n  scopes: [vso.code]\n  sinks: [{type: file, path: /a}]\n- name: A\n  scopes: [vso.code]\n  sinks: [{type: file, path: /b}]\n", []string{"line 5", "credentials[1].name", "credentials[0] (line 2)", "unique"}},
		{"unknown sink type", "credentials:\n- name: a\n  scopes: [vso.code]\n  sinks:\n  - type: flie\n    path: /a\n", []string{"line 5", "credentials[0].sinks[0]", `unknown sink type "flie"`, "file"}},
		{"sink unknown param", "credentials:\n- name: a\n  scopes: [vso.code]\n  sinks:\n  - type: file\n    paht: /a\n", []string{"line 5", "unknown field", "paht"}},
		{"unknown scope", "credentials:\n- name: a\n  scopes: [vso.code, vso_bogus]\n  sinks: [{type: file, path: /a}]\n", []string{"line 3", "credentials[0].scopes[1]", "unknown scope"}},
		{"missing scopes", "credentials:\n- name: a\n  sinks: [{type: file, path: /a}]\n", []string{"line 2", "credentials[0].scopes", "missing"}},
		{"no sinks", "credentials:\n- name: a\n  scopes: [vso.code]\n", []string{"credentials[0].sinks", "at least one sink"}},
		{"colon in name", "credentials:\n- name: 'a:b'\n  scopes: [vso.code]\n  sinks: [{type: file, path: /a}]\n", []string{"line 2", "not a valid name"}},
		{"wrong type", "rotation:\n  concurrency: many\n", []string{"line 2", "expected an integer"}},
		{"bool wrong", "credentials:\n- name: a\n  scopes: [vso.code]\n  allOrgs: yes please\n  sinks: [{type: file, path: /a}]\n", []string{"line 4", "expected true or false"}},
		{"lock type", "rotation:\n  lock: {type: etcd}\n", []string{"line 2", "unknown lock type"}},
		{"grace too long", "credentials:\n- name: a\n  scopes: [vso.code]\n  lifetime: 3d\n  gracePeriod: 2d\n  sinks: [{type: file, path: /a}]\n", []string{"line 5", "gracePeriod"}},
		{"entra with scopes", "credentials:\n- name: a\n  kind: entra-token\n  scopes: [vso.code]\n  sinks: [{type: file, path: /a}]\n", []string{"line 4", "not used by kind entra-token"}},
		{"syntax", "credentials:\n  - name: a\n    scopes: [x\n", []string{"not valid YAML"}},
		{"duplicate key", "organization: a\norganization: b\n", []string{"line 2", "already defined"}},
		{"empty", "", []string{"empty"}},
		{"same sink twice", "credentials:\n- name: a\n  scopes: [vso.code]\n  sinks: [{type: file, path: /a}]\n- name: b\n  scopes: [vso.code]\n  sinks:\n  - {path: /a, type: file}\n", []string{"line 8", "credentials[1].sinks[0]", "already configured at credentials[0].sinks[0] (line 4)"}},
		{"connection checked", "organization: contoso\nauth:\n  method: telepathy\n", []string{"line 3", "auth.method", "telepathy"}},
		{"pushgateway", "rotation:\n  metrics: {pushgateway: 'pushgw:9091'}\n", []string{"line 2", "not an absolute http(s) URL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile([]byte(tc.yaml), "patrol.yaml", ValidateOptions{Scopes: scope})
			if err == nil {
				t.Fatal("no error")
			}
			var fe *FileError
			if !errors.As(err, &fe) || errkind.Of(err) != errkind.Usage {
				t.Fatalf("not a usage FileError: %T %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Error("error leaks the password")
			}
		})
	}
}

func TestParseFileReportsAllProblems(t *testing.T) {
	_, err := ParseFile([]byte("organisation: x\nrotation:\n  concurency: 1\n"), "p.yaml", ValidateOptions{})
	var fe *FileError
	if !errors.As(err, &fe) || len(fe.Problems) != 2 {
		t.Fatalf("want 2 problems, got %v", err)
	}
	if fe.Problems[0].Line != 1 || fe.Problems[1].Line != 3 {
		t.Fatalf("lines: %+v", fe.Problems)
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "1w2d": 9 * 24 * time.Hour, "36h30m": 36*time.Hour + 30*time.Minute,
		"1.5d": 36 * time.Hour, "90m": 90 * time.Minute, "0": 0, "720h": 720 * time.Hour,
	}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || got.D() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "30", "-1d", "1y", "3 days", "1..2d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
	if s := Duration(30 * 24 * time.Hour).String(); s != "30d" {
		t.Errorf("String = %s", s)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "1w2d", "1.5h", "0", "-3d", "9999999999w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("negative duration %v from %q", d, s)
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("round trip %q -> %v -> %q -> %v, %v", s, d, d.String(), back, err)
		}
	})
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte(goodYAML))
	f.Add([]byte("credentials: [{name: a, scopes: [x], sinks: [{type: file}]}]"))
	f.Add([]byte("a: &x {b: *x}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseFile(b, "fuzz.yaml", ValidateOptions{})
	})
}

// TestAllOrgsRetired: allOrgs: true validates before the global-PAT
// retirement and is a usage error naming the field, the retirement and the
// fix from 2026-12-01 on.
func TestAllOrgsRetired(t *testing.T) {
	src := []byte("credentials:\n- name: a\n  scopes: [vso.code]\n  allOrgs: true\n  sinks: [{type: file, path: /a}]\n")
	before := func() time.Time { return time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC) }
	f, err := ParseFile(src, "patrol.yaml", ValidateOptions{Now: before})
	if err != nil || !f.Credentials[0].AllOrgs {
		t.Fatalf("allOrgs before the retirement: %v", err)
	}
	after := func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }
	_, err = ParseFile(src, "patrol.yaml", ValidateOptions{Now: after})
	if errkind.Of(err) != errkind.Usage {
		t.Fatalf("allOrgs after the retirement: %v (kind %v)", err, errkind.Of(err))
	}
	for _, want := range []string{"line 4", "credentials[0].allOrgs", "2026-12-01", "organisation-scoped", "Entra", "remove allOrgs: true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// The real clock: today is past the retirement.
	if _, err := ParseFile(src, "patrol.yaml", ValidateOptions{}); err == nil && !time.Now().Before(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatal("allOrgs: true accepted after the retirement with the default clock")
	}
	// allOrgs: false stays valid.
	if _, err := ParseFile([]byte("credentials:\n- name: a\n  scopes: [vso.code]\n  allOrgs: false\n  sinks: [{type: file, path: /a}]\n"), "patrol.yaml", ValidateOptions{Now: after}); err != nil {
		t.Fatal(err)
	}
}
