package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/mustache"
	redactpkg "github.com/patrol-dev/patrol/internal/redact"
)

// The http sink delivers the credential with one HTTP request, e.g.
// SonarQube's `POST /api/alm_settings/update_azure` with
// `key=…&personalAccessToken={{token}}`. The URL, header values and body are
// Azure DevOps-dialect Mustache templates (internal/mustache) rendered with
// {token, authorizationId, validTo, credential, displayName}; values are
// inserted as is (PATs and Entra tokens need no URL or JSON escaping).
//
// The request authenticates with an `endpoint:` block — the general form: an
// Azure DevOps service-endpoint type and scheme whose templates
// internal/scheme applies (see HTTPEndpoint) — or with the shorthand
// auth.type basic (username + passwordEnv/passwordFile) or bearer
// (tokenEnv/tokenFile), or none. Secrets come only from the environment or
// files; an inline value for a confidential scheme input is refused at
// config validation, which also runs scheme.Validate (no network). A response whose status is not in
// expectStatus (default: any 2xx) fails the write; its body is quoted with
// the secret redacted.
//
// An HTTP API cannot be asked what it holds, so the sink records what it
// delivered in stateFile (JSON, 0600, atomic), written after a successful
// request; Read reports that file.

// HTTPAuth configures the request's own authentication.
type HTTPAuth struct {
	Type         string `json:"type"` // none | basic | bearer
	Username     string `json:"username,omitempty"`
	PasswordEnv  string `json:"passwordEnv,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty"`
	TokenEnv     string `json:"tokenEnv,omitempty"`
	TokenFile    string `json:"tokenFile,omitempty"`
}

// HTTPParams are the parameters of `type: http`.
type HTTPParams struct {
	Type        string            `json:"type"`
	URL         string            `json:"url"`
	Method      string            `json:"method,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Body        string            `json:"body,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	Auth        *HTTPAuth         `json:"auth,omitempty"`
	// Endpoint authenticates with a service-endpoint scheme (the general form of auth).
	Endpoint     *HTTPEndpoint `json:"endpoint,omitempty"`
	ExpectStatus []int         `json:"expectStatus,omitempty"`
	StateFile    string        `json:"stateFile"`
	// Name shown in plans (default the URL's host and path).
	Name string `json:"name,omitempty"`
}

func init() {
	Register(Type{
		Name:     "http",
		Validate: func(p json.RawMessage) error { _, err := decodeHTTPParams(p); return err },
		New: func(p json.RawMessage, deps Deps) (Sink, error) {
			hp, err := decodeHTTPParams(p)
			if err != nil {
				return nil, err
			}
			s, err := NewHTTP(hp, deps.HTTPClient, deps.Now, deps.LookupEnv)
			if err != nil {
				return nil, err
			}
			if deps.HTTPState != nil {
				s.WithStateStore(deps.HTTPState(hp.StateFile))
			}
			if deps.Logger != nil {
				s.log = deps.Logger
			}
			return s, nil
		},
	})
}

func decodeHTTPParams(p json.RawMessage) (HTTPParams, error) {
	var hp HTTPParams
	if err := DecodeStrict(p, &hp); err != nil {
		return hp, err
	}
	usage := func(format string, a ...any) error { return errkind.New(errkind.Usage, fmt.Errorf(format, a...)) }
	if hp.URL == "" {
		return hp, usage("url is missing")
	}
	if _, err := parseHTTPTemplate(hp.URL); err != nil {
		return hp, usage("url template: %v", err)
	}
	u, err := url.Parse(strings.SplitN(hp.URL, "{{", 2)[0])
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return hp, usage("url %q must be an absolute https URL", hp.URL)
	}
	if u.Scheme != "https" {
		// Write refuses it too (the rendered URL); say so at validation.
		return hp, usage("url %s must be https: the request carries the credential, and patrol never sends one over plain http (loopback included; there is no opt-out); use https://%s…", httpx.RedactURL(u), u.Host)
	}
	if hp.Method == "" {
		hp.Method = http.MethodPost
	}
	hp.Method = strings.ToUpper(hp.Method)
	if !slices.Contains([]string{"POST", "PUT", "PATCH"}, hp.Method) {
		return hp, usage("method %q: use POST, PUT or PATCH", hp.Method)
	}
	if _, err := parseHTTPTemplate(hp.Body); err != nil {
		return hp, usage("body template: %v", err)
	}
	for k, v := range hp.Headers {
		if strings.EqualFold(k, "Authorization") {
			return hp, usage("headers.Authorization: use endpoint (a service-endpoint scheme) or auth (basic or bearer) with an env var or file instead of a literal credential")
		}
		if _, err := parseHTTPTemplate(v); err != nil {
			return hp, usage("headers.%s template: %v", k, err)
		}
	}
	for _, s := range hp.ExpectStatus {
		if s < 100 || s > 599 {
			return hp, usage("expectStatus %d is not an HTTP status", s)
		}
	}
	if hp.StateFile == "" {
		return hp, usage("stateFile is missing; an HTTP API cannot report what it holds, so patrol records what it delivered in this file (e.g. /var/lib/patrol/sonar.state.json)")
	}
	if hp.Endpoint != nil {
		if hp.Auth != nil && hp.Auth.Type != "" && hp.Auth.Type != "none" {
			return hp, usage("set auth or endpoint, not both; endpoint is the general form (e.g. endpoint: {type: Generic, parameters: {username: {value: admin}, password: {env: SONAR_PASSWORD}}} for basic)")
		}
		if _, err := compileEndpoint(*hp.Endpoint, hp.URL); err != nil {
			return hp, err
		}
	}
	if a := hp.Auth; a != nil {
		switch a.Type {
		case "", "none":
		case "basic":
			if a.Username == "" || (a.PasswordEnv == "") == (a.PasswordFile == "") {
				return hp, usage("auth basic needs username and exactly one of passwordEnv or passwordFile")
			}
		case "bearer":
			if (a.TokenEnv == "") == (a.TokenFile == "") {
				return hp, usage("auth bearer needs exactly one of tokenEnv or tokenFile")
			}
		default:
			return hp, usage("auth.type %q: use none, basic or bearer", a.Type)
		}
	}
	if err := checkHTTPRequestTemplates(hp); err != nil {
		return hp, errkind.New(errkind.Usage, err)
	}
	return hp, nil
}

// checkHTTPRequestTemplates renders the url, body and headers with sample
// data twice, with two different tokens, at validation: a name the context
// lacks, a body or header that renders to nothing, or a request that is the
// same whatever the token is (it never carries the credential, so a
// "delivery" would succeed and deliver nothing) is refused before any run.
func checkHTTPRequestTemplates(hp HTTPParams) error {
	var first string
	for i, tok := range []string{"patrol-sample-token-one-0123456789", "patrol-sample-token-two-9876543210"} {
		data := map[string]any{
			"token": tok, "authorizationId": "00000000-0000-0000-0000-000000000001", "validTo": "2030-01-01T00:00:00Z",
			"credential": "sample", "displayName": "patrol:sample:20300101T000000Z",
		}
		var all strings.Builder
		for _, f := range httpTemplateFields(hp) {
			t, err := parseHTTPTemplate(f.src)
			if err != nil {
				return fmt.Errorf("%s template: %v", f.name, err)
			}
			out, err := t.Render(data)
			if err != nil {
				return fmt.Errorf("%s template: %v", f.name, err)
			}
			if f.name != "url" && f.src != "" && strings.TrimSpace(out) == "" {
				return fmt.Errorf("%s renders to nothing (template %q); the consumer would receive an empty value: give it content, e.g. pat={{token}}, or remove it", f.name, f.src)
			}
			all.WriteString(f.name + "\x00" + out + "\x00")
		}
		if i == 0 {
			first = all.String()
		} else if all.String() == first {
			return errors.New("the request never carries the credential: none of url, body or headers uses {{token}}; put it where the consumer expects it, e.g. body: \"personalAccessToken={{token}}\"")
		}
	}
	return nil
}

type httpTemplateField struct{ name, src string }

// httpTemplateFields lists the request's templates in a stable order.
func httpTemplateFields(hp HTTPParams) []httpTemplateField {
	fs := []httpTemplateField{{"url", hp.URL}, {"body", hp.Body}}
	keys := make([]string, 0, len(hp.Headers))
	for k := range hp.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fs = append(fs, httpTemplateField{"headers." + k, hp.Headers[k]})
	}
	return fs
}

// HTTPSink delivers with an HTTP request.
type HTTPSink struct {
	p       HTTPParams
	url     *mustache.Template
	body    *mustache.Template
	headers map[string]*mustache.Template
	hc      *http.Client
	now     func() time.Time
	env     func(string) (string, bool)
	ep      *compiledEndpoint
	log     *slog.Logger
	state   HTTPStateStore
}

// NewHTTP builds the sink. hc nil = a default httpx client; env nil = os.LookupEnv.
func NewHTTP(p HTTPParams, hc *http.Client, now func() time.Time, env func(string) (string, bool)) (*HTTPSink, error) {
	if now == nil {
		now = time.Now
	}
	if env == nil {
		env = os.LookupEnv
	}
	s := &HTTPSink{p: p, hc: hc, now: now, env: env, headers: map[string]*mustache.Template{}, log: slog.New(slog.DiscardHandler), state: fileHTTPState{path: p.StateFile}}
	var err error
	if p.Endpoint != nil {
		if s.ep, err = compileEndpoint(*p.Endpoint, p.URL); err != nil {
			return nil, err
		}
	}
	if s.url, err = parseHTTPTemplate(p.URL); err != nil {
		return nil, err
	}
	if s.body, err = parseHTTPTemplate(p.Body); err != nil {
		return nil, err
	}
	for k, v := range p.Headers {
		if s.headers[k], err = parseHTTPTemplate(v); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Name is "http:<name or url without query>".
func (s *HTTPSink) Name() string {
	if s.p.Name != "" {
		return "http:" + s.p.Name
	}
	u := strings.SplitN(s.p.URL, "?", 2)[0]
	return "http:" + u
}

// WithStateStore replaces the stateFile by st (nil: keep the stateFile).
func (s *HTTPSink) WithStateStore(st HTTPStateStore) *HTTPSink {
	if st != nil {
		s.state = st
	}
	return s
}

// Read reports the recorded state.
func (s *HTTPSink) Read(ctx context.Context) (Held, error) {
	st, unknown, err := s.state.Load(ctx)
	switch {
	case err != nil:
		return Held{}, fmt.Errorf("%s: %w", s.Name(), err)
	case unknown:
		// A delivery whose outcome is unknown: the tool may hold either.
		return Held{Present: true}, nil
	case st == nil:
		return Held{}, nil
	}
	return Held{Present: true, AuthorizationID: st.AuthorizationID, ValidTo: st.ValidTo, RotatedAt: st.RotatedAt}, nil
}

func (s *HTTPSink) secretFrom(envName, file, what string) (string, error) {
	if envName != "" {
		v, ok := s.env(envName)
		if !ok || v == "" {
			return "", errkind.New(errkind.Usage, fmt.Errorf("%s: %s variable %s is not set", s.Name(), what, envName))
		}
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", errkind.New(errkind.Usage, fmt.Errorf("%s: read %s file: %w", s.Name(), what, err))
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Write sends the request, then records the state.
func (s *HTTPSink) Write(ctx context.Context, secret string, meta Meta) error {
	data := map[string]any{
		"token": secret, "authorizationId": meta.AuthorizationID, "validTo": meta.ValidTo.UTC().Format(time.RFC3339),
		"credential": meta.Credential, "displayName": meta.DisplayName,
	}
	hidden := []string{secret}
	redact := func(s string) string {
		for _, h := range hidden {
			if h != "" {
				s = strings.ReplaceAll(s, h, "REDACTED")
			}
		}
		return s
	}
	u, err := s.url.RenderContext(ctx, data)
	if err != nil {
		return fmt.Errorf("%s: render url: %s", s.Name(), redact(err.Error()))
	}
	body, err := s.body.RenderContext(ctx, data)
	if err != nil {
		return fmt.Errorf("%s: render body: %s", s.Name(), redact(err.Error()))
	}
	if s.p.Body != "" && strings.TrimSpace(body) == "" {
		// A section on data that is empty for this delivery: sending would
		// report success for a request that delivered nothing.
		return errkind.New(errkind.Usage, fmt.Errorf("%s: body rendered to nothing for this delivery (template %q); nothing was sent: make the template produce content whatever authorizationId, validTo and displayName are", s.Name(), s.p.Body))
	}
	req, err := http.NewRequestWithContext(ctx, s.p.Method, u, strings.NewReader(body))
	if err != nil {
		return errkind.New(errkind.Usage, fmt.Errorf("%s: %s", s.Name(), redact(err.Error())))
	}
	// The request carries the PAT: only ever over https, whatever the
	// template rendered to (config validation sees only its literal prefix).
	if req.URL.Scheme != "https" {
		return errkind.New(errkind.Usage, fmt.Errorf("%s: url %s is not https; the http sink sends the credential only over https: use an https:// URL (nothing was sent)", s.Name(), redact(httpx.RedactURL(req.URL))))
	}
	if s.p.ContentType != "" {
		req.Header.Set("Content-Type", s.p.ContentType)
	} else if s.p.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, t := range s.headers {
		v, err := t.RenderContext(ctx, data)
		if err != nil {
			return fmt.Errorf("%s: render header %s: %s", s.Name(), k, redact(err.Error()))
		}
		req.Header.Set(k, v)
	}
	if a := s.p.Auth; a != nil {
		switch a.Type {
		case "basic":
			pw, err := s.secretFrom(a.PasswordEnv, a.PasswordFile, "password")
			if err != nil {
				return err
			}
			hidden = append(hidden, pw)
			req.SetBasicAuth(a.Username, pw)
		case "bearer":
			tok, err := s.secretFrom(a.TokenEnv, a.TokenFile, "token")
			if err != nil {
				return err
			}
			hidden = append(hidden, tok)
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	hc := s.hc
	if s.ep != nil {
		a, secrets, err := s.ep.authorizer(s.env, s.hc, s.now, s.log)
		hidden = append(hidden, secrets...)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name(), err)
		}
		if hc, err = a.Client(s.hc); err != nil {
			return fmt.Errorf("%s: endpoint: %w", s.Name(), err)
		}
	}
	// Never follow a redirect with the secret; bound the answer
	// (internal/httpx, purpose Sink).
	hc = httpx.For(hc, httpx.Sink)
	// Record the delivery in progress first: if the outcome is lost (the
	// tool took the request but the answer or the state write failed), Read
	// reports unknown content rather than the previous credential, so the
	// engine keeps the new PAT and the next run delivers again.
	pending := HTTPState{Credential: meta.Credential, AuthorizationID: meta.AuthorizationID, ValidTo: meta.ValidTo.UTC(), RotatedAt: rotatedAt(meta, s.now).UTC()}
	if err := s.state.Begin(ctx, pending); err != nil {
		return fmt.Errorf("%s: %w; nothing was sent", s.Name(), err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		var re *httpx.RedirectError
		if errors.As(err, &re) {
			// The tool answered with a redirect, not by taking the
			// credential: it keeps its previous one.
			_ = s.state.Abort(ctx)
			cp := *re
			cp.From, cp.To = redact(cp.From), redact(cp.To) // a url template may put the PAT in the path
			return fmt.Errorf("%s: %w; the consumer keeps its previous credential", s.Name(), &cp)
		}
		if errkind.Of(err) != errkind.Unknown {
			_ = s.state.Abort(ctx) // an authorizer error: nothing reached the tool
		}
		// An authorizer error (two-hop, JWT, certificate) keeps its kind; a
		// host that does not resolve or an untrusted certificate is the
		// sink's configuration, only network failures are transient.
		k, hint := errkind.Transport(err)
		if k == errkind.Unknown {
			k = errkind.Transient
		}
		if hint != "" {
			hint = "; " + hint
		}
		return errkind.New(k, fmt.Errorf("%s: %s%s", s.Name(), redact(err.Error()), hint))
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if len(s.p.ExpectStatus) > 0 {
		ok = slices.Contains(s.p.ExpectStatus, resp.StatusCode)
	}
	if !ok {
		k := errkind.Unknown
		switch {
		case resp.StatusCode == 401:
			k = errkind.Auth
		case resp.StatusCode == 403:
			k = errkind.Permission
		case resp.StatusCode == 404:
			k = errkind.NotFound
		case resp.StatusCode == 429 || resp.StatusCode >= 500:
			k = errkind.Transient
		case resp.StatusCode >= 400:
			k = errkind.Usage
		}
		redactpkg.Register(hidden...)
		msg := redactpkg.Quote([]byte(redact(string(rb)))) // the sink's secrets, then every other one, capped
		_ = s.state.Abort(ctx)                             // the tool refused it: it keeps its previous credential
		return errkind.New(k, fmt.Errorf("%s: %s answered %d (%s); the consumer keeps its previous credential", s.Name(), s.p.Method, resp.StatusCode, msg))
	}
	pending.Status = resp.StatusCode
	if err := s.state.Commit(ctx, pending); err != nil {
		return fmt.Errorf("%s: delivered, but %w (the next run will deliver again)", s.Name(), err)
	}
	return nil
}

// parseHTTPTemplate parses a url/body/header template of the http sink in
// strict mode: a name the context lacks (a typo such as {{tokn}}) fails the
// write before any request is sent, instead of delivering an empty value.
func parseHTTPTemplate(src string) (*mustache.Template, error) {
	return mustache.ParseWith(src, mustache.Options{Strict: true})
}
