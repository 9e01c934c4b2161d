package scheme

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLenientDepth bounds nesting in ParseLenientJSON.
const MaxLenientDepth = 32

// ParseLenientJSON parses the argument text of #getTokenUsingBasicAuth the
// way Azure DevOps (Newtonsoft JObject.Parse) accepts it: single- or
// double-quoted strings, unquoted keys and bare words, trailing commas.
// Objects become map[string]any, arrays []any, numbers float64.
func ParseLenientJSON(s string) (any, error) {
	p := &lenient{s: s}
	p.ws()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i < len(p.s) {
		return nil, p.errf("unexpected %q after the value", p.s[p.i:min(len(p.s), p.i+10)])
	}
	return v, nil
}

type lenient struct {
	s string
	i int
}

func (p *lenient) errf(format string, a ...any) error {
	return fmt.Errorf("lenient JSON at offset %d: %s", p.i, fmt.Sprintf(format, a...))
}

func (p *lenient) ws() {
	for p.i < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		if !unicode.IsSpace(r) {
			return
		}
		p.i += n
	}
}

func (p *lenient) value(depth int) (any, error) {
	if depth > MaxLenientDepth {
		return nil, p.errf("nested deeper than %d", MaxLenientDepth)
	}
	if p.i >= len(p.s) {
		return nil, p.errf("unexpected end")
	}
	switch c := p.s[p.i]; c {
	case '{':
		return p.object(depth)
	case '[':
		return p.array(depth)
	case '\'', '"':
		return p.str()
	default:
		w := p.word()
		if w == "" {
			return nil, p.errf("unexpected %q", string(c))
		}
		switch strings.ToLower(w) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		}
		if f, err := strconv.ParseFloat(w, 64); err == nil {
			return f, nil
		}
		return w, nil
	}
}

func (p *lenient) word() string {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == ',' || c == ':' || c == '}' || c == ']' || c == '{' || c == '[' || c == '\'' || c == '"' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		p.i++
	}
	return p.s[start:p.i]
}

func (p *lenient) str() (string, error) {
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", p.errf("unterminated escape")
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'u':
				if p.i+4 > len(p.s) {
					return "", p.errf("short \\u escape")
				}
				n, err := strconv.ParseUint(p.s[p.i:p.i+4], 16, 32)
				if err != nil {
					return "", p.errf("bad \\u escape")
				}
				b.WriteRune(rune(n))
				p.i += 4
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", p.errf("unterminated string")
}

func (p *lenient) object(depth int) (map[string]any, error) {
	p.i++ // {
	m := map[string]any{}
	for {
		p.ws()
		if p.i >= len(p.s) {
			return nil, p.errf("unterminated object")
		}
		if p.s[p.i] == '}' {
			p.i++
			return m, nil
		}
		var key string
		var err error
		if c := p.s[p.i]; c == '\'' || c == '"' {
			key, err = p.str()
			if err != nil {
				return nil, err
			}
		} else {
			key = p.word()
			if key == "" {
				return nil, p.errf("expected a key")
			}
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, p.errf("expected ':' after key %q", key)
		}
		p.i++
		p.ws()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[key] = v
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return m, nil
		}
		return nil, p.errf("expected ',' or '}'")
	}
}

func (p *lenient) array(depth int) ([]any, error) {
	p.i++ // [
	out := []any{}
	for {
		p.ws()
		if p.i >= len(p.s) {
			return nil, p.errf("unterminated array")
		}
		if p.s[p.i] == ']' {
			p.i++
			return out, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			return out, nil
		}
		return nil, p.errf("expected ',' or ']'")
	}
}

// getCI returns m[key] matching case-insensitively.
func getCI(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

var errNotObject = errors.New("the argument must be a JSON object: {{ #getTokenUsingBasicAuth { 'authServerUrl' : 'endpoint.url/login', … } }}")
