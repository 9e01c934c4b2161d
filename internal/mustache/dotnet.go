package mustache

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// dotnetFormat implements the basics of .NET String.Format composite
// formatting: {index[,alignment][:format]}, {{ and }} escapes. Numeric format
// strings D, N, F, X, E, P (with precision) apply to numbers; custom and
// standard date formats apply to values that parse as dates.
func dotnetFormat(f string, args []any) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c == '}' {
			if i+1 < len(f) && f[i+1] == '}' {
				i++
			}
			b.WriteByte('}')
			continue
		}
		if c != '{' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(f) && f[i+1] == '{' {
			b.WriteByte('{')
			i++
			continue
		}
		end := strings.IndexByte(f[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("format %q: '{' at %d is not closed", f, i)
		}
		item := f[i+1 : i+end]
		i += end
		spec := ""
		if k := strings.IndexByte(item, ':'); k >= 0 {
			item, spec = item[:k], item[k+1:]
		}
		align := 0
		if k := strings.IndexByte(item, ','); k >= 0 {
			a, err := strconv.Atoi(strings.TrimSpace(item[k+1:]))
			if err != nil || a > 1000 || a < -1000 {
				return "", fmt.Errorf("format %q: bad alignment %q", f, item[k+1:])
			}
			align, item = a, item[:k]
		}
		idx, err := strconv.Atoi(strings.TrimSpace(item))
		if err != nil || idx < 0 {
			return "", fmt.Errorf("format %q: bad index %q", f, item)
		}
		if idx >= len(args) {
			return "", fmt.Errorf("format %q uses {%d} but only %d argument(s) follow", f, idx, len(args))
		}
		s, err := formatItem(args[idx], spec)
		if err != nil {
			return "", err
		}
		if n := abs(align) - len([]rune(s)); n > 0 {
			if align > 0 {
				s = strings.Repeat(" ", n) + s
			} else {
				s += strings.Repeat(" ", n)
			}
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func formatItem(v any, spec string) (string, error) {
	if spec == "" {
		return stringify(v), nil
	}
	isNum := false
	switch v.(type) {
	case float64, json.Number, int, int64:
		isNum = true
	case string:
		_, isNum = toNumber(v)
	}
	if isNum {
		if s, ok := formatNumber(v, spec); ok {
			return s, nil
		}
	}
	if str := strings.ToLower(strings.TrimSpace(stringify(v))); isNum || str == "" || str == "now" || str == "utcnow" {
		return stringify(v), nil
	}
	if t, err := parseDate(v, time.Now); err == nil {
		return formatDotnetTime(t.UTC(), spec)
	}
	return stringify(v), nil
}

func formatNumber(v any, spec string) (string, bool) {
	f, _ := toNumber(v)
	letter := spec[0]
	prec := -1
	if len(spec) > 1 {
		p, err := strconv.Atoi(spec[1:])
		if err != nil || p > 99 {
			return "", false
		}
		prec = p
	}
	switch letter {
	case 'D', 'd':
		if f != math.Trunc(f) {
			return "", false
		}
		s := strconv.FormatInt(int64(math.Abs(f)), 10)
		if prec > len(s) {
			s = strings.Repeat("0", prec-len(s)) + s
		}
		if f < 0 {
			s = "-" + s
		}
		return s, true
	case 'F', 'f':
		if prec < 0 {
			prec = 2
		}
		return strconv.FormatFloat(roundAway(f, prec), 'f', prec, 64), true
	case 'N', 'n':
		if prec < 0 {
			prec = 2
		}
		return groupThousands(strconv.FormatFloat(roundAway(f, prec), 'f', prec, 64)), true
	case 'P', 'p':
		if prec < 0 {
			prec = 2
		}
		return groupThousands(strconv.FormatFloat(roundAway(f*100, prec), 'f', prec, 64)) + " %", true
	case 'E', 'e':
		if prec < 0 {
			prec = 6
		}
		s := strconv.FormatFloat(f, 'e', prec, 64)
		// .NET writes at least three exponent digits: 1.000000E+003
		if k := strings.IndexAny(s, "e"); k >= 0 {
			mant, exp := s[:k], s[k+1:]
			sign := exp[:1]
			digits := exp[1:]
			for len(digits) < 3 {
				digits = "0" + digits
			}
			e := "e"
			if letter == 'E' {
				e = "E"
			}
			s = mant + e + sign + digits
		}
		return s, true
	case 'X', 'x':
		if f != math.Trunc(f) {
			return "", false
		}
		s := strconv.FormatUint(uint64(int64(f)), 16)
		if letter == 'X' {
			s = strings.ToUpper(s)
		}
		if prec > len(s) {
			s = strings.Repeat("0", prec-len(s)) + s
		}
		return s, true
	}
	return "", false
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	intPart, frac := s, ""
	if k := strings.IndexByte(s, '.'); k >= 0 {
		intPart, frac = s[:k], s[k:]
	}
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String() + frac
	if neg {
		out = "-" + out
	}
	return out
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.9999999",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
	"01/02/2006 15:04:05",
	"01/02/2006",
	time.RFC1123,
	time.RFC1123Z,
}

// parseDate accepts ISO 8601 / RFC 3339 strings (without offset = UTC),
// "now"/"utcnow"/"" (the clock), Unix seconds or milliseconds.
func parseDate(v any, now func() time.Time) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case nil:
		return now(), nil
	case float64, json.Number:
		f, _ := toNumber(x)
		if math.Abs(f) > 1e11 {
			return time.UnixMilli(int64(f)).UTC(), nil
		}
		return time.Unix(int64(f), 0).UTC(), nil
	}
	s := strings.TrimSpace(stringify(v))
	switch strings.ToLower(s) {
	case "", "now", "utcnow":
		return now(), nil
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	// the value is not echoed: it may be a secret
	return time.Time{}, fmt.Errorf("the value (%d characters) is not a date: use ISO 8601 like 2024-05-01T13:45:00Z", len(s))
}

var standardDateFormats = map[string]string{
	"o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
	"O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
	"s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
	"u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
	"r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
	"R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
	"d": "MM/dd/yyyy",
	"D": "dddd, dd MMMM yyyy",
	"t": "HH:mm",
	"T": "HH:mm:ss",
	"f": "dddd, dd MMMM yyyy HH:mm",
	"F": "dddd, dd MMMM yyyy HH:mm:ss",
	"g": "MM/dd/yyyy HH:mm",
	"G": "MM/dd/yyyy HH:mm:ss",
	"M": "MMMM dd",
	"m": "MMMM dd",
	"Y": "yyyy MMMM",
	"y": "yyyy MMMM",
}

// formatDotnetTime formats t with a .NET standard or custom date format
// string, invariant culture.
func formatDotnetTime(t time.Time, f string) (string, error) {
	if len(f) == 1 {
		std, ok := standardDateFormats[f]
		if !ok {
			return "", fmt.Errorf("unknown standard date format %q", f)
		}
		f = std
	}
	var b strings.Builder
	for i := 0; i < len(f); {
		c := f[i]
		n := 1
		for i+n < len(f) && f[i+n] == c {
			n++
		}
		switch c {
		case 'y':
			y := t.Year()
			switch n {
			case 1:
				b.WriteString(strconv.Itoa(y % 100))
			case 2:
				fmt.Fprintf(&b, "%02d", y%100)
			default:
				fmt.Fprintf(&b, "%0*d", n, y)
			}
		case 'M':
			switch n {
			case 1:
				b.WriteString(strconv.Itoa(int(t.Month())))
			case 2:
				fmt.Fprintf(&b, "%02d", int(t.Month()))
			case 3:
				b.WriteString(t.Month().String()[:3])
			default:
				b.WriteString(t.Month().String())
			}
		case 'd':
			switch n {
			case 1:
				b.WriteString(strconv.Itoa(t.Day()))
			case 2:
				fmt.Fprintf(&b, "%02d", t.Day())
			case 3:
				b.WriteString(t.Weekday().String()[:3])
			default:
				b.WriteString(t.Weekday().String())
			}
		case 'H':
			writeNum(&b, t.Hour(), n)
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			writeNum(&b, h, n)
		case 'm':
			writeNum(&b, t.Minute(), n)
		case 's':
			writeNum(&b, t.Second(), n)
		case 'f', 'F':
			if n > 7 {
				return "", fmt.Errorf("date format %q: at most 7 %c", f, c)
			}
			frac := fmt.Sprintf("%09d", t.Nanosecond())[:n]
			if c == 'F' {
				frac = strings.TrimRight(frac, "0")
			}
			b.WriteString(frac)
		case 't':
			ampm := "AM"
			if t.Hour() >= 12 {
				ampm = "PM"
			}
			if n == 1 {
				ampm = ampm[:1]
			}
			b.WriteString(ampm)
		case 'K':
			if t.Location() == time.UTC {
				b.WriteString("Z")
			} else {
				b.WriteString(t.Format("-07:00"))
			}
			n = 1
		case 'z':
			_, off := t.Zone()
			sign := '+'
			if off < 0 {
				sign, off = '-', -off
			}
			switch n {
			case 1:
				fmt.Fprintf(&b, "%c%d", sign, off/3600)
			case 2:
				fmt.Fprintf(&b, "%c%02d", sign, off/3600)
			default:
				fmt.Fprintf(&b, "%c%02d:%02d", sign, off/3600, off%3600/60)
			}
		case 'g':
			b.WriteString("A.D.")
		case '\'', '"':
			end := strings.IndexByte(f[i+1:], c)
			if end < 0 {
				return "", fmt.Errorf("date format %q: unterminated quoted literal", f)
			}
			b.WriteString(f[i+1 : i+1+end])
			i += end + 2
			continue
		case '\\':
			if i+1 < len(f) {
				b.WriteByte(f[i+1])
			}
			i += 2
			continue
		case '%':
			i++
			continue
		default:
			b.WriteString(f[i : i+n])
		}
		i += n
	}
	return b.String(), nil
}

func writeNum(b *strings.Builder, v, n int) {
	if n == 1 {
		b.WriteString(strconv.Itoa(v))
		return
	}
	fmt.Fprintf(b, "%02d", v)
}

// roundAway rounds half away from zero at prec decimals, as .NET does.
func roundAway(f float64, prec int) float64 {
	if prec > 15 {
		return f
	}
	p := math.Pow(10, float64(prec))
	r := math.Round(f*p) / p
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return f
	}
	return r
}
