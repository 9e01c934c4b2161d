package config

import (
	"errors"
	"strings"
	"testing"
)

// Issue 8 §4: bad input is refused where it enters.

func TestDurationsThatOverflowAreRefused(t *testing.T) {
	for _, s := range []string{"9223372036854775807ns", "9223372036854775808ns", "2562047h47m16.854775807s", "106751d", "15250w", "3651d"} {
		d, err := ParseDuration(s)
		if err == nil || !strings.Contains(err.Error(), "too large") {
			t.Errorf("%s: parsed to %d (%v), want a too-large error", s, int64(d), err)
		}
		if d < 0 {
			t.Errorf("%s: parsed to a negative duration", s)
		}
	}
	if d, err := ParseDuration("3650d"); err != nil || d != MaxDuration {
		t.Fatalf("3650d: %v %v", d, err)
	}
}

func TestDurationFieldsOutOfRange(t *testing.T) {
	base := "organization: contoso\ncredentials:\n- {name: a, scopes: [vso.code], sinks: [{type: file, path: /tmp/a}]}\n"
	for _, tc := range []struct{ yaml, path string }{
		{"rotation:\n  orphanAge: 9223372036854775807ns\n", "rotation.orphanAge"},
		{"rotation:\n  orphanAge: 400d\n", "rotation.orphanAge"},
		{"rotation:\n  lock: {wait: 106751d}\n", "rotation.lock.wait"},
		{"rotation:\n  lock: {wait: 25h}\n", "rotation.lock.wait"},
		{"rotation:\n  lock: {type: lease, leaseDuration: 3000d}\n", "rotation.lock.leaseDuration"},
		{"credentials:\n- {name: a, scopes: [vso.code], gracePeriod: 9223372036854775807ns, sinks: [{type: file, path: /tmp/a}]}\n", "credentials[0].gracePeriod"},
	} {
		y := tc.yaml
		if !strings.Contains(y, "credentials:") {
			y = base + y
		} else {
			y = "organization: contoso\n" + y
		}
		_, err := ParseFile([]byte(y), "patrol.yaml", ValidateOptions{SkipSinks: true})
		var fe *FileError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%q: want a problem at %s, got %v", tc.yaml, tc.path, err)
		}
	}
}

func TestProblemsReportedAreCapped(t *testing.T) {
	_, err := ParseFile(manyInvalid(300), "patrol.yaml", ValidateOptions{SkipSinks: true})
	var fe *FileError
	if !errors.As(err, &fe) || len(fe.Problems) != 600 {
		t.Fatalf("want 600 problems kept, got %v", err)
	}
	msg := err.Error()
	if n := strings.Count(msg, "\n  line "); n != MaxReportedProblems {
		t.Fatalf("the message lists %d problems, want %d", n, MaxReportedProblems)
	}
	if !strings.Contains(msg, "and 500 more") {
		t.Fatalf("the message does not say how many more: %q", msg[len(msg)-200:])
	}
}
