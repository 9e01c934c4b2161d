package main

import (
	"strings"
	"testing"
)

// A rate-limit budget the emulator cannot meter is refused before it starts.
func TestEmulatorRateLimitFlagsChecked(t *testing.T) {
	for _, args := range [][]string{
		{"--rate-limit", "-1"},
		{"--rate-limit", "1", "--rate-limit-cost", "2"},
	} {
		code, _, stderr := runCLI(t, nil, append([]string{"emulator", "--addr", "127.0.0.1:0"}, args...)...)
		if code != 2 || !strings.Contains(stderr, "--rate-limit") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 naming --rate-limit", args, code, stderr)
		}
	}
}
