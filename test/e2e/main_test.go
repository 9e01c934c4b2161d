// Package e2e holds black-box tests of the built patrol binary: TestMain
// builds it once, each test starts the emulator in-process and runs the
// binary with the emulator's environment, exactly as a user would.
//
// Every run uses --log-level debug (PATROL_LOG_LEVEL=debug). All stderr, and
// all stdout except the outputs where printing a secret is the point (pat
// create, token), is collected; after the suite TestMain fails if any secret
// of the emulator seed, any created PAT secret or any access token appears in
// it, or any PAT-shaped string (either format).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/patsecret"
)

var (
	binary     string
	buildFlags []string // extra go build flags (race_test.go adds -race)

	collectMu sync.Mutex
	collected bytes.Buffer          // every stderr and non-secret stdout
	secrets   = map[string]string{} // value -> what it is
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "patrol-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "patrol")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	build := exec.Command("go", append(append([]string{"build"}, buildFlags...), "-o", binary, "github.com/patrol-dev/patrol/cmd/patrol")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building patrol failed:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	for v, what := range map[string]string{
		emulator.DefaultPassword:       "DefaultPassword",
		emulator.DefaultClientSecret:   "DefaultClientSecret",
		emulator.DefaultSPSecret:       "DefaultSPSecret",
		emulator.DefaultIdentityHeader: "DefaultIdentityHeader",
	} {
		addSecret(v, what)
	}
	code := m.Run()
	if code == 0 {
		if leaks := findLeaks(); len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "e2e: SECRETS LEAKED into stderr/log output:\n  %s\n", strings.Join(leaks, "\n  "))
			code = 1
		} else {
			collectMu.Lock()
			fmt.Printf("e2e: scanned %d bytes of stderr/log output for %d secret values: none found\n", collected.Len(), len(secrets))
			collectMu.Unlock()
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func addSecret(v, what string) {
	if len(v) < 6 {
		return
	}
	collectMu.Lock()
	secrets[v] = what
	collectMu.Unlock()
}

var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`)

func findLeaks() []string {
	collectMu.Lock()
	defer collectMu.Unlock()
	return leaksIn(collected.String(), secrets)
}

// leaksIn names the secrets (and JWTs) found in out.
func leaksIn(out string, secrets map[string]string) []string {
	var leaks []string
	for v, what := range secrets {
		if strings.Contains(out, v) {
			leaks = append(leaks, what)
		}
	}
	if jwtRE.MatchString(out) {
		leaks = append(leaks, "a JWT access token")
	}
	// Any PAT-shaped word (84 characters with AZDO, or 52 base32), even one
	// the suite never saw: created PATs are added above, this also catches
	// those created by patrol itself (rotate, demo).
	for _, p := range patsecret.Find(out) {
		leaks = append(leaks, fmt.Sprintf("a %d-character PAT (%s****)", len(p), p[:4]))
	}
	sort.Strings(leaks)
	return leaks
}

func TestLeakScannerDetects(t *testing.T) {
	s := map[string]string{"hunter2-secret": "password"}
	if l := leaksIn("log: pw=hunter2-secret", s); len(l) != 1 || l[0] != "password" {
		t.Fatalf("planted secret not found: %v", l)
	}
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4eHh4eHh4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
	if l := leaksIn("Authorization: Bearer "+jwt, s); len(l) != 1 {
		t.Fatalf("planted JWT not found: %v", l)
	}
	for _, pat := range []string{"dip55dwf4vpitomw63jzvomefmi2jluguprzwwqwuc6xq4fhocwq",
		"Q7mfW2kPz9LcR4tYx8NbV3hJd6GsA1uEoK5iT0pXq2wZyMn7RvBcJQQJ99CLACAAAAAAAAAAAAASAZDO3fKx"} {
		if l := leaksIn("wrote PAT="+pat+"\n", s); len(l) != 1 {
			t.Fatalf("unlisted %d-character PAT not found: %v", len(pat), l)
		}
	}
	if l := leaksIn("authorizationId=abc REDACTED 4ab5764f-4193-4f1d-b995-64144880b7d7", s); len(l) != 0 {
		t.Fatalf("false positive: %v", l)
	}
}

// env is a test's environment for the binary.
type env map[string]string

// world is one emulator plus the environment pointing patrol at it.
type world struct {
	t   *testing.T
	e   *emulator.Emulator
	env env // the seed's variables + endpoint overrides + debug logging
	dir string
}

// start starts an emulator (seed nil = default) and returns the world.
func start(t *testing.T, seed *emulator.Seed) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e, err := emulator.Start(ctx, emulator.Options{Addr: "127.0.0.1:0", Seed: seed})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); cancel() })
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := e.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, e: e, dir: dir, env: env{
		"HOME":             dir,
		"XDG_CONFIG_HOME":  filepath.Join(dir, "config"),
		"PATROL_LOG_LEVEL": "debug",
		// the seed's six variables
		"AZURE_USERNAME":      emulator.DefaultUser,
		"AZURE_PASSWORD":      emulator.DefaultPassword,
		"AZURE_CLIENT_SECRET": emulator.DefaultClientSecret,
	}}
	for k, v := range e.Env(ca) {
		w.env[k] = v
	}
	return w
}

// result of one patrol run.
type result struct {
	code           int
	stdout, stderr string
}

// runOpts tune one run.
type runOpts struct {
	// secretStdout: stdout carries a secret on purpose (pat create, token);
	// it is not added to the leak scan.
	secretStdout bool
	stdin        string
}

func (w *world) patrol(e env, args ...string) result {
	return w.patrolOpts(runOpts{}, e, args...)
}

func (w *world) patrolOpts(o runOpts, e env, args ...string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = []string{}
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(o.stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			w.t.Fatalf("running patrol %q: %v", args, err)
		}
		code = ee.ExitCode()
	}
	collectMu.Lock()
	fmt.Fprintf(&collected, "\n--- patrol %s (exit %d)\n", strings.Join(args, " "), code)
	collected.Write(errb.Bytes())
	if !o.secretStdout {
		collected.Write(out.Bytes())
	}
	collectMu.Unlock()
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// with returns a copy of base with changes applied ("" deletes).
func with(base env, changes env) env {
	out := env{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func (r result) must(t *testing.T, args ...string) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("patrol %q: exit %d\nstderr: %s", args, r.code, r.stderr)
	}
	return r
}
