// Package redacttest holds the oracle of tests (fuzz targets above all) that
// check text went through internal/redact.
package redacttest

import (
	"strings"

	"github.com/patrol-dev/patrol/internal/redact"
)

// Leaks reports whether out — the output of redact.String, or a text built
// from it and possibly cut with "…" — still carries secret as redact
// registers it (trimmed, at least redact.MinLength long) inside one stretch of
// text between the markers redaction inserted.
//
// Only a stretch between markers counts: a marker glued to the text around
// it can spell a "secret" that the input never carried (secret "ED a" in
// "Bearer REDACTED abcdefgh1", secret "DACT" in any marker), and that is no
// leak. A secret that contains the marker cannot be told from one and is not
// checked; neither are up to len(Marker)-1 bytes before a final "…", which may
// be the rest of a cut marker.
func Leaks(out, secret string) bool {
	sec := strings.TrimSpace(secret)
	if len(sec) < redact.MinLength || strings.Contains(sec, redact.Marker) {
		return false
	}
	if cut, ok := strings.CutSuffix(out, "…"); ok {
		out = cut
		for i := len(redact.Marker) - 1; i > 0; i-- {
			if strings.HasSuffix(out, redact.Marker[:i]) {
				out = out[:len(out)-i] + redact.Marker
				break
			}
		}
	}
	for _, piece := range strings.Split(out, redact.Marker) {
		if strings.Contains(piece, sec) {
			return true
		}
	}
	return false
}
