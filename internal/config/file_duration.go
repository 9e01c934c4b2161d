package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that patrol.yaml writes as a Go duration
// ("720h", "90m") extended with days and weeks ("30d", "1w3d12h"). A day is
// exactly 24h (PAT expiry is UTC; no calendar arithmetic).
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d the way patrol.yaml accepts it, preferring whole days.
func (d Duration) String() string {
	td := time.Duration(d)
	if td != 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

// MarshalJSON writes the String form.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(d.String())), nil }

// UnmarshalJSON accepts the String form.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("duration must be a string such as \"30d\" or \"12h\", got %s", b)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

var unitScale = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond,
	"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour,
}

// MaxDuration is the longest duration patrol.yaml accepts anywhere (10
// years): no setting needs more, and every longer one would overflow the
// arithmetic patrol does with it (deadlines, lease seconds, multiples).
const MaxDuration = Duration(3650 * 24 * time.Hour)

// ParseDuration parses a Go duration extended with "d" (24h) and "w" (7d)
// units, e.g. "30d", "1w2d", "36h30m", "1.5d". Negative values are refused:
// no patrol setting is negative; so are values above MaxDuration.
func ParseDuration(s string) (Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration; write e.g. \"30d\", \"12h\" or \"90m\"")
	}
	if s == "0" {
		return 0, nil
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("duration %q is negative; use a positive value such as \"30d\"", orig)
	}
	s = strings.TrimPrefix(s, "+")
	var total float64
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q: expected a number at %q; write e.g. \"30d\", \"1w2d\" or \"36h\"", orig, s)
		}
		num, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: bad number %q", orig, s[:i])
		}
		s = s[i:]
		j := 0
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		unit := s[:j]
		s = s[j:]
		scale, ok := unitScale[unit]
		if !ok {
			if unit == "" {
				return 0, fmt.Errorf("invalid duration %q: missing unit; use one of w, d, h, m, s (e.g. \"30d\")", orig)
			}
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q; use one of w, d, h, m, s, ms", orig, unit)
		}
		total += num * float64(scale)
		if total > float64(MaxDuration) {
			return 0, fmt.Errorf("duration %q is too large; the longest accepted is %s (10 years)", orig, MaxDuration)
		}
	}
	return Duration(time.Duration(total)), nil
}

// RenewBefore says when a credential is due: either a fixed duration before
// expiry or a percentage of the credential's actual lifetime (cert-manager's
// renewBefore / renewBeforePercentage in one field). The zero value means the
// default: one third of the lifetime.
type RenewBefore struct {
	// Duration before expiry (set when written as a duration).
	Duration time.Duration
	// Percent of the lifetime, 0 < Percent < 100 (set when written as "25%").
	Percent float64
}

// DefaultRenewBeforePercent is used when renewBefore is omitted: renew when
// one third of the lifetime is left (a 30d PAT is renewed 10 days before it
// expires), like cert-manager's default of 2/3 through the lifetime.
const DefaultRenewBeforePercent = 100.0 / 3

// IsZero reports whether renewBefore was omitted.
func (r RenewBefore) IsZero() bool { return r.Duration == 0 && r.Percent == 0 }

// For returns how long before expiry a credential of the given lifetime is
// due. A fixed duration that is not shorter than the lifetime (e.g. a PAT whose
// lifetime was clamped by a tenant policy) falls back to the default
// percentage, so a clamped PAT is not rotated on every run.
func (r RenewBefore) For(lifetime time.Duration) time.Duration {
	switch {
	case r.Percent > 0:
		return time.Duration(float64(lifetime) * r.Percent / 100)
	case r.Duration > 0 && r.Duration < lifetime:
		return r.Duration
	}
	return time.Duration(float64(lifetime) * DefaultRenewBeforePercent / 100)
}

// String formats r as patrol.yaml accepts it.
func (r RenewBefore) String() string {
	switch {
	case r.Percent > 0:
		return strconv.FormatFloat(r.Percent, 'f', -1, 64) + "%"
	case r.Duration > 0:
		return Duration(r.Duration).String()
	}
	return ""
}

// ParseRenewBefore parses "10d" (a duration) or "33%" / "33.3%" (percentage of lifetime).
func ParseRenewBefore(s string) (RenewBefore, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) {
			return RenewBefore{}, fmt.Errorf("invalid percentage %q; write e.g. \"33%%\"", s)
		}
		if v <= 0 || v >= 100 {
			return RenewBefore{}, fmt.Errorf("percentage %q must be greater than 0%% and less than 100%%", s)
		}
		return RenewBefore{Percent: v}, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return RenewBefore{}, fmt.Errorf("%w (or a percentage of the lifetime such as \"33%%\")", err)
	}
	if d == 0 {
		return RenewBefore{}, fmt.Errorf("renewBefore must be greater than 0; omit it for the default (1/3 of the lifetime)")
	}
	return RenewBefore{Duration: d.D()}, nil
}

// MarshalJSON writes the String form.
func (r RenewBefore) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(r.String())), nil }

// UnmarshalJSON accepts a duration or a percentage string.
func (r *RenewBefore) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("renewBefore must be a string such as \"10d\" or \"33%%\", got %s", b)
	}
	v, err := ParseRenewBefore(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}
