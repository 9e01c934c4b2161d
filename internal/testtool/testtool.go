// Package testtool finds the external programs that real-server tests need
// (nginx, jq, curl, bash …). A missing program skips the test on a
// developer's machine, but fails it where skipping would hide untested code:
// under CI=true (every CI system sets it) and under scripts/test.sh, which
// installs the programs first and sets PATROL_REQUIRE_TOOLS=1.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether a missing tool must fail the test.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("PATROL_REQUIRE_TOOLS") == "1"
}

// Find returns the path of program name: the first of the absolute
// candidates that exists, else the one on PATH.
func Find(name string, candidates ...string) (string, bool) {
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, true
		}
	}
	p, err := exec.LookPath(name)
	return p, err == nil
}

// Require returns the path of program name (see Find) or ends t: Fatalf
// when Required, Skipf otherwise. install says how to get it, e.g.
// "apt-get install nginx".
func Require(t testing.TB, name, install string, candidates ...string) string {
	t.Helper()
	if p, ok := Find(name, candidates...); ok {
		return p
	}
	if Required() {
		t.Fatalf("%s is not installed, and this real-server test must not skip under CI=true or PATROL_REQUIRE_TOOLS=1 (scripts/test.sh): %s", name, install)
	}
	t.Skipf("%s not installed (%s); skipping (CI=true or PATROL_REQUIRE_TOOLS=1 makes this a failure)", name, install)
	return ""
}
