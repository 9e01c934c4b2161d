package redacttest_test

import (
	"testing"

	"github.com/patrol-dev/patrol/internal/redact/redacttest"
)

func TestLeaks(t *testing.T) {
	for _, c := range []struct {
		out, secret string
		want        bool
	}{
		{"the password is hunter2-x", "hunter2-x", true},
		{"the password is hunter2-x", " hunter2-x\t", true}, // trimmed as redact registers it
		{"the password is REDACTED", "hunter2-x", false},
		{"Bearer REDACTED abcdefgh1", "ED a", false}, // spelled by the marker and the text after it
		{"REDACTED", "DACT", false},                  // inside a marker
		{"DACT", "DACT", true},                       // the same text without a marker is a leak
		{"qabc q", "abc ", false},                    // "abc": shorter than MinLength, never registered
		{"a secret REDA…", "t RED", false},           // a marker cut by the length cap
		{"a secret t RED here", "t RED", true},
		{"xREDACTEDy", "xREDACTEDy", false}, // contains the marker: not checked
	} {
		if got := redacttest.Leaks(c.out, c.secret); got != c.want {
			t.Errorf("Leaks(%q, %q) = %v, want %v", c.out, c.secret, got, c.want)
		}
	}
}
