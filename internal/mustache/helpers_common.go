package mustache

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	"github.com/google/uuid"
)

func registerCommon(s *HelperSet) {
	s.Register("equals", predicate(func(c *Call) (bool, error) {
		if err := need(c, 2, "equals a b [ignoreCase]"); err != nil {
			return false, err
		}
		return eqString(c.ArgString(0), c.ArgString(1), flag(c.Arg(2))), nil
	}))
	s.Register("notEquals", predicate(func(c *Call) (bool, error) {
		if err := need(c, 2, "notEquals a b [ignoreCase]"); err != nil {
			return false, err
		}
		return !eqString(c.ArgString(0), c.ArgString(1), flag(c.Arg(2))), nil
	}))
	containsFn := predicate(func(c *Call) (bool, error) {
		if err := need(c, 2, "contains haystack needle [ignoreCase]"); err != nil {
			return false, err
		}
		ic := flag(c.Arg(2))
		needle := c.ArgString(1)
		if items, ok := list(c.Arg(0)); ok {
			for _, it := range items {
				if eqString(stringify(it), needle, ic) {
					return true, nil
				}
			}
			return false, nil
		}
		h := c.ArgString(0)
		if ic {
			return strings.Contains(strings.ToLower(h), strings.ToLower(needle)), nil
		}
		return strings.Contains(h, needle), nil
	})
	s.Register("contains", containsFn)
	s.Register("stringContains", containsFn)
	s.Register("endsWith", predicate(func(c *Call) (bool, error) {
		if err := need(c, 2, "endsWith s suffix [ignoreCase] [negate]"); err != nil {
			return false, err
		}
		a, b := c.ArgString(0), c.ArgString(1)
		if flag(c.Arg(2)) {
			a, b = strings.ToLower(a), strings.ToLower(b)
		}
		return strings.HasSuffix(a, b) != flag(c.Arg(3)), nil
	}))
	s.Register("and", predicate(func(c *Call) (bool, error) {
		if err := need(c, 1, "and a b …"); err != nil {
			return false, err
		}
		for _, a := range c.Args {
			if !truthyArg(a) {
				return false, nil
			}
		}
		return true, nil
	}))
	s.Register("or", predicate(func(c *Call) (bool, error) {
		if err := need(c, 1, "or a b …"); err != nil {
			return false, err
		}
		for _, a := range c.Args {
			if truthyArg(a) {
				return true, nil
			}
		}
		return false, nil
	}))
	s.Register("isEqualNumber", predicate(func(c *Call) (bool, error) {
		if err := need(c, 2, "isEqualNumber a b"); err != nil {
			return false, err
		}
		a, ok1 := toNumber(c.Arg(0))
		b, ok2 := toNumber(c.Arg(1))
		return ok1 && ok2 && a == b, nil
	}))
	s.Register("isTokenPresent", predicate(func(c *Call) (bool, error) {
		if err := need(c, 1, "isTokenPresent path"); err != nil {
			return false, err
		}
		v, ok := tokenArg(c, 0)
		return ok && v != nil, nil
	}))
	s.Register("isTokenContainsSubstring", predicate(func(c *Call) (bool, error) {
		if err := need(c, 2, "isTokenContainsSubstring path substring"); err != nil {
			return false, err
		}
		v, ok := tokenArg(c, 0)
		return ok && v != nil && strings.Contains(stringify(v), c.ArgString(1)), nil
	}))
	s.Register("getTokenValue", func(c *Call) (any, error) {
		if err := need(c, 1, "getTokenValue path"); err != nil {
			return nil, err
		}
		v, _ := tokenArg(c, 0)
		return v, nil
	})
	s.Register("arrayLength", func(c *Call) (any, error) {
		if err := need(c, 1, "arrayLength path"); err != nil {
			return nil, err
		}
		if items, ok := list(c.Arg(0)); ok {
			return float64(len(items)), nil
		}
		if keys, _, ok := object(c.Arg(0)); ok {
			return float64(len(keys)), nil
		}
		return float64(0), nil
	})
	s.Register("add", func(c *Call) (any, error) {
		if err := need(c, 2, "add a b …"); err != nil {
			return nil, err
		}
		var sum float64
		for i, a := range c.Args {
			if a == nil {
				continue // an absent value counts as 0 (first paging call)
			}
			f, ok := toNumber(a)
			if !ok {
				return nil, fmt.Errorf("argument %d (%s) is not a number", i+1, c.toks[i].text)
			}
			sum += f
		}
		return sum, nil
	})
	lower := func(c *Call) (any, error) {
		if err := need(c, 1, c.Name+" s"); err != nil {
			return nil, err
		}
		return strings.ToLower(c.ArgString(0)), nil
	}
	s.Register("toLower", lower)
	s.Register("toLowerInvariant", lower)
	s.Register("stringLower", lower)
	s.Register("stringLeft", func(c *Call) (any, error) {
		if err := need(c, 2, "stringLeft s n [suffix]"); err != nil {
			return nil, err
		}
		r := []rune(c.ArgString(0))
		n, err := intArg(c, 1)
		if err != nil {
			return nil, err
		}
		if n < len(r) {
			return string(r[:max(n, 0)]) + c.ArgString(2), nil
		}
		return string(r), nil
	})
	s.Register("stringRight", func(c *Call) (any, error) {
		if err := need(c, 2, "stringRight s n"); err != nil {
			return nil, err
		}
		r := []rune(c.ArgString(0))
		n, err := intArg(c, 1)
		if err != nil {
			return nil, err
		}
		if n < len(r) {
			return string(r[len(r)-max(n, 0):]), nil
		}
		return string(r), nil
	})
	pad := func(left bool) HelperFunc {
		return func(c *Call) (any, error) {
			if err := need(c, 2, c.Name+" s width [char]"); err != nil {
				return nil, err
			}
			s := c.ArgString(0)
			n, err := intArg(c, 1)
			if err != nil {
				return nil, err
			}
			if n > 1<<16 {
				return nil, fmt.Errorf("width %d is too large (max 65536)", n)
			}
			ch := " "
			if p := []rune(c.ArgString(2)); len(p) > 0 {
				ch = string(p[0])
			}
			if k := n - len([]rune(s)); k > 0 {
				if left {
					return strings.Repeat(ch, k) + s, nil
				}
				return s + strings.Repeat(ch, k), nil
			}
			return s, nil
		}
	}
	s.Register("stringPadLeft", pad(true))
	s.Register("stringPadRight", pad(false))
	s.Register("stringReplace", func(c *Call) (any, error) {
		if c.IsBlock && len(c.Args) == 2 {
			body, err := c.Fn(c.This)
			if err != nil {
				return nil, err
			}
			return replaceAll(body, c.ArgString(0), c.ArgString(1)), nil
		}
		if err := need(c, 3, "stringReplace s old new"); err != nil {
			return nil, err
		}
		return replaceAll(c.ArgString(0), c.ArgString(1), c.ArgString(2)), nil
	})
	s.Register("stringFormat", func(c *Call) (any, error) {
		if err := need(c, 1, "stringFormat format args…"); err != nil {
			return nil, err
		}
		return dotnetFormat(c.ArgString(0), c.Args[1:])
	})
	s.Register("toAlphaNumericString", func(c *Call) (any, error) {
		if err := need(c, 1, "toAlphaNumericString s [max]"); err != nil {
			return nil, err
		}
		var b strings.Builder
		for _, r := range c.ArgString(0) {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				b.WriteRune(r)
			}
		}
		out := []rune(b.String())
		if len(c.Args) > 1 {
			n, err := intArg(c, 1)
			if err != nil {
				return nil, err
			}
			if n >= 0 && n < len(out) {
				out = out[:n]
			}
		}
		return string(out), nil
	})
	s.Register("newGuid", func(c *Call) (any, error) {
		return formatGUID(uuid.New(), c.ArgString(0))
	})
	s.Register("shortGuid", func(c *Call) (any, error) {
		return uuid.New().String()[:4], nil
	})
	s.Register("toDateTimeFormat", func(c *Call) (any, error) {
		if err := need(c, 1, "toDateTimeFormat date [format]"); err != nil {
			return nil, err
		}
		t, err := parseDate(c.Arg(0), c.options().Now)
		if err != nil {
			return nil, err
		}
		f := c.ArgString(1)
		if f == "" {
			f = "o"
		}
		return formatDotnetTime(t.UTC(), f)
	})
	s.Register("date", func(c *Call) (any, error) {
		f := c.ArgString(0)
		if f == "" {
			f = "o"
		}
		return formatDotnetTime(c.options().Now().UTC(), f)
	})
	s.Register("uriDataEncode", func(c *Call) (any, error) {
		if err := need(c, 2, "uriDataEncode times path"); err != nil {
			return nil, err
		}
		n, err := intArg(c, 0)
		if err != nil {
			return nil, err
		}
		if n < 0 || n > 10 {
			return nil, fmt.Errorf("times must be 0…10, got %d", n)
		}
		s := c.ArgString(1)
		for range n {
			s = escapeDataString(s)
		}
		return s, nil
	})
}

func need(c *Call, n int, usage string) error {
	if len(c.Args) < n {
		return fmt.Errorf("needs %d argument(s), got %d: {{%s}}", n, len(c.Args), usage)
	}
	return nil
}

func eqString(a, b string, ignoreCase bool) bool {
	if ignoreCase {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// flag reads an optional boolean argument: true, 1, "true", "1", "yes".
func flag(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1", "yes", "ignorecase", "desc", "descending":
			return true
		}
	case json.Number:
		f, err := x.Float64()
		return err == nil && f != 0
	}
	return false
}

// truthyArg: truthy, except that the strings "false" and "0" (as produced by
// inline comparison helpers) are false.
func truthyArg(v any) bool {
	if s, ok := v.(string); ok {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "false", "0":
			return false
		}
	}
	return truthy(v)
}

func toNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f)
	case float32:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case nil, bool, map[string]any, []any:
		return 0, false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

func intArg(c *Call, i int) (int, error) {
	f, ok := toNumber(c.Arg(i))
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		txt := ""
		if i < len(c.toks) {
			txt = c.toks[i].text
		}
		return 0, fmt.Errorf("argument %d (%s) must be a whole number", i+1, txt)
	}
	return int(f), nil
}

// tokenArg resolves argument i as a path; a quoted argument names the path.
func tokenArg(c *Call, i int) (any, bool) {
	if i >= len(c.toks) {
		return nil, false
	}
	t := c.toks[i]
	if t.quoted {
		return c.Lookup(t.str)
	}
	if t.kind != argPath {
		return t.value(nil, nil), true
	}
	if c.resolveTok == nil {
		return c.Lookup(t.text)
	}
	return c.resolveTok(t)
}

func replaceAll(s, old, new string) string {
	if old == "" {
		return s
	}
	return strings.ReplaceAll(s, old, new)
}

// escapeDataString is .NET Uri.EscapeDataString: everything but RFC 3986
// unreserved characters is percent-encoded (upper-case hex) as UTF-8.
func escapeDataString(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func formatGUID(g uuid.UUID, f string) (string, error) {
	d := g.String()
	switch f {
	case "", "D", "d":
		return d, nil
	case "N", "n":
		return strings.ReplaceAll(d, "-", ""), nil
	case "B", "b":
		return "{" + d + "}", nil
	case "P", "p":
		return "(" + d + ")", nil
	}
	return "", fmt.Errorf("unknown GUID format %q: use N, D, B or P", f)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
