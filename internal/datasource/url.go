package datasource

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

var absoluteURL = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*://`) })

// requestURL turns a rendered endpointUrl into the URL patrol sends, as
// Azure DevOps does: a URL that is not absolute (api/v1/info, /api/v1/info)
// is joined to the endpoint's URL with exactly one '/'; then characters that
// are not valid in a request line are escaped like .NET's Uri does (see
// escapeURL); the result must be an http(s) URL with a host.
func requestURL(rendered, endpointURL string) (*url.URL, error) {
	s := strings.TrimSpace(rendered)
	if s == "" {
		return nil, errors.New("rendered to an empty URL; set endpointUrl to an absolute URL or a path relative to the endpoint URL")
	}
	if !absoluteURL().MatchString(s) {
		base := strings.TrimSpace(endpointURL)
		if base == "" {
			return nil, fmt.Errorf("%q is relative, but the endpoint has no url to resolve it against; set the endpoint's url (or make endpointUrl absolute, e.g. {{{endpoint.url}}}/%s)", redact(s), strings.TrimLeft(s, "/"))
		}
		s = strings.TrimRight(base, "/") + "/" + strings.TrimLeft(s, "/")
	}
	u, err := url.Parse(escapeURL(s))
	if err != nil {
		return nil, fmt.Errorf("rendered to %q, which is not a URL (%v); fix the template or the value it uses", redact(s), unwrapURLError(err))
	}
	if sc := strings.ToLower(u.Scheme); sc != "https" && sc != "http" {
		return nil, fmt.Errorf("rendered to %q: scheme %q is not http or https; data sources call HTTP(S) servers only", redact(s), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("rendered to %q, which has no host; fix the endpoint's url or the template", redact(s))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	return u, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// escapeURL percent-encodes what .NET's Uri escapes in the path and query of
// an http(s) URL before sending: control characters, space, DEL, non-ASCII
// (as UTF-8 bytes) and " < > \ ^ ` { | }, plus a '%' that does not start a
// %XX escape. Existing escapes, reserved characters (?&=+/;:@!$'()*,[]) and
// the fragment delimiter '#' are kept. As .NET does for http(s), a '\' in
// the path becomes '/'. The scheme and authority are left alone.
func escapeURL(s string) string {
	start := 0
	if m := absoluteURL().FindStringIndex(s); m != nil {
		start = m[1]
		if i := strings.IndexAny(s[start:], "/?#"); i >= 0 {
			start += i
		} else {
			return s
		}
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:start])
	inPath := true
	for i := start; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '?' || c == '#':
			inPath = false
			b.WriteByte(c)
		case c == '\\' && inPath:
			b.WriteByte('/')
		case c == '%':
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				b.WriteByte(c)
			} else {
				b.WriteString("%25")
			}
		case c <= 0x20 || c >= 0x7F || strings.IndexByte("\"<>\\^`{|}", c) >= 0:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}
