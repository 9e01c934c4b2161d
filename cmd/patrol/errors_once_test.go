package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ttyBuffer is a buffer that says it is a terminal (output.IsTerminal).
type ttyBuffer struct{ bytes.Buffer }

func (*ttyBuffer) IsTerminal() bool { return true }

// runTTY runs patrol with stdout and stderr on a (fake) terminal.
func runTTY(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb ttyBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// partialConfig is a run where credential "broken" cannot be delivered.
func partialConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := `apiVersion: patrol.dev/v1
organization: contoso
rotation: {lock: {type: none}}
credentials:
  - name: good
    scopes: [vso.code]
    sinks: [{type: file, path: ` + filepath.Join(dir, "good.pat") + `}]
  - name: broken
    scopes: [vso.code]
    sinks: [{type: file, path: ` + filepath.Join(dir, "broken.pat") + `}]
`
	if err := os.MkdirAll(filepath.Join(dir, "broken.pat.meta.json.next", "block"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "patrol.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A failing command prints its error once: a failed rotation's error is in
// the report (and, off a terminal, the run log), never again in the final
// line, which names the failed credentials.
func TestFailingCommandPrintsItsErrorOnce(t *testing.T) {
	_, env := emuEnv(t)
	const cause = "no sink accepted the new PAT"

	code, stdout, stderr := runTTY(t, env, "rotate", "--config", partialConfig(t))
	if code != 8 || strings.Count(stdout+stderr, cause) != 1 {
		t.Errorf("terminal: exit %d; %q printed %d times, want once:\n%s\n%s", code, cause, strings.Count(stdout+stderr, cause), stdout, stderr)
	}
	if !strings.Contains(stderr, "patrol: rotation failed for 1 of 2 credential(s): broken; the report above says why\n") {
		t.Errorf("terminal: final line should name the failed credential only: %q", stderr)
	}

	code, stdout, stderr = runCLI(t, env, "rotate", "--config", partialConfig(t))
	if code != 8 || strings.Count(stderr, cause) != 1 || strings.Count(stdout, cause) != 1 {
		t.Errorf("not a terminal: exit %d; %q on stderr %d times (the log), on stdout %d times (the report), want once each:\n%s\n%s", code, cause, strings.Count(stderr, cause), strings.Count(stdout, cause), stdout, stderr)
	}

	env["AZURE_PASSWORD"] = "not-the-password"
	code, _, stderr = runCLI(t, env, "pat", "list")
	if code != 3 || strings.Count(stderr, "AADSTS50126") != 1 {
		t.Errorf("sign-in failure: exit %d, AADSTS50126 printed %d times: %q", code, strings.Count(stderr, "AADSTS50126"), stderr)
	}
}

// On a terminal a long error is one short line plus the hint; the whole
// message is there at --log-level debug and with -o json.
func TestLongErrorShortOnTerminal(t *testing.T) {
	_, env := emuEnv(t)
	env["AZURE_PASSWORD"] = "not-the-password"
	_, _, full := runCLI(t, env, "pat", "list")
	if len(strings.SplitN(full, "\n", 2)[0]) <= maxShortError+len("patrol: ") {
		t.Fatalf("the sign-in error is not long enough for this test: %q", full)
	}
	code, _, stderr := runTTY(t, env, "pat", "list")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 3 || len(lines) != 2 || strings.Contains(lines[0], "and AZURE_USERNAME") || len([]rune(lines[0])) > maxShortError+80 || !strings.Contains(lines[0], "--log-level debug") || !strings.HasPrefix(lines[1], "hint: ") {
		t.Errorf("terminal: exit %d, want one short line and one hint: %q", code, stderr)
	}
	_, _, stderr = runTTY(t, env, "pat", "list", "--log-level", "debug")
	if !strings.Contains(stderr, "AADSTS50126") || !strings.Contains(stderr, "and AZURE_USERNAME\n") {
		t.Errorf("--log-level debug on a terminal: the whole error is missing: %q", stderr)
	}
	_, _, stderr = runTTY(t, env, "pat", "list", "-o", "json")
	if m := lastJSONError(t, stderr).Message; !strings.Contains(m, "AADSTS50126") || !strings.HasSuffix(m, "and AZURE_USERNAME") {
		t.Errorf("-o json on a terminal: the whole error is missing: %q", stderr)
	}
}
