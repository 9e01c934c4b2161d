// Package patsecret recognises Azure DevOps personal access token secrets in
// both formats the service issues, so that patrol can check, redact and scan
// for them without assuming one length:
//
//   - Identifiable (new PATs, 2024 on): 84 characters with the fixed
//     signature "AZDO" at positions 76–80 (service-2026.md). Microsoft's
//     public secret scanners also show a base62 alphabet and a "JQQJ"
//     signature at positions 52–56; that part is unconfirmed, so it is not
//     required here.
//   - Legacy: 52 characters of base32 (a–z, 2–7; the recorded examples are
//     lower case).
//
// Recognition is advisory: the API makes no promise about the secret's shape
// (pat-api.md §3), so patrol never refuses a PAT only because its format is
// unknown.
package patsecret

import (
	"regexp"
	"strings"
	"sync"
)

// Format is the shape of a PAT secret.
type Format int

const (
	// Unknown is neither format (perhaps a newer one).
	Unknown Format = iota
	// Legacy is the 52-character base32 format.
	Legacy
	// Identifiable is the 84-character format with "AZDO" at 76–80.
	Identifiable
)

func (f Format) String() string {
	switch f {
	case Legacy:
		return "legacy (52 characters)"
	case Identifiable:
		return "identifiable (84 characters, AZDO signature)"
	}
	return "unknown"
}

const (
	// LegacyLength and IdentifiableLength are the lengths of the two formats.
	LegacyLength       = 52
	IdentifiableLength = 84
	// Signature is the fixed provider signature of identifiable PATs, at
	// SignatureOffset (0-based; positions 76–80 as the service documents).
	Signature       = "AZDO"
	SignatureOffset = 76
)

// Of returns the format of s (no surrounding whitespace allowed).
func Of(s string) Format {
	switch {
	case len(s) == IdentifiableLength && s[SignatureOffset:SignatureOffset+len(Signature)] == Signature && allIn(s, isBase62):
		return Identifiable
	case len(s) == LegacyLength && allIn(s, isBase32):
		return Legacy
	}
	return Unknown
}

func allIn(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isBase62(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

func isBase32(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '2' && c <= '7'
}

// pattern finds PAT-shaped words in text: a whole word of exactly 84 base62
// characters with AZDO at 76, or exactly 52 base32 characters.
var pattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\b(?:[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4}|[A-Za-z2-7]{52})\b`)
})

// Find returns the PAT-shaped words in text (both formats).
func Find(text string) []string { return pattern().FindAllString(text, -1) }

// Contains reports whether text contains a PAT-shaped word.
func Contains(text string) bool {
	// Cheap pre-check: no run of 52 word characters, no PAT.
	if len(text) < LegacyLength {
		return false
	}
	return pattern().MatchString(text)
}

// Redact replaces every PAT-shaped word in text with repl.
func Redact(text, repl string) string {
	if !Contains(text) {
		return text
	}
	return pattern().ReplaceAllString(text, repl)
}

// Problem describes why s cannot be a PAT as given ("" if it may be one):
// empty, surrounding or inner whitespace (a stray newline from a file), or
// control characters. Both formats, and unknown future ones, pass.
func Problem(s string) string {
	switch {
	case s == "":
		return "is empty"
	case strings.TrimSpace(s) != s:
		return "has leading or trailing whitespace (a stray newline from a file or variable?)"
	case strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return "contains whitespace or control characters"
	}
	return ""
}
