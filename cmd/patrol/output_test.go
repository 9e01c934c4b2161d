package main

import (
	"strings"
	"testing"
)

// The default output is the table whether or not stdout is a terminal
// (runCLI's stdout is a buffer): a pipe must not silently switch to JSON.
func TestDefaultOutputIsTableWhenPiped(t *testing.T) {
	code, stdout, stderr := runCLI(t, nil, "pat", "scopes")
	if code != 0 || !strings.HasPrefix(stdout, "SCOPE ") || strings.HasPrefix(strings.TrimSpace(stdout), "[") {
		t.Fatalf("exit %d, stderr %q: want the table, got %.200q", code, stderr, stdout)
	}
}

func TestOutputFormats(t *testing.T) {
	cases := []struct {
		args  []string
		check func(string) bool
	}{
		{[]string{"pat", "scopes", "--no-headers"}, func(s string) bool {
			return !strings.Contains(s, "HIGH PRIVILEGE") && strings.Contains(s, "vso.code_write")
		}},
		{[]string{"pat", "scopes", "-o", "name"}, func(s string) bool {
			l := strings.Split(strings.TrimSpace(s), "\n")
			return len(l) > 50 && l[0] == strings.TrimSpace(l[0]) && !strings.Contains(s, " ") && strings.Contains(s, "\nvso.code_write\n")
		}},
		{[]string{"pat", "scopes", "-o", "jsonpath={[0].scope}"}, func(s string) bool { return s != "" && !strings.ContainsAny(s, " \n{}[]\"") }},
		{[]string{"pat", "scopes", "-o", `jsonpath={range [?(@.highPrivilege==true)]}{.scope}{"\n"}{end}`}, func(s string) bool {
			return strings.Contains(s, "vso.code_write\n") && !strings.Contains(s, "vso.code\n")
		}},
		// kubectl: a missing key prints nothing, no error.
		{[]string{"pat", "scopes", "-o", "jsonpath={[0].nosuchkey}"}, func(s string) bool { return s == "" }},
		{[]string{"pat", "scopes", "-o", "wide"}, func(s string) bool { return strings.HasPrefix(s, "SCOPE ") }},
		{[]string{"version", "-o", "jsonpath={.version}"}, func(s string) bool { return s != "" && !strings.Contains(s, "{") }},
	}
	for _, tc := range cases {
		code, stdout, stderr := runCLI(t, nil, tc.args...)
		if code != 0 || !tc.check(stdout) {
			t.Errorf("%q: exit %d, stderr %q, stdout %.300q", tc.args, code, stderr, stdout)
		}
	}
	for _, args := range [][]string{
		{"pat", "scopes", "-o", "jsonpath="},
		{"pat", "scopes", "-o", "jsonpath"},
		{"pat", "scopes", "-o", "jsonpath={.unclosed"},
		{"pat", "scopes", "-o", "xml"},
	} {
		code, stdout, stderr := runCLI(t, nil, args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "-o/--output") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q: want exit 2 naming -o/--output", args, code, stdout, stderr)
		}
	}
}
