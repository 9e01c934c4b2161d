package main

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/testtool"
)

// findChromium returns Debian's headless-capable Chromium (scripts/test.sh
// installs it; missing, the test fails under CI and skips elsewhere).
func findChromium(t *testing.T) string {
	t.Helper()
	return testtool.Require(t, "chromium", "apt-get install chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
}

// chromiumArgs are the flags of a throw-away headless run: its own profile,
// no sandbox (CI runs as root), no network access beyond the file itself.
func chromiumArgs(t *testing.T, extra ...string) []string {
	return append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--disable-extensions", "--user-data-dir=" + t.TempDir(),
		"--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"}, extra...)
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr)
	}
	return out
}

// renderDOM loads the file in headless Chromium and returns the DOM it built.
func renderDOM(t *testing.T, bin, file string) string {
	t.Helper()
	return string(runChromium(t, bin, chromiumArgs(t, "--dump-dom", "file://"+file)...))
}

// screenshot renders the file to a PNG.
func screenshot(t *testing.T, bin, file, png string) {
	t.Helper()
	runChromium(t, bin, chromiumArgs(t, "--window-size=1200,1600", "--screenshot="+png, "file://"+file)...)
}
