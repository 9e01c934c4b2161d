// Package redact is patrol's one redactor. It knows every secret this
// process holds — each component registers a secret when it reads or
// receives it (passwords, client secrets, access and refresh tokens, PATs,
// JWT assertions, service-endpoint confidential values, the Authorization
// header of every request sent) — and removes them from any text before it
// is quoted in an error or a log line, in every form a server may echo them:
// as is, Base64 (standard and URL alphabet, with and without padding),
// URL-encoded (query and path), JSON-escaped. It also removes anything shaped
// like a credential whether registered or not: JWTs, Azure DevOps PATs (both
// formats, internal/patsecret), the value of a Basic/Bearer authorization, and the value
// of a credential-named form or JSON field (password=…, "access_token": …).
//
// Quote additionally caps the length of a quoted response body.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/patrol-dev/patrol/internal/patsecret"
)

// Marker replaces every secret.
const Marker = "REDACTED"

// MinLength is the shortest value registered: shorter ones would blank out
// ordinary words of every message (a 3-character password is refused by
// every identity provider patrol talks to anyway).
const MinLength = 4

// MaxQuote is the most characters of a response body Quote returns.
const MaxQuote = 300

// MaxSecrets bounds the registered set: at most this many values (each
// with its ~10 encoded forms) are remembered, so a long-running process
// that registers every token it fetches does not grow without limit. Past
// it the value registered (or re-registered) longest ago is forgotten first;
// the shape rules (JWTs, PATs, Basic/Bearer values, credential-named fields)
// still apply to it.
const MaxSecrets = 4096

var (
	mu      sync.RWMutex
	known   = map[string]int{}      // every registered form → how many values have it
	valForm = map[string][]string{} // registered value → its forms
	queue   []string                // registered values, least recently registered first
	ordered []string                // known, longest first
)

// Register adds secret values (empty and short ones are ignored) with their
// encoded forms. A value registered again counts as the newest.
func Register(values ...string) {
	var add []string
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) >= MinLength {
			add = append(add, v)
		}
	}
	if len(add) == 0 {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	changed := false
	for _, v := range add {
		if _, ok := valForm[v]; ok {
			if queue[len(queue)-1] != v { // move to the newest end
				i := slices.Index(queue, v)
				queue = append(slices.Delete(queue, i, i+1), v)
			}
			continue
		}
		var fs []string
		for _, f := range forms(v) {
			if len(f) >= MinLength && !slices.Contains(fs, f) {
				fs = append(fs, f)
				known[f]++
			}
		}
		valForm[v] = fs
		queue = append(queue, v)
		changed = true
	}
	for len(queue) > MaxSecrets {
		old := queue[0]
		queue = queue[1:]
		for _, f := range valForm[old] {
			if known[f]--; known[f] <= 0 {
				delete(known, f)
			}
		}
		delete(valForm, old)
	}
	if changed {
		ordered = ordered[:0]
		for f := range known {
			ordered = append(ordered, f)
		}
		sort.Slice(ordered, func(i, j int) bool { return len(ordered[i]) > len(ordered[j]) })
	}
}

// RegisterBasic registers password and the Basic credential user:password
// (whose Base64 form does not contain the password's own).
func RegisterBasic(user, password string) {
	Register(password)
	if password != "" {
		Register(user + ":" + password)
	}
}

// RegisterHeader registers the credential in an Authorization-style header
// value: the whole value and, after a scheme word (Basic, Bearer, Token, …),
// the credential alone; a Basic credential's decoded user:password too.
func RegisterHeader(value string) {
	value = strings.TrimSpace(value)
	if value == "" {
		return
	}
	Register(value)
	if i := strings.IndexByte(value, ' '); i > 0 {
		cred := strings.TrimSpace(value[i+1:])
		Register(cred)
		if strings.EqualFold(value[:i], "basic") {
			if dec, err := base64.StdEncoding.DecodeString(cred); err == nil {
				s := string(dec)
				Register(s)
				if j := strings.IndexByte(s, ':'); j >= 0 {
					Register(s[j+1:])
				}
			}
		}
	}
}

func forms(v string) []string {
	out := []string{v,
		base64.StdEncoding.EncodeToString([]byte(v)),
		base64.RawStdEncoding.EncodeToString([]byte(v)),
		base64.URLEncoding.EncodeToString([]byte(v)),
		base64.RawURLEncoding.EncodeToString([]byte(v)),
		url.QueryEscape(v),
		url.PathEscape(v),
		strings.ReplaceAll(url.QueryEscape(v), "+", "%20"),
	}
	if b, err := json.Marshal(v); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	var sb strings.Builder // HTML-safe JSON escaping off
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) == nil {
		s := strings.TrimSpace(sb.String())
		out = append(out, s[1:len(s)-1])
	}
	return out
}

var (
	// JWTs (also unsigned ones, whose third segment is empty).
	jwtRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	})
	// The credential of a Basic or Bearer authorization value.
	authRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)\b(basic|bearer)(\s+)([A-Za-z0-9._~+/=:-]{8,})`) })
	// Values of credential-named fields in forms, queries and JSON.
	fieldRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)((?:password|passwd|client_secret|clientsecret|refresh_token|access_token|id_token|assertion|client_assertion|device_code|apitoken|api_key|apikey|secret|token)(?:"\s*:\s*"|=))([^"&\s,}]+)`)
	})
	// The password in a URL's user info (net/url and net/http errors quote
	// the URL whole).
	userinfoRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://[^\s/@:"'<>]*:)([^\s/@"'<>]+)@`)
	})
	// Values of credential-named URL query parameters: SAS signatures,
	// OAuth codes, API keys (only after ? or &, so JSON "code" fields stay).
	queryRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)([?&](?:sig|signature|code|key|apikey|api-key|api_key|x-api-key|subscription-key|sas|auth|authorization|private[-_]token|access[-_]key|client[-_]secret|password|passwd|pwd|token|secret|credential|assertion)=)([^&#\s"'<>]+)`)
	})
)

// String removes every registered secret and every credential-shaped
// string from s.
func String(s string) string {
	if s == "" {
		return s
	}
	mu.RLock()
	for round := 0; ; round++ {
		again := false
		for _, f := range ordered {
			if strings.Contains(s, f) {
				s = strings.ReplaceAll(s, f, Marker)
				again = true
			}
		}
		if !again {
			break
		}
		if round == 2 {
			// Replacing keeps forming a secret (pathological overlaps with
			// the marker): drop the whole text.
			s = Marker
			break
		}
	}
	mu.RUnlock()
	s = jwtRE().ReplaceAllString(s, Marker)
	s = patsecret.Redact(s, Marker) // both PAT formats
	s = authRE().ReplaceAllStringFunc(s, func(m string) string {
		sub := authRE().FindStringSubmatch(m)
		if !credentialLike(sub[3]) {
			return m // "Basic authentication", "bearer tokens"
		}
		return sub[1] + sub[2] + Marker
	})
	s = userinfoRE().ReplaceAllString(s, "${1}"+Marker+"@")
	s = queryRE().ReplaceAllString(s, "${1}"+Marker)
	s = fieldRE().ReplaceAllStringFunc(s, func(m string) string {
		sub := fieldRE().FindStringSubmatch(m)
		if sub[2] == Marker {
			return m
		}
		return sub[1] + Marker
	})
	return s
}

// credentialLike tells a credential (Base64, a token) from an English word:
// it has a digit, a symbol, or an upper-case letter after the first.
func credentialLike(s string) bool {
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9', strings.ContainsRune("+/=._~:-", r):
			return true
		case i > 0 && unicode.IsUpper(r):
			return true
		}
	}
	return false
}

// Quote prepares a response body for an error message: redacted, control
// characters and runs of white space collapsed to one space, at most
// MaxQuote characters (an ellipsis marks a cut).
func Quote(b []byte) string {
	return QuoteN(b, MaxQuote)
}

// QuoteN is Quote with another cap.
func QuoteN(b []byte, max int) string {
	// Redact the whole body before cutting, so that a secret straddling the
	// cut is still recognised.
	if len(b) > 64<<10 {
		b = b[:64<<10]
	}
	s := String(strings.ToValidUTF8(string(b), "�"))
	var sb strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = sb.Len() > 0
			continue
		}
		if space {
			sb.WriteByte(' ')
			n++
			space = false
		}
		if n >= max {
			sb.WriteString("…")
			return sb.String()
		}
		sb.WriteRune(r)
		n++
	}
	return sb.String()
}

// Error returns err's text redacted (for callers that print errors).
func Error(err error) string {
	if err == nil {
		return ""
	}
	return String(err.Error())
}
