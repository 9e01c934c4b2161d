package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
)

// emuEnv starts an emulator and returns the environment pointing patrol at
// it (CA via PATROL_CA_BUNDLE, since SSL_CERT_FILE is read from the real
// process environment).
func emuEnv(tb testing.TB) (*emulator.Emulator, map[string]string) {
	tb.Helper()
	return emuEnvOpts(tb, emulator.Options{})
}

// emuEnvOpts is emuEnv with emulator options (seed, clock).
func emuEnvOpts(tb testing.TB, opts emulator.Options) (*emulator.Emulator, map[string]string) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts.Addr = "127.0.0.1:0"
	e, err := emulator.Start(ctx, opts)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close(); cancel() })
	ca := filepath.Join(tb.TempDir(), "ca.pem")
	if err := e.WriteCA(ca); err != nil {
		tb.Fatal(err)
	}
	env := e.Env(ca)
	delete(env, "SSL_CERT_FILE")
	env["PATROL_CA_BUNDLE"] = ca
	env["AZURE_USERNAME"] = emulator.DefaultUser
	env["AZURE_PASSWORD"] = emulator.DefaultPassword
	env["AZURE_CLIENT_SECRET"] = emulator.DefaultClientSecret
	env["HOME"] = tb.TempDir()
	return e, env
}

func signIns(e *emulator.Emulator) int64 { return e.CountRequests("oauth2/v2.0/token") }

// patOps runs 100 PAT operations through one app (one process).
func patOps(tb testing.TB, env map[string]string) {
	tb.Helper()
	a := newApp(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	ctx := context.Background()
	if _, err := a.userToken(ctx); err != nil {
		tb.Fatal(err)
	}
	dc, err := a.devops(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := dc.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: "reuse", Scope: "vso.code", ValidTo: time.Now().Add(time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < 97; i++ {
		if _, err := dc.GetPAT(ctx, p.AuthorizationID); err != nil {
			tb.Fatal(err)
		}
	}
	for _, err := range dc.ListPATs(ctx, devopsListAll()) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := dc.RevokePAT(ctx, p.AuthorizationID); err != nil {
		tb.Fatal(err)
	}
}

// 100 PAT operations in one process cost exactly one sign-in.
func TestTokenReuseOneSignIn(t *testing.T) {
	e, env := emuEnv(t)
	e.ResetCounters()
	patOps(t, env)
	if n := signIns(e); n != 1 {
		t.Fatalf("100 PAT operations made %d sign-ins, want 1 (counters %v)", n, e.Counters())
	}
	var pats int64
	for k, v := range e.Counters() {
		if strings.Contains(k, "tokens/pats") {
			pats += v
		}
	}
	if pats < 100 {
		t.Fatalf("only %d PAT API calls counted", pats)
	}
}

func BenchmarkTokenReuse(b *testing.B) {
	e, env := emuEnv(b)
	e.ResetCounters()
	n := 0
	for b.Loop() {
		patOps(b, env)
		n++
	}
	b.ReportMetric(float64(signIns(e))/float64(n), "signins/op")
	b.ReportMetric(100, "patops/op")
}

// The pat commands in-process against the emulator: table/json/yaml output.
func TestPATCommandsInProcess(t *testing.T) {
	e, env := emuEnv(t)
	_ = e
	code, stdout, stderr := runCLI(t, env, "pat", "create", "--name", "inproc", "--scope", "vso.build", "--expires-in", "48h", "-o", "json")
	if code != 0 {
		t.Fatalf("create: %d %s", code, stderr)
	}
	var v PATView
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || v.Token == "" {
		t.Fatalf("create json: %v %s", err, stdout)
	}
	code, stdout, stderr = runCLI(t, env, "pat", "get", v.AuthorizationID, "-o", "table")
	if code != 0 || !strings.Contains(stdout, "Authorization ID:") || !strings.Contains(stdout, "inproc") || strings.Contains(stdout, v.Token) {
		t.Fatalf("get table: %d %q %q", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, env, "pat", "list", "-o", "yaml")
	if code != 0 || !strings.Contains(stdout, "displayName: inproc") || strings.Contains(stdout, "token:") {
		t.Fatalf("list yaml: %d %q", code, stdout)
	}
	code, stdout, _ = runCLI(t, env, "pat", "revoke", v.AuthorizationID, "-o", "table")
	if code != 0 || !strings.Contains(stdout, "Revoked PAT "+v.AuthorizationID) {
		t.Fatalf("revoke table: %d %q", code, stdout)
	}
}

func devopsListAll() devops.ListOptions {
	return devops.ListOptions{Filter: api.FilterAll, Sort: api.SortDisplayName, PageSize: api.MaxPageSize}
}

// Shell completion offers the authorization IDs of active PATs.
func TestCompletePATIDs(t *testing.T) {
	_, env := emuEnv(t)
	code, stdout, stderr := runCLI(t, env, "pat", "create", "--name", "completable", "--scope", "vso.code", "-o", "json")
	if code != 0 {
		t.Fatal(stderr)
	}
	var v PATView
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runCLI(t, env, "__complete", "pat", "revoke", "")
	if code != 0 || !strings.Contains(stdout, v.AuthorizationID+"\tcompletable") {
		t.Fatalf("completion: %d %q", code, stdout)
	}
	code, stdout, _ = runCLI(t, env, "__complete", "pat", "list", "--filter", "")
	if code != 0 || !strings.Contains(stdout, "revoked") {
		t.Fatalf("flag completion: %d %q", code, stdout)
	}
}

// --scope completes the catalogue's scope names (with their friendly names).
func TestScopeFlagCompletion(t *testing.T) {
	for _, cmd := range []string{"create", "update"} {
		code, stdout, _ := runCLI(t, nil, "__complete", "pat", cmd, "--scope", "vso.code")
		if code != 0 || !strings.Contains(stdout, "vso.code_write\tCode (read & write)") || strings.Contains(stdout, "vso.build") || !strings.Contains(stdout, ":4") {
			t.Errorf("pat %s --scope vso.code<TAB>: %d %q; want the vso.code* names, no file completion", cmd, code, stdout)
		}
	}
}
