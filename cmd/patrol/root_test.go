package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/datasource"
	"github.com/patrol-dev/patrol/internal/errkind"
)

// runCLI runs patrol in-process with exactly env as the environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code = run(ctx, args, lookup, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodeMapping(t *testing.T) {
	cases := []struct {
		err  error
		code int
		hint string
	}{
		{errors.New("boom"), 1, "report a bug"},
		{errkind.New(errkind.Usage, errors.New("x")), 2, "--help"},
		{fmt.Errorf("wrapped: %w", errkind.New(errkind.Auth, errors.New("x"))), 3, "AZURE_TENANT_ID"},
		{errkind.New(errkind.Permission, errors.New("x")), 4, "permission"},
		{errkind.New(errkind.Policy, errors.New("x")), 4, "policy"},
		{errkind.New(errkind.NotFound, errors.New("x")), 5, "does not exist"},
		{errkind.New(errkind.Transient, errors.New("x")), 6, "try again later"},
		{errkind.New(errkind.Conflict, errors.New("x")), 7, "run again"},
		{errkind.New(errkind.Partial, errors.New("x")), 8, "some items failed"},
		{fmt.Errorf("op: %w", context.Canceled), 130, "interrupted"},
		{errors.New(`unknown command "frob" for "patrol"`), 2, "--help"},
		// A typed error's own hint wins over the kind's generic advice.
		{&datasource.Error{DataSource: "TestConnection", Step: "response", Status: 401, Err: errkind.New(errkind.Auth, errors.New("HTTP 401"))}, 3, "endpoint's server refused its credentials"},
	}
	for _, tc := range cases {
		var b bytes.Buffer
		if got := reportError(&b, tc.err); got != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.err, got, tc.code)
		}
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "patrol: ") || !strings.HasPrefix(lines[1], "hint: ") || !strings.Contains(lines[1], tc.hint) {
			t.Errorf("%v: stderr must be one error line and one hint line mentioning %q, got %q", tc.err, tc.hint, b.String())
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"pat", "list", "--bogus"},
		{"pat", "list", "--filter", "weird"},
		{"pat", "list", "--sort", "size"},
		{"pat", "get"},
		{"pat", "get", "not-a-guid"},
		{"pat", "revoke", "a", "b"},
		{"pat", "create"},
		{"pat", "create", "--name", "x"},
		{"pat", "create", "--name", "x", "--scope", "vso.nonsense"},
		{"pat", "create", "--name", "x", "--scope", "app_token"},
		{"pat", "create", "--name", "x", "--scope", "vso.code", "--expires-in", "soon"},
		{"pat", "create", "--name", "x", "--scope", "vso.code", "--expires-in", "-3d"},
		{"pat", "create", "--name", "x", "--scope", "vso.code", "--valid-to", "2020-01-01T00:00:00Z"},
		{"pat", "create", "--name", "x", "--scope", "vso.code", "--valid-to", "tomorrow"},
		{"pat", "create", "--name", "x", "--scope", "vso.code", "--valid-to", "2030-01-01T00:00:00Z", "--expires-in", "1d"},
		{"pat", "update", "4ab5764f-4193-4f1d-b995-64144880b7d7"},
		{"pat", "update", "4ab5764f-4193-4f1d-b995-64144880b7d7", "--valid-to", "2030-01-01T00:00:00Z", "--extend-by", "1d"},
		{"version", "extra"},
		{"-o", "xml", "version"},
		{"completion", "tcsh"},
		{"completion"},
		{"emulator", "--addr", "127.0.0.1:0", "--allow-outbound", "https://tool.example.com"},
	} {
		code, stdout, stderr := runCLI(t, map[string]string{"AZURE_DEVOPS_ORG": "contoso"}, args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
		if stdout != "" {
			t.Errorf("%q: usage errors must not print on stdout: %q", args, stdout)
		}
		if !strings.Contains(stderr, "hint: ") {
			t.Errorf("%q: no hint: %q", args, stderr)
		}
	}
}

func TestEmulatorAllowOutboundNamesTheBadEntry(t *testing.T) {
	_, _, stderr := runCLI(t, nil, "emulator", "--addr", "127.0.0.1:0", "--allow-outbound", "tool.example.com,tool.example.com/x")
	if !strings.Contains(stderr, "--allow-outbound") || !strings.Contains(stderr, `"tool.example.com/x"`) || !strings.Contains(stderr, "HOST:PORT") {
		t.Errorf("stderr %q must name the flag, the entry and the form", stderr)
	}
}

// An unknown scope gets "did you mean" with the closest names, not the
// whole catalogue.
func TestScopeErrorSuggestsClosest(t *testing.T) {
	_, _, stderr := runCLI(t, map[string]string{"AZURE_DEVOPS_ORG": "contoso"}, "pat", "create", "--name", "x", "--scope", "vso.packagin_write")
	if !strings.Contains(stderr, "vso.packagin_write") || !strings.Contains(stderr, `did you mean "vso.packaging_write"`) || strings.Contains(stderr, "vso.code_write") {
		t.Fatalf("unknown scope error must name it and suggest the closest names only: %q", stderr)
	}
	_, _, stderr = runCLI(t, map[string]string{"AZURE_DEVOPS_ORG": "contoso"}, "pat", "create", "--name", "x", "--scope", "vso.nonsense")
	if !strings.Contains(stderr, "vso.nonsense") || strings.Contains(stderr, "vso.code_write") || !strings.Contains(stderr, "patrol pat scopes") {
		t.Fatalf("a scope close to none must point to 'patrol pat scopes', not list the catalogue: %q", stderr)
	}
	_, _, stderr = runCLI(t, map[string]string{"AZURE_DEVOPS_ORG": "contoso"}, "pat", "create", "--name", "x", "--scope", "app_token")
	if !strings.Contains(stderr, "full access") {
		t.Fatalf("app_token without --full-access must be refused with the reason: %q", stderr)
	}
}

func TestConfigErrorsName(t *testing.T) {
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{}, []string{"pat", "list"}, "AZURE_DEVOPS_ORG"},
		{map[string]string{"AZURE_DEVOPS_ORG": "contoso", "PATROL_VSSPS_URL": "http://x"}, []string{"pat", "list"}, "PATROL_VSSPS_URL"},
		{map[string]string{"AZURE_DEVOPS_ORG": "contoso", "PATROL_CA_BUNDLE": "/nonexistent.pem"}, []string{"pat", "list"}, "PATROL_CA_BUNDLE"},
		{map[string]string{"AZURE_DEVOPS_ORG": "contoso"}, []string{"pat", "list", "--auth", "magic"}, "--auth"},
		{map[string]string{"AZURE_DEVOPS_ORG": "contoso", "PATROL_AUTH": "ropc"}, []string{"pat", "list"}, "AZURE_TENANT_ID"},
		{map[string]string{"AZURE_DEVOPS_ORG": "contoso", "PATROL_CONFIG": "/nonexistent.yaml"}, []string{"pat", "list"}, "PATROL_CONFIG"},
		{map[string]string{}, []string{"token", "--auth", "client-secret"}, "AZURE_CLIENT_SECRET"},
	}
	for _, tc := range cases {
		code, _, stderr := runCLI(t, tc.env, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v %q: exit %d, stderr %q; want exit 2 naming %s", tc.env, tc.args, code, stderr, tc.want)
		}
	}
}

func TestVersionJSON(t *testing.T) {
	code, stdout, _ := runCLI(t, nil, "version", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var v VersionInfo
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || v.Version == "" || !strings.HasPrefix(v.GoVersion, "go") || v.Platform == "" {
		t.Fatalf("bad version json %q: %v", stdout, err)
	}
	code, stdout, _ = runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "patrol ") {
		t.Fatalf("human version: %d %q", code, stdout)
	}
}

func TestScopesCommand(t *testing.T) {
	code, stdout, _ := runCLI(t, nil, "pat", "scopes", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var l []ScopeView
	if err := json.Unmarshal([]byte(stdout), &l); err != nil || len(l) < 50 {
		t.Fatalf("scopes json: %v (%d entries)", err, len(l))
	}
	found := false
	for _, s := range l {
		if s.Scope == "vso.code_write" && s.HighPrivilege {
			found = true
		}
	}
	if !found {
		t.Fatal("vso.code_write (high privilege) missing")
	}
}

func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		code, stdout, stderr := runCLI(t, nil, "completion", sh)
		if code != 0 || !strings.Contains(stdout, "patrol") {
			t.Errorf("%s: exit %d, %d bytes, stderr %q", sh, code, len(stdout), stderr)
		}
	}
}

func TestParseLifetime(t *testing.T) {
	for in, want := range map[string]time.Duration{"720h": 720 * time.Hour, "30d": 30 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "90m": 90 * time.Minute, " 1d ": 24 * time.Hour} {
		got, err := parseLifetime("--expires-in", in)
		if err != nil || got != want {
			t.Errorf("%q: %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0d", "-1h", "3x", "1y", "999999999d", "d"} {
		if _, err := parseLifetime("--expires-in", in); err == nil || errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), "--expires-in") {
			t.Errorf("%q: want usage error naming the flag, got %v", in, err)
		}
	}
}

func FuzzParseLifetime(f *testing.F) {
	for _, s := range []string{"720h", "30d", "2w", "1h30m", "-1d", "0", "99999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseLifetime("--x", s)
		if err == nil && d <= 0 {
			t.Fatalf("%q parsed to non-positive %v", s, d)
		}
	})
}

func TestHumanUntil(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		30 * 24 * time.Hour: "in 30d", 5 * time.Hour: "in 5h", 10 * time.Minute: "in 10m", -72 * time.Hour: "expired 3d ago",
	} {
		if got := humanUntil(now.Add(d), now); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"https://127.0.0.1:8443/": "https://127.0.0.1:8443/", "a b": "'a b'", "it's": `'it'\''s'`, "": "''"} {
		if got := shellQuote(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// A cancelled context (SIGINT/SIGTERM) exits 130 whatever the error's kind.
func TestInterruptedExit130(t *testing.T) {
	e, env := emuEnv(t)
	_ = e
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"pat", "list"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, strings.NewReader(""), &out, &errb)
	if code != 130 || !strings.Contains(errb.String(), "interrupted") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

func TestGlobalFlagsReachConnection(t *testing.T) {
	a := newApp(func(string) (string, bool) { return "", false }, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	root := newRootCmd(a)
	root.SetArgs([]string{"--disable-instance-discovery", "--org", "fabrikam", "--vssps-url", "https://vssps.example", "--api-version", "7.2-preview.1", "version"})
	root.SetOut(&bytes.Buffer{})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	c, err := a.connection()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Endpoints.DisableInstanceDiscovery || c.Organization != "fabrikam" || c.Endpoints.VSSPS != "https://vssps.example" || c.Endpoints.APIVersion != "7.2-preview.1" {
		t.Fatalf("flags lost: %+v", c.Redacted())
	}
}
