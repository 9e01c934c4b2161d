package charts

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestControllerArgsAreFlags: every argument the chart gives `patrol
// controller` is a flag that command has (its --help, from the real binary),
// so a renamed flag fails here instead of in a crash-looping Pod.
func TestControllerArgsAreFlags(t *testing.T) {
	bin := helmBin(t)
	patrol := filepath.Join(t.TempDir(), "patrol")
	if out, err := exec.Command("go", "build", "-o", patrol, "../cmd/patrol").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/patrol: %v\n%s", err, out)
	}
	help, err := exec.Command(patrol, "controller", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("patrol controller --help: %v\n%s", err, help)
	}
	// The flags section of cobra's help: "  -n, --name type   usage" lines.
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?(--[a-z0-9-]+)`).FindAllStringSubmatch(string(help), -1) {
		flags[m[1]] = true
	}
	if !flags["--leader-elect"] {
		t.Fatalf("could not read the flags of `patrol controller --help`:\n%s", help)
	}
	for _, ex := range examples(t) {
		c := render(t, bin, "patrol", "patrol", ex)
		if c.deployment == nil {
			continue
		}
		args := c.pod().Containers[0].Args
		if args[0] != "controller" {
			t.Fatalf("%s: args %q do not start with controller", ex, args)
		}
		for _, a := range args[1:] {
			name, _, _ := strings.Cut(a, "=")
			if !flags[name] {
				t.Errorf("%s: argument %q is not a flag of `patrol controller`:\n%s", ex, a, help)
			}
		}
	}
}
