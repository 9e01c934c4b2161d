package scheme

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/mustache"
	"github.com/patrol-dev/patrol/internal/redact"
)

// Two-hop limits (Azure DevOps: body ≤ 100 KB, 100 s read timeout).
const (
	MaxTwoHopBody    = 100 << 10
	TwoHopTimeout    = 100 * time.Second
	twoHopMaxRespLen = 2 << 20
)

// TwoHopRequest is the parsed argument of #getTokenUsingBasicAuth with
// defaults applied and endpoint references still unresolved.
type TwoHopRequest struct {
	Username, Password string
	AuthServerURL      string
	Method             string
	ContentType        string
	Body               map[string]any
	ResultSelector     string
	IgnoreError        bool
}

// ParseTwoHop parses the argument text (lenient JSON) and validates it
// against Azure DevOps' rules: method GET or POST, contentType
// application/json, resultSelector starting with jsonpath:, body an object.
func ParseTwoHop(raw string) (*TwoHopRequest, error) {
	v, err := ParseLenientJSON(raw)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errNotObject
	}
	r := &TwoHopRequest{Username: "endpoint.username", Password: "endpoint.password", AuthServerURL: "endpoint.url",
		Method: "GET", ContentType: "application/json", Body: map[string]any{}, ResultSelector: "jsonpath:$.*"}
	str := func(key string, dst *string) error {
		x, ok := getCI(m, key)
		if !ok || x == nil {
			return nil
		}
		s, ok := x.(string)
		if !ok {
			s = fmt.Sprint(x)
		}
		*dst = s
		return nil
	}
	for _, kv := range []struct {
		k string
		d *string
	}{{"username", &r.Username}, {"password", &r.Password}, {"authServerUrl", &r.AuthServerURL}, {"method", &r.Method},
		{"contentType", &r.ContentType}, {"resultSelector", &r.ResultSelector}} {
		_ = str(kv.k, kv.d)
	}
	var ign string
	_ = str("ignoreError", &ign)
	r.IgnoreError = strings.EqualFold(ign, "true")
	r.Method = strings.ToUpper(strings.TrimSpace(r.Method))
	if r.Method != "GET" && r.Method != "POST" {
		return nil, fmt.Errorf("method %q is not allowed; use 'get' or 'post'", r.Method)
	}
	if !strings.EqualFold(strings.TrimSpace(r.ContentType), "application/json") {
		return nil, fmt.Errorf("contentType %q is not allowed; only application/json", r.ContentType)
	}
	if !strings.HasPrefix(strings.ToLower(r.ResultSelector), "jsonpath:") {
		return nil, fmt.Errorf("resultSelector %q must start with jsonpath:", r.ResultSelector)
	}
	if b, ok := getCI(m, "body"); ok && b != nil {
		bm, ok := b.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("body must be a JSON object")
		}
		r.Body = bm
	}
	return r, nil
}

// ref resolves "endpoint.name[rest]" against the endpoint. fromParams says
// whether authorization parameters may supply it (data wins).
func (a *EndpointAuthorizer) ref(v string, fromParams bool) (string, error) {
	if !strings.HasPrefix(strings.ToLower(v), "endpoint.") {
		return v, nil
	}
	name := v[len("endpoint."):]
	rest := ""
	if i := strings.IndexAny(name, "/?#"); i >= 0 {
		name, rest = name[:i], name[i:]
	}
	if strings.EqualFold(name, "url") {
		u := a.ep.URL
		if u == "" {
			u = a.typ.URL.Value
		}
		if rest != "" {
			u = strings.TrimRight(u, "/")
		}
		return u + rest, nil
	}
	if d, ok := DataCI(a.ep.Data, name); ok {
		return d + rest, nil
	}
	if fromParams {
		if p, ok, _ := ParamCI(a.ep.Authorization.Parameters, name); ok && p != nil {
			return *p + rest, nil
		}
	}
	where := "data"
	if fromParams {
		where = "data or authorization.parameters"
	}
	return "", fmt.Errorf("%s is not set on the endpoint (looked in %s)", "endpoint."+name, where)
}

func (a *EndpointAuthorizer) resolveBody(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return a.ref(x, true)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := a.resolveBody(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := a.resolveBody(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// helperTwoHop implements {{ #getTokenUsingBasicAuth {json} }}.
func helperTwoHop(c *mustache.Call) (any, error) {
	var b *twoHopBinding
	if c.Ctx != nil {
		b, _ = c.Ctx.Value(twoHopKey{}).(*twoHopBinding)
	}
	if b == nil {
		return nil, fmt.Errorf("#getTokenUsingBasicAuth can only run in a scheme header of an endpoint")
	}
	tok, err := b.a.twoHop(c.Ctx, c.RawArgs)
	if err != nil {
		return nil, err
	}
	return tok, nil
}

func (a *EndpointAuthorizer) twoHop(ctx context.Context, raw string) (string, error) {
	fail := func(k errkind.Kind, format string, args ...any) (string, error) {
		return "", &AuthError{Scheme: a.scheme.Name, Step: "#getTokenUsingBasicAuth", Err: fmt.Errorf(format, args...), kind: k}
	}
	r, err := ParseTwoHop(raw)
	if err != nil {
		return fail(errkind.Usage, "%v", err)
	}
	user, err := a.ref(r.Username, true)
	if err != nil {
		return fail(errkind.Usage, "username: %v", err)
	}
	pass, err := a.ref(r.Password, true)
	if err != nil {
		return fail(errkind.Usage, "password: %v", err)
	}
	target, err := a.ref(r.AuthServerURL, false)
	if err != nil {
		return fail(errkind.Usage, "authServerUrl: %v", err)
	}
	var body []byte
	if r.Method == "POST" {
		rb, err := a.resolveBody(r.Body)
		if err != nil {
			return fail(errkind.Usage, "body: %v", err)
		}
		body, _ = json.Marshal(rb)
		if len(body) > MaxTwoHopBody {
			return fail(errkind.Usage, "body is %d bytes, more than %d", len(body), MaxTwoHopBody)
		}
	}
	h := sha256.New()
	for _, s := range []string{target, r.Method, user, pass, string(body), r.ResultSelector} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	key := "twohop:" + hex.EncodeToString(h.Sum(nil))
	if v, ok := a.opts.Cache.Get(key, a.opts.Now()); ok {
		return v, nil
	}
	ctx, cancel := context.WithTimeout(ctx, TwoHopTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, target, rd)
	if err != nil {
		return fail(errkind.Usage, "authServerUrl %q: %v", redactURL(target), err)
	}
	redact.RegisterBasic(user, pass)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.opts.HTTPClient.Do(req)
	if err != nil {
		if r.IgnoreError {
			return "", nil
		}
		k, hint := errkind.Transport(err)
		if hint != "" {
			hint = " (" + hint + ")"
		}
		return fail(k, "%s %s: %w%s", r.Method, redactURL(target), err, hint)
	}
	data, err := httpx.ReadBody(resp, twoHopMaxRespLen, "two-hop auth server")
	if err != nil {
		if r.IgnoreError {
			return "", nil
		}
		if httpx.Permanent(err) {
			return fail(errkind.Usage, "%w", err)
		}
		return fail(errkind.Transient, "reading %s: %v", redactURL(target), err)
	}
	if resp.StatusCode != http.StatusOK {
		if r.IgnoreError {
			return "", nil
		}
		k := errkind.Auth
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			k = errkind.Transient
		}
		return fail(k, "%s %s answered HTTP %d: %s", r.Method, redactURL(target), resp.StatusCode, redact.Quote(data))
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		if r.IgnoreError {
			return "", nil
		}
		return fail(errkind.Auth, "%s answered 200 with a non-JSON body", redactURL(target))
	}
	sel, err := mustache.SelectTokens(doc, r.ResultSelector)
	if err != nil {
		return fail(errkind.Usage, "resultSelector: %v", err)
	}
	if len(sel) == 0 || sel[0] == nil {
		if r.IgnoreError {
			return "", nil
		}
		return fail(errkind.Auth, "resultSelector %s matched nothing in the response of %s", r.ResultSelector, redactURL(target))
	}
	var tok string
	switch x := sel[0].(type) {
	case string:
		tok = x
	default:
		bs, _ := json.Marshal(x)
		tok = string(bs)
	}
	redact.Register(tok)
	if until, ok := expiryOf(doc, a.opts.Now()); ok {
		a.opts.Cache.Put(key, tok, until)
	}
	return tok, nil
}

var expirySeconds = []string{"expires_in", "expiresIn"}
var expiryStamps = []string{"terminalDate", "expiresAt", "expires_at", "expiration", "expirationDate", "expiry", "expires", "validUntil"}

// expiryOf looks (breadth-first, depth ≤ 3) for a lifetime in a token
// response: seconds (expires_in) or a timestamp (terminalDate, expiresAt, …).
func expiryOf(doc any, now time.Time) (time.Time, bool) {
	level := []any{doc}
	for depth := 0; depth < 3 && len(level) > 0; depth++ {
		var next []any
		for _, n := range level {
			m, ok := n.(map[string]any)
			if !ok {
				continue
			}
			for _, k := range expirySeconds {
				if v, ok := getCI(m, k); ok {
					if d := expiresIn(v); d > 0 {
						return refreshAt(now, d), true
					}
				}
			}
			for _, k := range expiryStamps {
				if v, ok := getCI(m, k); ok {
					if s, ok := v.(string); ok {
						if t, ok := parseStamp(s); ok && t.After(now) {
							return refreshAt(now, t.Sub(now)), true
						}
					}
				}
			}
			for _, v := range m {
				next = append(next, v)
			}
		}
		level = next
	}
	return time.Time{}, false
}

func parseStamp(s string) (time.Time, bool) {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05.000Z0700", "2006-01-02 15:04:05Z07:00"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
