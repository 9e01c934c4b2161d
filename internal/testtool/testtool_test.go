package testtool

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestRequireMissingTool is run by TestRequireFailsUnderCI in a child
// process; on its own it only skips (or, under CI=true, fails).
func TestRequireMissingTool(t *testing.T) {
	if os.Getenv("TESTTOOL_HELPER") != "1" {
		t.Skip("helper of TestRequireFailsUnderCI")
	}
	Require(t, "patrol-no-such-program", "apt-get install nothing")
}

// A missing program skips on a developer's machine and fails under CI=true
// or PATROL_REQUIRE_TOOLS=1 (scripts/test.sh).
func TestRequireFailsUnderCI(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"CI=true"}, "--- FAIL"},
		{[]string{"PATROL_REQUIRE_TOOLS=1"}, "--- FAIL"},
		{nil, "--- SKIP"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRequireMissingTool$", "-test.v", "-test.count=1")
		env := []string{"TESTTOOL_HELPER=1"}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, "PATROL_REQUIRE_TOOLS=") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, c.env...)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), c.want) || !strings.Contains(string(out), "patrol-no-such-program") {
			t.Errorf("env %v: want %s naming the program, got:\n%s", c.env, c.want, out)
		}
	}
}

func TestFindPrefersCandidates(t *testing.T) {
	if p, ok := Find("sh", os.Args[0]); !ok || p != os.Args[0] {
		t.Errorf("Find = %q, %v; want the existing candidate %q", p, ok, os.Args[0])
	}
	if _, ok := Find("patrol-no-such-program", "/nonexistent/x"); ok {
		t.Error("Find found a program that does not exist")
	}
}
