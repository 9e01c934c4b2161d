package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// Local problems are usage errors with a hint about the local thing, never
// "unexpected failure, report a bug" or "try again later".
func TestHintsMatchTheProblem(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run1 := func(env map[string]string, args ...string) (int, string) {
		t.Helper()
		var out, errb strings.Builder
		code := run(ctx, args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, strings.NewReader(""), &out, &errb)
		return code, errb.String()
	}
	code, errs := run1(nil, "emulator", "--addr", l.Addr().String(), "--ca-file", t.TempDir()+"/ca.pem")
	if code != 2 || !strings.Contains(errs, "another process already listens on "+l.Addr().String()) {
		t.Errorf("port in use: exit %d\n%s", code, errs)
	}
	code, errs = run1(nil, "emulator", "--addr", "127.0.0.1:0", "--ca-file", t.TempDir())
	if code != 2 || !strings.Contains(errs, "--ca-file must name a file") {
		t.Errorf("--ca-file is a directory: exit %d\n%s", code, errs)
	}
	code, errs = run1(nil, "emulator", "--addr", "127.0.0.1:0", "--ca-file", t.TempDir()+"/ca.pem", "--state", t.TempDir())
	if code != 2 || !strings.Contains(errs, "--state and --seed must name files") {
		t.Errorf("--state is a directory: exit %d\n%s", code, errs)
	}
	code, errs = run1(map[string]string{"AZURE_DEVOPS_ORG": "contoso", "AZURE_TENANT_ID": "contoso.example", "AZURE_CLIENT_ID": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"},
		"pat", "list", "--auth", "device-code", "--token-cache", t.TempDir())
	if code != 2 || !strings.Contains(errs, "is a directory") || strings.Contains(errs, "chmod") {
		t.Errorf("--token-cache is a directory: exit %d\n%s", code, errs)
	}
	_, env := emuEnv(t)
	env["AZURE_DEVOPS_ORG"] = "nosuchorg"
	code, errs = run1(env, "pat", "list")
	if code != 5 || !strings.Contains(errs, `hint: there is no Azure DevOps organisation "nosuchorg": check AZURE_DEVOPS_ORG`) {
		t.Errorf("unknown org: exit %d\n%s", code, errs)
	}
	code, errs = run1(env, "endpoint", "test", "--manifest", "../../internal/datasource/testdata/semantics.json", "--endpoint", writeFile(t, "e.json", `{"url":"ftp://files.example/","authorization":{"scheme":"Token","parameters":{"apitoken":"t"}}}`))
	if code != 2 || strings.Contains(errs, "try again later") {
		t.Errorf("unusable data-source URL: exit %d\n%s", code, errs)
	}
}
