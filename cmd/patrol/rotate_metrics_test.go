package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// promValue returns the value of the series line that starts with series
// ("" when absent).
func promValue(t *testing.T, prom, series string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(prom)
	if m == nil {
		return ""
	}
	return m[1]
}

func readProm(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every run exports every configured credential, the last success survives
// a failure, --only keeps the other credentials, counters are cumulative,
// and patrol_credential_ready says what `patrol status` says.
func TestRotateMetricsRemember(t *testing.T) {
	_, env := emuEnv(t)
	dir := t.TempDir()
	prom := filepath.Join(dir, "patrol.prom")
	cfg := `organization: contoso
rotation:
  lock: {type: none}
  metrics: {textfile: ` + prom + `}
credentials:
  - name: agents
    scopes: [vso.agentpools_manage]
    sinks: [{type: file, path: ` + filepath.Join(dir, "agents.pat") + `}]
  - name: feed
    scopes: [vso.packaging]
    sinks: [{type: file, path: ` + filepath.Join(dir, "feed.pat") + `}]
`
	p := filepath.Join(dir, "patrol.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, env, "rotate", "--config", p); code != 0 {
		t.Fatalf("first run: %d\n%s\n%s", code, out, errOut)
	}
	m := readProm(t, prom)
	success := promValue(t, m, `patrol_last_success_timestamp_seconds{credential="agents"}`)
	expiry := promValue(t, m, `patrol_credential_expiry_timestamp_seconds{credential="agents"}`)
	if success == "" || expiry == "" {
		t.Fatalf("first run lacks agents' series:\n%s", m)
	}
	for series, want := range map[string]string{
		`patrol_rotations_total{credential="agents"}`:  "1",
		`patrol_credential_ready{credential="agents"}`: "1",
		`patrol_last_run_success`:                      "1",
	} {
		if got := promValue(t, m, series); got != want {
			t.Errorf("after the first run %s = %q, want %q", series, got, want)
		}
	}

	// agents' sink cannot be written any more: the forced run fails for it.
	if err := os.MkdirAll(filepath.Join(dir, "agents.pat.meta.json.next", "block"), 0o700); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, env, "rotate", "--config", p, "--force"); code != 8 {
		t.Fatalf("failing run: exit %d, want 8\n%s\n%s", code, out, errOut)
	}
	m = readProm(t, prom)
	for series, want := range map[string]string{
		`patrol_last_success_timestamp_seconds{credential="agents"}`:      success,
		`patrol_credential_expiry_timestamp_seconds{credential="agents"}`: expiry, // the sink still holds the first PAT
		`patrol_rotations_total{credential="agents"}`:                     "1",
		`patrol_rotations_total{credential="feed"}`:                       "2",
		`patrol_failures_total{credential="agents",reason="sink"}`:        "1",
		`patrol_credential_ready{credential="agents"}`:                    "0",
		`patrol_credential_ready{credential="feed"}`:                      "1",
		`patrol_last_run_success`:                                         "0",
	} {
		if got := promValue(t, m, series); got != want {
			t.Errorf("after the failed run %s = %q, want %q", series, got, want)
		}
	}
	code, out, _ := runCLI(t, env, "status", "--config", p, "-o", "json")
	var st Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 8 || st.Credentials[0].Health != "failed" || !strings.Contains(st.Credentials[0].Detail, "sink") {
		t.Fatalf("status after the failed run: exit %d %v\n%s", code, err, out)
	}

	// --only feed: agents' series stay, counters keep counting.
	if code, out, errOut := runCLI(t, env, "rotate", "--config", p, "--only", "feed", "--force"); code != 0 {
		t.Fatalf("--only run: %d\n%s\n%s", code, out, errOut)
	}
	m = readProm(t, prom)
	for series, want := range map[string]string{
		`patrol_last_success_timestamp_seconds{credential="agents"}`:                              success,
		`patrol_credential_expiry_timestamp_seconds{credential="agents"}`:                         expiry,
		`patrol_failures_total{credential="agents",reason="sink"}`:                                "1",
		`patrol_credential_ready{credential="agents"}`:                                            "0",
		`patrol_rotations_total{credential="feed"}`:                                               "3",
		`patrol_sink_ready{credential="feed",sink="file:` + filepath.Join(dir, "feed.pat") + `"}`: "1",
	} {
		if got := promValue(t, m, series); got != want {
			t.Errorf("after --only feed %s = %q, want %q", series, got, want)
		}
	}
	if !strings.Contains(m, "patrol_build_info{") || promValue(t, m, "patrol_last_run_timestamp_seconds") == "" {
		t.Errorf("build info or last run timestamp missing:\n%s", m)
	}
	st0, err := os.Stat(prom + ".state.json")
	if err != nil || st0.Mode().Perm() != 0o600 {
		t.Fatalf("state file beside the textfile: %v %v", st0, err)
	}
}
