package main

import (
	"strings"
	"testing"
)

// A mistyped subcommand is a usage error (exit 2) with cobra's "did you
// mean" suggestion, never the parent's help with exit 0.
func TestUnknownSubcommandSuggests(t *testing.T) {
	cases := []struct {
		args    []string
		suggest string // "" = no suggestion expected
	}{
		{[]string{"pat", "lst"}, "list"},
		{[]string{"config", "valdate"}, "validate"},
		{[]string{"endpoint", "frobnicate"}, ""},
		{[]string{"frobnicate"}, ""},
		{[]string{"verison"}, "version"},
	}
	for _, tc := range cases {
		code, stdout, stderr := runCLI(t, nil, tc.args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2 (stdout %q, stderr %q)", tc.args, code, stdout, stderr)
		}
		if stdout != "" {
			t.Errorf("%q: must not print help on stdout: %q", tc.args, stdout)
		}
		bad := tc.args[len(tc.args)-1]
		if !strings.Contains(stderr, `unknown command "`+bad+`"`) {
			t.Errorf("%q: stderr must name the unknown command: %q", tc.args, stderr)
		}
		if tc.suggest != "" && (!strings.Contains(stderr, "did you mean") || !strings.Contains(stderr, tc.suggest)) {
			t.Errorf("%q: stderr must suggest %q: %q", tc.args, tc.suggest, stderr)
		}
		if strings.Count(stderr, "\n") != 2 {
			t.Errorf("%q: want one error line and one hint line, got %q", tc.args, stderr)
		}
	}
	// A group command alone still shows its help and succeeds.
	if code, stdout, _ := runCLI(t, nil, "pat"); code != 0 || !strings.Contains(stdout, "Available Commands") {
		t.Errorf("`patrol pat`: exit %d, stdout %q", code, stdout)
	}
}
