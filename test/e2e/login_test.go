package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/emulator"
)

var userCodeRE = regexp.MustCompile(`enter the code ([A-Z0-9-]+)`)

// patrol login runs the device-code flow; a "human" (ApproveDeviceCode)
// signs in; the refresh token is cached 0600 and later runs use it.
func TestLoginDeviceCode(t *testing.T) {
	w := start(t, nil)
	cache := filepath.Join(w.dir, "cache", "token-cache.json")
	e := with(w.env, env{"AZURE_USERNAME": "", "AZURE_PASSWORD": "", "PATROL_TOKEN_CACHE": cache})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "login")
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	sc := bufio.NewScanner(stderr)
	approved := false
	for sc.Scan() {
		line := sc.Text()
		all.WriteString(line + "\n")
		if m := userCodeRE.FindStringSubmatch(line); m != nil && !approved {
			if err := w.e.ApproveDeviceCode(m[1], emulator.DefaultUser); err != nil {
				t.Fatal(err)
			}
			approved = true
		}
	}
	err = cmd.Wait()
	collectMu.Lock()
	collected.WriteString("\n--- patrol login\n" + all.String() + stdout.String())
	collectMu.Unlock()
	if err != nil || !approved {
		t.Fatalf("login: %v (approved %v)\n%s", err, approved, all.String())
	}
	if !strings.Contains(all.String(), cache) {
		t.Fatalf("login must say where the refresh token went:\n%s", all.String())
	}
	fi, err := os.Stat(cache)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(cache)
	var rt struct {
		RefreshToken string `json:"refreshToken"`
	}
	if json := decode[map[string]any](t, string(data)); json["refreshToken"] != nil {
		rt.RefreshToken, _ = json["refreshToken"].(string)
	}
	addSecret(rt.RefreshToken, "refresh token")

	w.e.ResetCounters()
	w.patrol(e, "pat", "list", "--auth", "device-code").must(t, "pat list --auth device-code")
	if n := counter(w.e.Counters(), "oauth2/v2.0/token"); n != 1 {
		t.Fatalf("want one refresh-token redemption, counters %v", w.e.Counters())
	}
	// auto picks device-code when the cache is the only credential
	w.patrol(with(e, env{"AZURE_CLIENT_SECRET": ""}), "pat", "list").must(t, "pat list (auto → device-code)")
	// the rotated refresh token was saved
	data2, _ := os.ReadFile(cache)
	if bytes.Equal(data, data2) {
		t.Fatal("the rotated refresh token was not saved")
	}
	if json := decode[map[string]any](t, string(data2)); json["refreshToken"] != nil {
		s, _ := json["refreshToken"].(string)
		addSecret(s, "rotated refresh token")
	}
}
