//go:build unix

package walkthrough

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/testtool"
)

// root is the repository checkout (this package is test/walkthrough).
const root = "../.."

// binDir holds the patrol binary built from this checkout (TestMain).
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "patrol-walkthrough-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "patrol"), "github.com/patrol-dev/patrol/cmd/patrol")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "walkthrough: building patrol failed:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// documents are the files whose shell blocks must be marked.
func documents(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join(root, "README.md")}, docs...)
}

// TestWalkthroughs runs every marked walk-through of README.md and
// docs/*.md, one after the other, and fails on an unmarked shell block.
func TestWalkthroughs(t *testing.T) {
	var all []Block
	for _, f := range documents(t) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		blocks, err := Parse(rel, src)
		if err != nil {
			t.Error(err)
		}
		all = append(all, blocks...)
	}
	walks, problems := Collect(all)
	for _, p := range problems {
		t.Error(p)
	}
	if len(walks) == 0 {
		t.Fatal("no walk-through found: README.md marks its walk-throughs with <!-- walkthrough: NAME -->")
	}
	for _, w := range walks {
		t.Run(w.Name, func(t *testing.T) {
			stdout := runScript(t, w.Script(), 3*time.Minute)
			if w.Output == nil {
				return
			}
			if err := MatchOutput(w.Output.Body, stdout); err != nil {
				t.Errorf("walk-through %s: the output differs from what %s states: %v\n--- stdout:\n%s", w.Name, w.Output.where(), err, stdout)
			}
		})
	}
}

// TestEmulatorHelpExample runs the lines `patrol emulator --help` shows
// (eval "$(patrol emulator --print-credentials &)" …): they must return,
// reach the emulator and stop it.
func TestEmulatorHelpExample(t *testing.T) {
	out, err := exec.Command(filepath.Join(binDir, "patrol"), "emulator", "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	var script []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "eval ") || (len(script) > 0 && (strings.HasPrefix(l, "patrol ") || strings.HasPrefix(l, "kill "))) {
			script = append(script, l)
			if strings.HasPrefix(l, "kill ") {
				break
			}
		}
	}
	if len(script) < 3 || !strings.HasPrefix(script[len(script)-1], "kill ") {
		t.Fatalf("patrol emulator --help shows no eval … / patrol … / kill … example:\n%s", out)
	}
	runScript(t, strings.Join(script, "\n")+"\n", time.Minute)
}

// runScript runs script with bash -euo pipefail in a fresh directory and
// returns its stdout. It fails t when the script fails, exceeds limit, or
// leaves a process running.
func runScript(t *testing.T, script string, limit time.Duration) string {
	t.Helper()
	testtool.Require(t, "bash", "apt-get install bash")
	for _, tool := range []string{"jq", "curl"} {
		if strings.Contains(script, tool+" ") {
			testtool.Require(t, tool, "apt-get install "+tool)
		}
	}
	stdout, err := execScript(t.TempDir(), script, limit)
	if err != nil {
		t.Fatal(err)
	}
	return stdout
}

// execScript runs script in dir (see runScript); the error carries the
// numbered script, its stdout and its stderr.
func execScript(dir, script string, limit time.Duration) (string, error) {
	path := filepath.Join(dir, ".walkthrough.sh")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		return "", err
	}
	stdoutF, err := os.Create(filepath.Join(dir, ".stdout"))
	if err != nil {
		return "", err
	}
	defer stdoutF.Close()
	stderrF, err := os.Create(filepath.Join(dir, ".stderr"))
	if err != nil {
		return "", err
	}
	defer stderrF.Close()

	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", path)
	cmd.Dir = dir
	cmd.Env = scriptEnv(dir)
	// Files, not pipes: a background process that keeps them open does
	// not keep Wait from returning.
	cmd.Stdout, cmd.Stderr = stdoutF, stderrF
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	runErr := cmd.Run()
	left := []string(nil)
	if cmd.Process != nil {
		pgid := cmd.Process.Pid
		if left = waitGroupEmpty(pgid, 5*time.Second); len(left) > 0 {
			syscall.Kill(-pgid, syscall.SIGKILL)
			waitGroupEmpty(pgid, 10*time.Second)
		}
	}
	stdout, _ := os.ReadFile(stdoutF.Name())
	stderr, _ := os.ReadFile(stderrF.Name())
	report := fmt.Sprintf("--- script:\n%s\n--- stdout:\n%s\n--- stderr:\n%s", numbered(script), stdout, stderr)
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("the script did not finish within %s (killed)\n%s", limit, report)
	case runErr != nil:
		return "", fmt.Errorf("a step failed (%v); with bash -euo pipefail the script stops at the first failing command\n%s", runErr, report)
	case len(left) > 0:
		return "", fmt.Errorf("the script left processes running (%s): the next walk-through would find the emulator's port taken; end it with kill \"$PATROL_EMULATOR_PID\"\n%s", strings.Join(left, "; "), report)
	}
	return string(stdout), nil
}

// The runner's own verdicts: a failing step, a process left running, and
// a script that stops what it started.
func TestExecScriptVerdicts(t *testing.T) {
	testtool.Require(t, "bash", "apt-get install bash")
	for script, want := range map[string]string{
		"echo one\nfalse\necho two\n":            "a step failed",
		"echo one | false | cat\n":               "a step failed",
		"sleep 300 &\necho started\n":            "left processes running",
		"sleep 300 &\nkill $!\necho stopped\n":   "",
		"echo \"$PATROL_EMULATOR_ADDR $HOME\"\n": "",
	} {
		dir := t.TempDir()
		out, err := execScript(dir, script, time.Minute)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", script, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: err = %v, want %q", script, err, want)
		case strings.Contains(script, "PATROL_EMULATOR_ADDR") && out != "127.0.0.1:0 "+dir+"\n":
			t.Errorf("%q printed %q, want the free-port address and the scratch HOME", script, out)
		}
	}
}

// scriptEnv is the walk-through's environment: this process's, without
// anything that would point patrol elsewhere, with the built patrol first
// on PATH and an emulator port of its own.
func scriptEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AZURE_"), strings.HasPrefix(k, "PATROL_"), strings.HasPrefix(k, "XDG_"),
			strings.HasPrefix(k, "SSL_CERT_"), k == "HOME", k == "TMPDIR", k == "PATH", k == "KUBECONFIG", k == "NEW_SONAR_TOKEN",
			strings.EqualFold(k, "NO_PROXY"):
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+dir,
		"TMPDIR="+dir, // patrol emulator's default --ca-file is $TMPDIR/patrol-emulator-ca.pem: one per run
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PATROL_EMULATOR_ADDR=127.0.0.1:0",
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
	)
}

// waitGroupEmpty waits until no live process is left in process group
// pgid and returns those still alive after limit (pid and command line).
func waitGroupEmpty(pgid int, limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	for {
		left := groupMembers(pgid)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// groupMembers lists the live (not zombie) processes of group pgid, from
// /proc where there is one, else by kill(-pgid, 0).
func groupMembers(pgid int) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
			return nil
		}
		return []string{fmt.Sprintf("process group %d", pgid)}
	}
	var left []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …; comm may contain spaces.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" || f[2] != strconv.Itoa(pgid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		left = append(left, fmt.Sprintf("pid %d: %s", pid, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))))
	}
	return left
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}
