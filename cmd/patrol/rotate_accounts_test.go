package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/emulator"
)

// One rotate run serves two organisations and two technical users: one
// sign-in per identity, each PAT created in its credential's organisation
// by its identity, status, plan and metrics naming both.
func TestRotateSeveralOrganizationsAndIdentities(t *testing.T) {
	e, env := emuEnv(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "admin-password")
	if err := os.WriteFile(pw, []byte(emulator.DefaultPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	sinkOf := func(n string) string { return filepath.Join(dir, n+".pat") }
	cfg := filepath.Join(dir, "patrol.yaml")
	body := `apiVersion: patrol.dev/v1
organization: ` + emulator.DefaultOrg + `
identities:
  labs-admin: {method: ropc, tenantId: ` + emulator.DefaultTenantID + `, clientId: ` + emulator.DefaultClientID + `, username: ` + emulator.AdminUser + `, passwordFile: ` + pw + `}
rotation:
  lock: {type: file, path: ` + filepath.Join(dir, "rotate.lock") + `}
  metrics: {textfile: ` + filepath.Join(dir, "patrol.prom") + `}
credentials:
  - {name: a, scopes: [vso.code], sinks: [{type: file, path: ` + sinkOf("a") + `}]}
  - {name: b, organization: ` + emulator.OtherOrg + `, scopes: [vso.code], sinks: [{type: file, path: ` + sinkOf("b") + `}]}
  - {name: c, organization: ` + emulator.OtherOrg + `, identity: labs-admin, scopes: [vso.code], sinks: [{type: file, path: ` + sinkOf("c") + `}]}
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	before := signIns(e)
	code, out, errOut := runCLI(t, env, "rotate", "--config", cfg, "-o", "json")
	if code != 0 {
		t.Fatalf("rotate: %d %s %s", code, out, errOut)
	}
	if n := signIns(e) - before; n != 2 {
		t.Errorf("one sign-in per identity: want 2 token requests, got %d", n)
	}
	var res rotateOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Results) != 3 {
		t.Fatalf("rotate output: %v %s", err, out)
	}
	want := map[string][2]string{"a": {emulator.DefaultOrg, ""}, "b": {emulator.OtherOrg, ""}, "c": {emulator.OtherOrg, "labs-admin"}}
	for _, r := range res.Results {
		if w := want[r.Credential]; r.Error != "" || r.Organization != w[0] || r.Identity != w[1] {
			t.Errorf("result %s: %+v, want organization %q identity %q", r.Credential, r, w[0], w[1])
		}
	}

	// Each PAT lives in its credential's organisation, owned by its identity.
	names := func(env map[string]string, org string) string {
		code, out, errOut := runCLI(t, env, "pat", "list", "--org", org, "-o", "json")
		if code != 0 {
			t.Fatalf("pat list %s: %d %s", org, code, errOut)
		}
		return out
	}
	admin := map[string]string{}
	for k, v := range env {
		admin[k] = v
	}
	admin["AZURE_USERNAME"] = emulator.AdminUser
	for _, tc := range []struct {
		env       map[string]string
		who, org  string
		has, hasn []string
	}{
		{env, "bot", emulator.DefaultOrg, []string{"patrol:a:"}, []string{"patrol:b:", "patrol:c:"}},
		{env, "bot", emulator.OtherOrg, []string{"patrol:b:"}, []string{"patrol:a:", "patrol:c:"}},
		{admin, "admin", emulator.OtherOrg, []string{"patrol:c:"}, []string{"patrol:a:", "patrol:b:"}},
	} {
		got := names(tc.env, tc.org)
		for _, h := range tc.has {
			if !strings.Contains(got, h) {
				t.Errorf("%s in %s: want %s…, got %q", tc.who, tc.org, h, got)
			}
		}
		for _, h := range tc.hasn {
			if strings.Contains(got, h) {
				t.Errorf("%s in %s: %s… must not be there, got %q", tc.who, tc.org, h, got)
			}
		}
	}

	// Status and metrics name the organisation and identity.
	code, out, errOut = runCLI(t, env, "status", "--config", cfg, "-o", "json")
	var st Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Credentials) != 3 {
		t.Fatalf("status: %d %s %s", code, out, errOut)
	}
	for _, c := range st.Credentials {
		if w := want[c.Credential]; c.Health != "ok" || c.Organization != w[0] || c.Identity != w[1] {
			t.Errorf("status %s: %+v", c.Credential, c)
		}
	}
	code, out, _ = runCLI(t, env, "status", "--config", cfg, "-o", "wide")
	if code != 0 || strings.Contains(out, "APPLICATION") || !strings.Contains(out, "ORGANIZATION") || !strings.Contains(out, "labs-admin") || !strings.Contains(out, emulator.OtherOrg) {
		t.Errorf("status -o wide: %d %s", code, out)
	}
	prom, _ := os.ReadFile(filepath.Join(dir, "patrol.prom"))
	if !strings.Contains(string(prom), `patrol_credential_info{credential="c",identity="labs-admin",kind="pat",organization="`+emulator.OtherOrg+`"} 1`) {
		t.Errorf("metrics lack the account labels: %s", prom)
	}

	// A second run: nothing due anywhere, nothing revoked across accounts.
	code, out, errOut = runCLI(t, env, "rotate", "--config", cfg, "-o", "json")
	if code != 0 || strings.Count(out, `"action": "none"`) < 3 || strings.Contains(out, `"revoked"`) {
		t.Fatalf("second rotate: %d %s %s", code, out, errOut)
	}
}

// An unknown identity is refused naming the credential's field and the
// known identities, on every command that reads the file.
func TestUnknownIdentityCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "patrol.yaml")
	body := "apiVersion: patrol.dev/v1\norganization: contoso\nidentities:\n  ops: {method: azure-cli}\ncredentials:\n  - {name: a, identity: opz, scopes: [vso.code], sinks: [{type: file, path: " + filepath.Join(dir, "a") + "}]}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"config", "validate"}, {"rotate"}, {"pat", "list"}} {
		code, _, errOut := runCLI(t, nil, append(args, "--config", cfg)...)
		if code != 2 || !strings.Contains(errOut, `credentials[0].identity: unknown identity "opz"; known identities: ops`) {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
}

// credentials[].organization may be the organisation's URL (as --org): the
// plan, result, status, metrics labels and the lock name it by its name,
// and the default organisation in another spelling is the default account
// (one listing, not two).
func TestRotateOrganizationURL(t *testing.T) {
	e, env := emuEnv(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "patrol.yaml")
	body := `apiVersion: patrol.dev/v1
organization: https://dev.azure.com/` + emulator.DefaultOrg + `
rotation:
  lock: {type: file, path: ` + filepath.Join(dir, "rotate.lock") + `}
  metrics: {textfile: ` + filepath.Join(dir, "patrol.prom") + `}
credentials:
  - {name: a, scopes: [vso.code], sinks: [{type: file, path: ` + filepath.Join(dir, "a") + `}]}
  - {name: b, organization: 'https://dev.azure.com/` + strings.ToUpper(emulator.DefaultOrg) + `/', scopes: [vso.code], sinks: [{type: file, path: ` + filepath.Join(dir, "b") + `}]}
  - {name: c, organization: 'https://` + emulator.OtherOrg + `.visualstudio.com', scopes: [vso.code], sinks: [{type: file, path: ` + filepath.Join(dir, "c") + `}]}
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	delete(env, "AZURE_DEVOPS_ORG")
	lists := func() int64 {
		var n int64
		for k, v := range e.Counters() {
			if strings.Contains(k, "GET") && strings.Contains(k, "pats") {
				n += v
			}
		}
		return n
	}
	before := lists()
	code, out, errOut := runCLI(t, env, "rotate", "--config", cfg, "-o", "json")
	if code != 0 {
		t.Fatalf("rotate: %d %s %s", code, out, errOut)
	}
	if n := lists() - before; n != 4 {
		t.Errorf("two accounts, two listings each (plan, check): got %d PAT listings (counters %v)", n, e.Counters())
	}
	want := map[string]string{"a": emulator.DefaultOrg, "b": emulator.DefaultOrg, "c": emulator.OtherOrg}
	var res rotateOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Results) != 3 {
		t.Fatalf("rotate output: %v %s", err, out)
	}
	for _, r := range res.Results {
		if r.Error != "" || r.Organization != want[r.Credential] {
			t.Errorf("result %s: %+v, want organization %q", r.Credential, r, want[r.Credential])
		}
	}
	code, out, errOut = runCLI(t, env, "status", "--config", cfg, "-o", "json")
	var st Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Credentials) != 3 {
		t.Fatalf("status: %d %s %s", code, out, errOut)
	}
	for _, c := range st.Credentials {
		if c.Organization != want[c.Credential] {
			t.Errorf("status %s: organization %q, want %q", c.Credential, c.Organization, want[c.Credential])
		}
	}
	prom, _ := os.ReadFile(filepath.Join(dir, "patrol.prom"))
	if strings.Contains(string(prom), "https:") || !strings.Contains(string(prom), `credential="c",identity="",kind="pat",organization="`+emulator.OtherOrg+`"`) {
		t.Errorf("metrics labels name the organisation: %s", prom)
	}
	f, err := config.LoadFile(cfg, config.ValidateOptions{SkipSinks: true})
	if err != nil {
		t.Fatal(err)
	}
	var o, eb bytes.Buffer
	a := newApp(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, strings.NewReader(""), &o, &eb)
	if code, _, errOut := runApp(a, &o, &eb, "status", "--config", cfg); code != 0 {
		t.Fatalf("status: %d %s", code, errOut)
	}
	if got := strings.Join(a.accountNames(f), ", "); got != emulator.DefaultOrg+", "+emulator.OtherOrg {
		t.Errorf("lock accounts: %q", got)
	}
}

// One identity that cannot list its PATs (its password is wrong) fails its
// own credentials only: the other account's credential still rotates, the
// run exits non-zero, and the failed result names the identity.
func TestRotateOneAccountFailsAlone(t *testing.T) {
	_, env := emuEnv(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "admin-password")
	if err := os.WriteFile(pw, []byte("not-the-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	sinkOf := func(n string) string { return filepath.Join(dir, n+".pat") }
	cfg := filepath.Join(dir, "patrol.yaml")
	body := `apiVersion: patrol.dev/v1
organization: ` + emulator.DefaultOrg + `
identities:
  labs-admin: {method: ropc, tenantId: ` + emulator.DefaultTenantID + `, clientId: ` + emulator.DefaultClientID + `, username: ` + emulator.AdminUser + `, passwordFile: ` + pw + `}
rotation:
  lock: {type: file, path: ` + filepath.Join(dir, "rotate.lock") + `}
credentials:
  - {name: a, scopes: [vso.code], sinks: [{type: file, path: ` + sinkOf("a") + `}]}
  - {name: c, organization: ` + emulator.OtherOrg + `, identity: labs-admin, scopes: [vso.code], sinks: [{type: file, path: ` + sinkOf("c") + `}]}
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, env, "rotate", "--config", cfg, "-o", "json")
	if code != 8 {
		t.Fatalf("rotate: exit %d, want 8 (partial: labs-admin cannot sign in, a rotated): %s %s", code, out, errOut)
	}
	var res rotateOutput
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Results) != 2 {
		t.Fatalf("rotate must report both credentials: exit %d, %v, stdout %q stderr %q", code, err, out, errOut)
	}
	for _, r := range res.Results {
		switch r.Credential {
		case "a":
			if r.Error != "" || r.Action != "create" {
				t.Errorf("a must rotate despite labs-admin: %+v", r)
			}
		case "c":
			if r.Error == "" || !strings.Contains(r.Error, "labs-admin") {
				t.Errorf("c must fail naming its identity: %+v", r)
			}
			// The hint names the identity's field, not AZURE_PASSWORD,
			// which a named identity never reads.
			if !strings.Contains(r.Error, "identities.labs-admin.passwordFile") || strings.Contains(r.Error, "AZURE_PASSWORD") {
				t.Errorf("c's hint must name identities.labs-admin.passwordFile: %s", r.Error)
			}
		}
	}
	if b, err := os.ReadFile(sinkOf("a")); err != nil || len(b) == 0 {
		t.Errorf("a's sink holds no PAT: %v", err)
	}
	if _, err := os.Stat(sinkOf("c")); err == nil {
		t.Errorf("c's sink was written although its listing failed")
	}
}
