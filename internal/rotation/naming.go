package rotation

import (
	"strings"
	"time"
)

// NamePrefix starts the display name of every PAT patrol manages.
const NamePrefix = "patrol:"

// nameTimeLayout is the UTC timestamp in managed display names.
const nameTimeLayout = "20060102T150405Z"

// DisplayName is the display name of a PAT created for credential at t:
// "patrol:<credential>:<yyyymmddThhmmssZ>" (UTC, second precision).
func DisplayName(credential string, t time.Time) string {
	return NamePrefix + credential + ":" + t.UTC().Format(nameTimeLayout)
}

// ParseDisplayName reverses DisplayName. ok is false for names patrol did not
// create (they are never revoked by patrol).
func ParseDisplayName(name string) (credential string, created time.Time, ok bool) {
	rest, found := strings.CutPrefix(name, NamePrefix)
	if !found {
		return "", time.Time{}, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", time.Time{}, false
	}
	t, err := time.Parse(nameTimeLayout, rest[i+1:])
	if err != nil {
		return "", time.Time{}, false
	}
	return rest[:i], t.UTC(), true
}
