package redact_test

import (
	"testing"

	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/redact/redacttest"
)

// FuzzString: a registered secret never survives String (the oracle,
// redacttest.Leaks, ignores what a marker glued to the text around it spells,
// which the input never carried; testdata/fuzz/FuzzString keeps such a case).
func FuzzString(f *testing.F) {
	f.Add("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.sig", "hunter2-x")
	f.Add("password=a%20b", "a b c")
	f.Fuzz(func(t *testing.T, text, secret string) {
		redact.Register(secret)
		out := redact.String(text + secret + text)
		if redacttest.Leaks(out, secret) {
			t.Fatalf("registered secret %q survived in %q", secret, out)
		}
		_ = redact.Quote([]byte(out))
	})
}
