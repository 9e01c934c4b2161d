package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/doctor"
	"github.com/patrol-dev/patrol/internal/emulator"
)

// runDoctorJSON runs `patrol doctor -o json` plus args and decodes the report.
func runDoctorJSON(t *testing.T, env map[string]string, args ...string) (int, doctor.Report, string) {
	t.Helper()
	code, out, errb := runEP(t, env, "", append([]string{"doctor", "-o", "json"}, args...)...)
	var r doctor.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor -o json: %v\nstdout: %s\nstderr: %s", err, out, errb)
	}
	return code, r, errb
}

func result(t *testing.T, r doctor.Report, check string) doctor.Result {
	t.Helper()
	for _, res := range r.Results {
		if res.Check == check {
			return res
		}
	}
	var names []string
	for _, res := range r.Results {
		names = append(names, res.Check)
	}
	t.Fatalf("no check %q in %v", check, names)
	return doctor.Result{}
}

func wantStatus(t *testing.T, r doctor.Report, check string, want doctor.Status, msgPart string) doctor.Result {
	t.Helper()
	res := result(t, r, check)
	if res.Status != want || !strings.Contains(res.Message+" "+res.Fix, msgPart) {
		t.Fatalf("%s = %s %q (fix %q), want %s containing %q", check, res.Status, res.Message, res.Fix, want, msgPart)
	}
	return res
}

func TestDoctorHealthyWithProbe(t *testing.T) {
	e, env := emuEnv(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "patrol.yaml")
	if err := os.WriteFile(cfg, []byte(`credentials:
  - name: agents
    scopes: [vso.agentpools_manage]
    lifetime: 30d
    sinks:
      - {type: file, path: `+filepath.Join(dir, "pat")+`}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env["PATROL_CONFIG"] = cfg
	code, r, errb := runDoctorJSON(t, env, "--probe")
	if code != 0 || r.Worst != doctor.OK {
		t.Fatalf("exit %d, worst %s: %+v\n%s", code, r.Worst, r.Results, errb)
	}
	wantStatus(t, r, "configuration", doctor.OK, "1 credential")
	wantStatus(t, r, "identity", doctor.OK, emulator.DefaultUser)
	wantStatus(t, r, "consented scopes", doctor.OK, "vso.pats_manage")
	wantStatus(t, r, "organization "+emulator.DefaultOrg, doctor.OK, "member")
	wantStatus(t, r, "canary authenticate", doctor.OK, "authenticates")
	wantStatus(t, r, "policy max lifespan", doctor.OK, "30d")
	wantStatus(t, r, "credential agents sink file:"+filepath.Join(dir, "pat"), doctor.OK, "holds nothing yet")
	// The canary existed and is revoked now.
	f := strings.Fields(result(t, r, "canary create").Message)
	if len(f) < 3 {
		t.Fatalf("canary create: %q", result(t, r, "canary create").Message)
	}
	if id := f[2]; !e.PATIsRevoked(id) {
		t.Fatalf("canary %s is not revoked after the probe", id)
	}
}

func TestDoctorWithoutProbeWritesNothing(t *testing.T) {
	e, env := emuEnv(t)
	if code, _, errb := runDoctorJSON(t, env); code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	if n := patAPICalls(e, "POST"); n != 0 {
		t.Fatalf("doctor without --probe made %d POSTs to the PAT API", n)
	}
}

func TestDoctorFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		seed  func(*emulator.Seed)
		cfg   string // patrol.yaml content
		args  []string
		check string
		want  doctor.Status
		part  string
		code  int
	}{
		{name: "MFA user", env: map[string]string{"AZURE_USERNAME": emulator.MFAUser}, check: "sign-in", want: doctor.Fail, part: "AADSTS50076", code: 3},
		{name: "no admin consent", env: map[string]string{"AZURE_CLIENT_ID": emulator.NoConsentClientID, "AZURE_CLIENT_SECRET": ""}, check: "sign-in", want: doctor.Fail, part: "AADSTS65001", code: 3},
		{name: "read-only consent", env: map[string]string{"AZURE_CLIENT_ID": emulator.PATReadClientID, "AZURE_CLIENT_SECRET": ""}, check: "consented scopes", want: doctor.Warn, part: "vso.pats_manage", code: 0},
		{name: "service principal on the PAT API", env: map[string]string{"PATROL_AUTH": "client-secret", "AZURE_CLIENT_ID": emulator.DefaultSPClientID, "AZURE_CLIENT_SECRET": emulator.DefaultSPSecret},
			check: "identity", want: doctor.Fail, part: "accepts only users", code: 2},
		{name: "not a member", env: map[string]string{"AZURE_USERNAME": emulator.OutsiderUser}, check: "organization " + emulator.DefaultOrg, want: doctor.Fail, part: "", code: 3},
		{name: "clamped lifespan", seed: func(s *emulator.Seed) { s.Orgs[0].Policy.MaxLifespanDays = 7 }, args: []string{"--probe"},
			cfg:   "credentials:\n  - {name: agents, scopes: [vso.code], lifetime: 30d, sinks: [{type: file, path: SINK}]}\n",
			check: "policy max lifespan", want: doctor.Warn, part: "clamps", code: 0},
		{name: "creation restricted", seed: func(s *emulator.Seed) {
			s.Orgs[0].Policy.RestrictCreation = true
			s.Orgs[0].Policy.CreationAllowlist = []string{emulator.AdminUser}
		}, args: []string{"--probe"}, check: "policy restrict creation", want: doctor.Fail, part: "allowlist", code: 4},
		{name: "unreachable authority", env: map[string]string{"AZURE_AUTHORITY_HOST": "https://127.0.0.1:1/"}, check: "reach authority", want: doctor.Fail, part: "cannot be reached", code: 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := emulator.DefaultSeed()
			if tc.seed != nil {
				tc.seed(&seed)
			}
			_, env := emuEnvOpts(t, emulator.Options{Seed: &seed})
			for k, v := range tc.env {
				env[k] = v
				if v == "" {
					delete(env, k) // a public client: no secret
				}
			}
			if tc.cfg != "" {
				dir := t.TempDir()
				env["PATROL_CONFIG"] = filepath.Join(dir, "patrol.yaml")
				if err := os.WriteFile(env["PATROL_CONFIG"], []byte(strings.ReplaceAll(tc.cfg, "SINK", filepath.Join(dir, "pat"))), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			code, r, errb := runDoctorJSON(t, env, tc.args...)
			res := wantStatus(t, r, tc.check, tc.want, tc.part)
			if res.Fix == "" {
				t.Errorf("%s: %s without a fix", tc.check, res.Status)
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, errb)
			}
		})
	}
}

func TestDoctorUnreachableSink(t *testing.T) {
	_, env := emuEnv(t)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: ci}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "patrol.yaml")
	if err := os.WriteFile(cfg, []byte(`credentials:
  - name: agents
    scopes: [vso.agentpools_manage]
    sinks:
      - {type: kubernetes-secret, name: agent-pat, kubeconfig: `+kubeconfig+`}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env["PATROL_CONFIG"] = cfg
	code, r, errb := runDoctorJSON(t, env)
	res := wantStatus(t, r, "credential agents sink kubernetes-secret:ci/agent-pat", doctor.Fail, "127.0.0.1:1")
	if code != 6 || res.Kind != "transient" {
		t.Fatalf("exit %d, kind %s, want 6 transient\n%s", code, res.Kind, errb)
	}
}

func TestDoctorConfigErrorNamesTheField(t *testing.T) {
	_, env := emuEnv(t)
	cfg := filepath.Join(t.TempDir(), "patrol.yaml")
	if err := os.WriteFile(cfg, []byte("credentials:\n  - name: a\n    scopes: [vso.code]\n    lifetime: -3d\n    sinks: [{type: file, path: /tmp/x}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env["PATROL_CONFIG"] = cfg
	code, r, _ := runDoctorJSON(t, env)
	wantStatus(t, r, "configuration", doctor.Fail, "lifetime")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}

func TestDoctorTableOnATerminalReader(t *testing.T) {
	_, env := emuEnv(t)
	code, out, errb := runEP(t, env, "", "doctor")
	if code != 0 || !strings.HasPrefix(out, "STATUS") || !strings.Contains(out, "sign-in") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	// Secrets never reach the report: the emulator's password and secret.
	for _, s := range []string{emulator.DefaultPassword, emulator.DefaultClientSecret} {
		if strings.Contains(out+errb, s) {
			t.Fatal("doctor printed a secret")
		}
	}
}
