package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/emulator"
)

// lastJSONError decodes the last line of stderr as the failure document.
func lastJSONError(t *testing.T, stderr string) jsonErrorBody {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	var doc struct {
		Error *jsonErrorBody `json:"error"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &doc); err != nil || doc.Error == nil {
		t.Fatalf("the last line of stderr is not {\"error\":{…}}: %v\n%s", err, stderr)
	}
	return *doc.Error
}

// With -o json (and -o yaml: JSON is YAML) a failure is one JSON document on
// stderr's last line with the same kind, hint and exit code as the text
// form, and nothing of the text form; the exit codes do not change.
func TestJSONErrors(t *testing.T) {
	e, env := emuEnv(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "patrol.yaml")
	if err := os.WriteFile(cfg, []byte("apiVersion: patrol.dev/v1\norganization: contoso\ncredentials:\n  - name: a\n    scopes: [vso.code]\n    lifetime: 2h\n    organisation: fabrikam\n    sinks: [{type: file, path: "+filepath.Join(dir, "a")+"}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badPassword := map[string]string{}
	for k, v := range env {
		badPassword[k] = v
	}
	badPassword["AZURE_PASSWORD"] = "not-the-password"

	for _, tc := range []struct {
		name       string
		env        map[string]string
		args       []string
		faults     *emulator.Faults
		kind       string
		code       int
		field, msg string
	}{
		{"usage: bad --org", env, []string{"pat", "list", "--org", "https://dev.azure.com/contoso/project", "-o", "json"}, nil, "usage", 2, "--org", "is not an organisation URL"},
		{"usage: unknown flag", env, []string{"pat", "list", "--frobnicate", "-o", "json"}, nil, "usage", 2, "", "unknown flag: --frobnicate"},
		{"usage: patrol.yaml", env, []string{"rotate", "--config", cfg, "-o", "yaml"}, nil, "usage", 2, "credentials[0].organisation", `did you mean "organization"?`},
		{"auth", badPassword, []string{"pat", "list", "-o", "json"}, nil, "auth", 3, "", "AADSTS50126"},
		{"not found", env, []string{"pat", "get", "00000000-0000-0000-0000-000000000000", "-o", "json"}, nil, "not-found", 5, "", "00000000-0000-0000-0000-000000000000"},
		{"transient", env, []string{"pat", "list", "-o", "json"}, &emulator.Faults{ServerErrorRate: 1, Routes: []string{"tokens/pats"}}, "transient", 6, "", "503"},
	} {
		if tc.faults != nil {
			e.SetFaults(*tc.faults)
		}
		code, _, stderr := runCLI(t, tc.env, tc.args...)
		e.SetFaults(emulator.Faults{})
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s", tc.name, code, tc.code, stderr)
			continue
		}
		if strings.Contains(stderr, "patrol: ") || strings.Contains(stderr, "\nhint: ") || strings.HasPrefix(stderr, "hint: ") {
			t.Errorf("%s: the text form is printed too:\n%s", tc.name, stderr)
		}
		got := lastJSONError(t, stderr)
		if got.Kind != tc.kind || got.ExitCode != tc.code || got.Field != tc.field || !strings.Contains(got.Message, tc.msg) || !strings.Contains(got.Hint, "exit "+itoa(tc.code)) {
			t.Errorf("%s: %+v, want kind %s, exitCode %d, field %q, a message with %q and the hint", tc.name, got, tc.kind, tc.code, tc.field, tc.msg)
		}
		if strings.Contains(stderr, "not-the-password") {
			t.Errorf("%s: the password is in stderr", tc.name)
		}
	}

	// patrol.yaml problems are listed with their paths and lines.
	_, _, stderr := runCLI(t, env, "config", "validate", "--config", cfg, "-o", "json")
	got := lastJSONError(t, stderr)
	if len(got.Problems) != 1 || got.Problems[0].Path != "credentials[0].organisation" || got.Problems[0].Line != 7 {
		t.Errorf("problems: %+v", got.Problems)
	}

	// Without -o json|yaml the error stays two lines of text.
	code, _, stderr := runCLI(t, env, "pat", "get", "00000000-0000-0000-0000-000000000000")
	if code != 5 || !strings.HasPrefix(stderr, "patrol: ") || !strings.Contains(stderr, "\nhint: ") || strings.Contains(stderr, `{"error"`) {
		t.Errorf("text form: exit %d\n%s", code, stderr)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// A failed rotation with -o json: stdout is the report document, stderr's
// last line the failure (kind partial, exit 8) with the whole error, not
// the one-line summary the text form prints.
func TestJSONErrorPartialRotation(t *testing.T) {
	_, env := emuEnv(t)
	code, stdout, stderr := runCLI(t, env, "rotate", "--config", partialConfig(t), "-o", "json")
	if code != 8 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep rotateOutput
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Results) != 2 {
		t.Fatalf("stdout is not the report: %v\n%s", err, stdout)
	}
	got := lastJSONError(t, stderr)
	if got.Kind != "partial" || got.ExitCode != 8 || !strings.Contains(got.Message, "no sink accepted the new PAT") || strings.Contains(got.Message, "the report above says why") {
		t.Errorf("%+v", got)
	}
}
