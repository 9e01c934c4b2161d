package main

import (
	"strings"
	"testing"
)

// A negative duration flag (and a zero --timeout, which would mean "no
// timeout at all") is refused with exit 2 naming the flag, before any work.
func TestNegativeDurationFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"pat", "list", "--timeout", "-5s"},
		{"pat", "list", "--timeout", "0s"},
		{"version", "--timeout=-1ns"},
		{"emulator", "--latency", "-1s"},
		{"emulator", "--retry-after", "-1s"},
		{"emulator", "--token-lifetime", "-1h"},
		{"endpoint", "set-credential", "--project", "p", "x", "--wait", "-2m"},
	} {
		code, _, stderr := runCLI(t, map[string]string{}, args...)
		flag := ""
		for _, a := range args {
			if strings.HasPrefix(a, "--") {
				flag = strings.SplitN(a, "=", 2)[0]
			}
		}
		if code != 2 || !strings.Contains(stderr, flag) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 naming %s", args, code, stderr, flag)
		}
	}
}
