package mustache

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

func registerEndpoint(s *HelperSet) {
	s.Register("#base64", helperBase64)
	s.Register("base64", helperBase64)
	s.Register("#decodeBase64", helperDecodeBase64)
	s.Register("decodeBase64", helperDecodeBase64)
	s.Register("#jsonEscape", func(c *Call) (any, error) {
		if len(c.toks) < 1 {
			return nil, fmt.Errorf("needs a path: {{ #jsonEscape path }}")
		}
		v, _ := word(c, 0)
		return jsonEscape(stringify(v)), nil
	})
	s.Register("#regex", helperRegex)
	s.Register("#stringReplace", helperHashStringReplace)
	s.Register("#subString", func(c *Call) (any, error) {
		if len(c.toks) < 3 {
			return nil, fmt.Errorf("needs start, length and path: {{ #subString 0 8 path }}")
		}
		start, err := intArg(c, 0)
		if err != nil {
			return nil, err
		}
		n, err := intArg(c, 1)
		if err != nil {
			return nil, err
		}
		v, _ := word(c, 2)
		r := []rune(stringify(v))
		if start < 0 || n < 0 {
			return nil, fmt.Errorf("start and length must not be negative")
		}
		if start >= len(r) {
			return "", nil
		}
		end := min(start+n, len(r))
		return string(r[start:end]), nil
	})
	s.Register("#extractResource", func(c *Call) (any, error) {
		var src any
		var name string
		switch len(c.toks) {
		case 0:
			return nil, fmt.Errorf("needs a resource name: {{ #extractResource [key] resourceGroups }}")
		case 1:
			src, _ = c.Lookup("defaultResultKey")
			name = c.toks[0].str
		default:
			src, _ = word(c, 0)
			name = c.toks[1].str
		}
		parts := strings.Split(stringify(src), "/")
		for i := 0; i+1 < len(parts); i++ {
			if strings.EqualFold(parts[i], name) {
				return parts[i+1], nil
			}
		}
		return "", nil
	})
}

// word resolves argument i the endpoint-helper way: a quoted token is a
// literal, anything else a path (the value and whether it was found).
func word(c *Call, i int) (any, bool) {
	if i >= len(c.toks) {
		return nil, false
	}
	t := c.toks[i]
	if t.quoted || t.kind != argPath {
		return t.value(nil, nil), true
	}
	if c.resolveTok != nil {
		return c.resolveTok(t)
	}
	return c.Lookup(t.text)
}

// literal returns argument i as text: quotes removed, never resolved.
func literal(c *Call, i int) string {
	if i >= len(c.toks) {
		return ""
	}
	if c.toks[i].quoted {
		return c.toks[i].str
	}
	return c.toks[i].text
}

// helperBase64: tokens starting "endpoint." are looked up (error if absent),
// other tokens are literals with quotes trimmed; concatenated, UTF-8, padded
// standard Base64.
func helperBase64(c *Call) (any, error) {
	if len(c.toks) == 0 {
		return nil, fmt.Errorf(`needs at least one token: {{ #base64 endpoint.username ":" endpoint.password }}`)
	}
	var b strings.Builder
	for i, t := range c.toks {
		if !t.quoted && strings.HasPrefix(strings.ToLower(t.text), "endpoint.") {
			v, ok := c.Lookup(t.text)
			if !ok || v == nil {
				return nil, fmt.Errorf("%s is not set on the endpoint: supply it in authorization.parameters or data", t.text)
			}
			b.WriteString(stringify(v))
			continue
		}
		b.WriteString(literal(c, i))
	}
	return base64.StdEncoding.EncodeToString([]byte(b.String())), nil
}

func helperDecodeBase64(c *Call) (any, error) {
	if len(c.toks) != 1 {
		return nil, fmt.Errorf("needs exactly one path: {{#decodeBase64 endpoint.apiToken}}")
	}
	v, ok := word(c, 0)
	if !ok || v == nil {
		return nil, fmt.Errorf("%s is not set: supply it in the endpoint's parameters or data", c.toks[0].text)
	}
	s := strings.TrimSpace(stringify(v))
	var out []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if out, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		// never echo the value: it is usually a secret
		return nil, fmt.Errorf("the value of %s is not valid Base64 (%d characters): re-encode it with standard Base64", c.toks[0].text, len(s))
	}
	if !utf8.Valid(out) {
		return nil, fmt.Errorf("the value of %s decodes to bytes that are not UTF-8 text", c.toks[0].text)
	}
	return string(out), nil
}

func jsonEscape(s string) string {
	b, _ := marshalJSON(s)
	return string(b[1 : len(b)-1])
}

var regexCache sync.Map // pattern -> *regexp.Regexp

// maxCached bounds the regex and JSONPath caches (patterns usually come from
// templates, but rendered JSONPath selectors can vary per value).
const maxCached = 2048

var cacheSlots atomic.Int64

func compileRegex(p string) (*regexp.Regexp, error) {
	if re, ok := regexCache.Load(p); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	if cacheSlots.Add(1) <= maxCached {
		regexCache.Store(p, re)
	}
	return re, nil
}

// helperRegex: {{ #regex pattern path }} writes capture group 1 of the first
// match (the whole match if the pattern has no group; "" if none).
func helperRegex(c *Call) (any, error) {
	if len(c.toks) < 2 {
		return nil, fmt.Errorf("needs a pattern and a path: {{ #regex /?(.*$) uri }}")
	}
	pat := literal(c, 0)
	if len(pat) > 4096 {
		return nil, fmt.Errorf("pattern longer than 4096 bytes")
	}
	re, err := compileRegex(pat)
	if err != nil {
		return nil, fmt.Errorf("pattern %q is not a valid RE2 regular expression: %v", pat, err)
	}
	v, _ := word(c, 1)
	subject := stringify(v)
	if len(subject) > MaxRegexInput {
		return nil, fmt.Errorf("input of %d bytes exceeds the %d-byte regex limit", len(subject), MaxRegexInput)
	}
	type res struct{ m []string }
	ch := make(chan res, 1)
	go func() { ch <- res{re.FindStringSubmatch(subject)} }()
	timer := time.NewTimer(c.options().RegexTimeout)
	defer timer.Stop()
	var m []string
	select {
	case r := <-ch:
		m = r.m
	case <-timer.C:
		return nil, fmt.Errorf("pattern %q took longer than %s", pat, c.options().RegexTimeout)
	case <-ctxDone(c):
		return nil, c.Ctx.Err()
	}
	switch {
	case m == nil:
		return "", nil
	case len(m) > 1:
		return m[1], nil
	}
	return m[0], nil
}

func ctxDone(c *Call) <-chan struct{} {
	if c.Ctx == nil {
		return nil
	}
	return c.Ctx.Done()
}

// helperHashStringReplace: {{ #stringReplace old new path }}; old and new
// may be two JSON arrays of the same length (at most 2000) for pairwise
// replacement.
func helperHashStringReplace(c *Call) (any, error) {
	if len(c.toks) < 3 {
		return nil, fmt.Errorf(`needs old, new and a path: {{ #stringReplace ' ' '' path }}`)
	}
	old, repl := literal(c, 0), literal(c, 1)
	v, _ := word(c, 2)
	s := stringify(v)
	if strings.HasPrefix(strings.TrimSpace(old), "[") {
		olds, err1 := parseStringArray(old)
		news, err2 := parseStringArray(repl)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("old and new must both be JSON string arrays when one is: [\"a\",\"b\"] [\"x\",\"y\"]")
		}
		if len(olds) != len(news) {
			return nil, fmt.Errorf("old has %d entries but new has %d: they must pair up", len(olds), len(news))
		}
		if len(olds) > 2000 {
			return nil, fmt.Errorf("at most 2000 replacement pairs, got %d", len(olds))
		}
		for i := range olds {
			s = replaceAll(s, olds[i], news[i])
		}
		return s, nil
	}
	return replaceAll(s, old, repl), nil
}

func parseStringArray(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err == nil {
		return out, nil
	}
	// lenient: single-quoted strings
	return out, json.Unmarshal([]byte(strings.ReplaceAll(s, "'", `"`)), &out)
}
