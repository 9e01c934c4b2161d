package rotation

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// NamePrefix starts the display name of every PAT patrol manages.
const NamePrefix = "patrol:"

// nameTimeLayout is the UTC timestamp in managed display names.
const nameTimeLayout = "20060102T150405Z"

// attemptLen is the length of the create-attempt id that ends a managed
// display name (lower-case hex, 32 random bits).
const attemptLen = 8

// DisplayName is the display name of a PAT created for credential at t:
// "patrol:<credential>:<yyyymmddThhmmssZ>-<attempt>" (UTC, second
// precision), where <attempt> is 8 random lower-case hex digits that make
// the name identify one create attempt: a create whose response was lost
// is recognised by its name alone, and never confused with a PAT created
// earlier in the same second.
func DisplayName(credential string, t time.Time) string {
	var b [attemptLen / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return formatName(credential, t, hex.EncodeToString(b[:]))
}

func formatName(credential string, t time.Time, attempt string) string {
	n := NamePrefix + credential + ":" + t.UTC().Format(nameTimeLayout)
	if attempt != "" {
		n += "-" + attempt
	}
	return n
}

// ParseDisplayName reverses DisplayName. It also accepts the names of
// earlier patrol versions, "patrol:<credential>:<yyyymmddThhmmssZ>" without
// the attempt id. ok is false for names patrol did not create (they are
// never revoked by patrol).
func ParseDisplayName(name string) (credential string, created time.Time, ok bool) {
	credential, created, _, ok = parseName(name)
	return credential, created, ok
}

func parseName(name string) (credential string, created time.Time, attempt string, ok bool) {
	rest, found := strings.CutPrefix(name, NamePrefix)
	if !found {
		return "", time.Time{}, "", false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", time.Time{}, "", false
	}
	stamp := rest[i+1:]
	if ts, a, cut := strings.Cut(stamp, "-"); cut {
		if !isAttempt(a) {
			return "", time.Time{}, "", false
		}
		stamp, attempt = ts, a
	}
	// The layout has no fractional seconds; refuse them explicitly (time.Parse
	// would accept "…05.5Z") so that every accepted name formats back to itself.
	if len(stamp) != len(nameTimeLayout) {
		return "", time.Time{}, "", false
	}
	t, err := time.Parse(nameTimeLayout, stamp)
	if err != nil {
		return "", time.Time{}, "", false
	}
	return rest[:i], t.UTC(), attempt, true
}

func isAttempt(s string) bool {
	if len(s) != attemptLen {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}
