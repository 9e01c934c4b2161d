// Package devops is patrol's thin, typed Azure DevOps REST client: the PAT
// lifecycle API (tokens/pats), TokenAdmin, service endpoints, variable groups
// and connectionData. It is written on net/http rather than on
// microsoft/azure-devops-go-api (stale, no PAT API, no transport injection, no
// retry; see reference/libraries.md §3).
//
// # Requests
//
// Every request carries `Authorization: Bearer <Entra token>` (from
// Options.Token; VerifyPAT uses Basic ":PAT" instead),
// `X-TFS-FedAuthRedirect: Suppress`, `Accept: application/json` and the
// api-version in the query. Redirects are never followed.
//
// # Errors
//
// Responses are classified into typed errors that implement errkind.Kinder:
//   - 203, any 3xx, or an HTML body: *AuthError (Azure DevOps' sign-in page —
//     the token is missing, expired, or not a user token).
//   - 401: *AuthError with WWW-Authenticate / X-VSS-ResourceTenant decoded; a
//     tenant mismatch says which tenant to sign in to.
//   - 400, 403, 404, 409, 429, 5xx and others: *APIError carrying the VSS error
//     body (message, typeKey) and a Kind derived from the status.
//   - a 200 with patTokenError != "none": *PATError with advice for each of
//     the 37 SessionTokenError values.
//   - a create whose outcome is unknown and which did commit:
//     *CreateUnknownError.
//
// # Retries
//
// Idempotent operations (GET, PUT, DELETE, and the POSTs that are idempotent
// by nature: revocations, endpointproxy, connectionData) are retried on 429,
// 5xx and network errors with exponential backoff (cenkalti/backoff/v5),
// bounded by Options.MaxAttempts, Options.MaxElapsed and the context. A
// Retry-After header (seconds or HTTP date, on a 429 or on any other
// response) closes a gate shared by every goroutine using the same Client:
// no request is sent before it reopens. The X-RateLimit-* headers Azure
// DevOps sends before it throttles space the requests of every goroutine
// while the remaining budget is low (ratelimit.go), so that a 429 should not
// come at all. PAT creation is never retried blindly; see CreatePAT.
//
// Secrets (the Entra token, PATs, endpoint secrets) never appear in log
// records or error messages: headers are not logged and bodies are logged only
// as lengths.
package devops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/redact"
)

// Defaults for Options fields left zero.
const (
	DefaultVSSPSURL    = "https://vssps.dev.azure.com"
	DefaultDevOpsURL   = "https://dev.azure.com"
	DefaultAuditURL    = "https://auditservice.dev.azure.com"
	DefaultMaxAttempts = 5
	DefaultMaxElapsed  = 2 * time.Minute
	// DefaultMaxPages bounds the pages one listing follows (100 PATs each).
	DefaultMaxPages = 1000

	// maxErrorBody bounds how much of an error response is read.
	maxErrorBody = 64 << 10
)

// Options configure New.
type Options struct {
	// Organization is the Azure DevOps organisation name (e.g. "contoso").
	Organization string
	// VSSPSURL is the base URL of the PAT and TokenAdmin APIs
	// (DefaultVSSPSURL if empty).
	VSSPSURL string
	// DevOpsURL is the base URL of connectionData, service endpoints and
	// variable groups (DefaultDevOpsURL if empty).
	DevOpsURL string
	// AuditURL is the base URL of the audit log (DefaultAuditURL if empty).
	AuditURL string
	// APIVersion is sent to tokens/pats (api.DefaultPATAPIVersion if empty).
	APIVersion string
	// Token supplies Entra access tokens for Azure DevOps. Required for every
	// call except VerifyPAT. Wrap it in entra.ReuseTokenSource.
	Token entra.TokenSource
	// HTTPClient is the base client (http.DefaultClient if nil). It is copied;
	// the copy never follows redirects.
	HTTPClient *http.Client
	// Logger receives debug request lines (slog.Default() if nil; discarded
	// unless the handler enables debug).
	Logger *slog.Logger
	// MaxAttempts bounds attempts per operation, the first included
	// (DefaultMaxAttempts if zero; 1 disables retries).
	MaxAttempts int
	// MaxElapsed bounds the time spent retrying one operation
	// (DefaultMaxElapsed if zero).
	MaxElapsed time.Duration
	// UserAgent is sent on every request if non-empty.
	UserAgent string
	// MaxPages bounds the pages one listing follows (DefaultMaxPages if
	// zero; flag --max-pages, env PATROL_MAX_PAGES, endpoints.maxPages).
	MaxPages int
	// Now is the clock of CreatePAT's recovery window (time.Now if nil);
	// tests that give the emulator a fake clock pass the same one here.
	Now func() time.Time
	// OnWait, if set, is told before the client waits on the retry path
	// (throttle.go): a 429/Retry-After, the pacer holding a request back to
	// stay within the X-RateLimit-* budget, or a backoff before retrying a
	// 5xx or network error. It is called from the requesting goroutine,
	// concurrently when requests are; it must be quick and safe for that.
	OnWait func(Wait)
}

// Stats counts what a Client did. Requests counts HTTP attempts (including
// retries); Retries counts attempts after the first; Throttled counts 429s.
type Stats struct {
	Requests  int64
	Retries   int64
	Throttled int64
	// Challenges counts fresh sign-ins made to answer a claims challenge.
	Challenges int64
	// Paced counts requests held back to stay within the announced usage
	// budget (X-RateLimit-* headers).
	Paced int64
}

// Client is an Azure DevOps REST client. It is safe for concurrent use.
type Client struct {
	org         string
	vssps       string
	devops      string
	audit       string
	patVersion  string
	token       entra.TokenSource
	hc          *http.Client
	log         *slog.Logger
	maxAttempts int
	maxElapsed  time.Duration
	maxPages    int
	userAgent   string
	now         func() time.Time
	backoff     func() backoff.BackOff // test hook
	onWait      func(Wait)

	gate gate
	pace pacer

	requests   atomic.Int64
	retries    atomic.Int64
	throttled  atomic.Int64
	challenges atomic.Int64
	paced      atomic.Int64

	caeMu  sync.Mutex
	caeTok entra.Token // the last token of a fresh sign-in for a claims challenge
}

// orgName is Azure DevOps' organisation-name rule: letters, digits and
// hyphens, starting and ending with a letter or digit, at most 50 characters.
var orgName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,48}[A-Za-z0-9])?$`) })

// ConfigError is an invalid Options field. It is a usage error.
type ConfigError struct {
	Field   string
	Problem string
	Fix     string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("devops client: %s %s; %s", e.Field, e.Problem, e.Fix)
}

// Kind is errkind.Usage.
func (e *ConfigError) Kind() errkind.Kind { return errkind.Usage }

// New validates opts and returns a Client.
func New(opts Options) (*Client, error) {
	if !orgName().MatchString(opts.Organization) {
		return nil, &ConfigError{Field: "organization", Problem: fmt.Sprintf("%q is not a valid Azure DevOps organisation name", opts.Organization),
			Fix: "use the name from https://dev.azure.com/<organization> (letters, digits and hyphens, at most 50 characters, no leading or trailing hyphen)"}
	}
	vssps, err := baseURL("vsspsURL", opts.VSSPSURL, DefaultVSSPSURL)
	if err != nil {
		return nil, err
	}
	devops, err := baseURL("devopsURL", opts.DevOpsURL, DefaultDevOpsURL)
	if err != nil {
		return nil, err
	}
	audit, err := baseURL("auditURL", opts.AuditURL, DefaultAuditURL)
	if err != nil {
		return nil, err
	}
	ver := opts.APIVersion
	if ver == "" {
		ver = api.DefaultPATAPIVersion
	}
	if !apiVersionRE().MatchString(ver) {
		return nil, &ConfigError{Field: "apiVersion", Problem: fmt.Sprintf("%q is not an api-version", ver),
			Fix: "use a value like 7.1-preview.1 or 7.2-preview.1, or leave it empty for " + api.DefaultPATAPIVersion}
	}
	if opts.MaxAttempts < 0 {
		return nil, &ConfigError{Field: "maxAttempts", Problem: "is negative", Fix: "use 0 for the default or a positive count"}
	}
	if opts.MaxPages < 0 {
		return nil, &ConfigError{Field: "maxPages", Problem: "is negative", Fix: "use 0 for the default (" + strconv.Itoa(DefaultMaxPages) + ") or a positive count"}
	}
	if opts.MaxElapsed < 0 {
		return nil, &ConfigError{Field: "maxElapsed", Problem: "is negative", Fix: "use 0 for the default or a positive duration"}
	}
	c := &Client{
		org:         opts.Organization,
		vssps:       vssps,
		devops:      devops,
		audit:       audit,
		patVersion:  ver,
		token:       opts.Token,
		log:         opts.Logger,
		maxAttempts: opts.MaxAttempts,
		maxElapsed:  opts.MaxElapsed,
		maxPages:    opts.MaxPages,
		userAgent:   opts.UserAgent,
		now:         time.Now,
		backoff:     newBackOff,
		onWait:      opts.OnWait,
	}
	if opts.Now != nil {
		c.now = opts.Now
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.maxAttempts == 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.maxElapsed == 0 {
		c.maxElapsed = DefaultMaxElapsed
	}
	if c.maxPages == 0 {
		c.maxPages = DefaultMaxPages
	}
	// Redirects are returned unfollowed (a 3xx is Azure DevOps' sign-in
	// page) and bodies are bounded: internal/httpx, purpose DevOps.
	c.hc = httpx.For(opts.HTTPClient, httpx.DevOps)
	return c, nil
}

var apiVersionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]+\.[0-9]+(-preview(\.[0-9]+)?)?$`) })

func baseURL(field, raw, def string) (string, error) {
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", &ConfigError{Field: field, Problem: fmt.Sprintf("%q is not an absolute URL", raw), Fix: "use e.g. " + def}
	}
	if u.Scheme != "https" {
		return "", &ConfigError{Field: field, Problem: fmt.Sprintf("%q does not use https", raw), Fix: "Azure DevOps and the patrol emulator both serve https; use an https:// URL"}
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", &ConfigError{Field: field, Problem: fmt.Sprintf("%q has a query, fragment or user info", raw), Fix: "give only scheme, host and optional path prefix"}
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Organization returns the organisation the client talks to.
func (c *Client) Organization() string { return c.org }

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.requests.Load(), Retries: c.retries.Load(), Throttled: c.throttled.Load(), Challenges: c.challenges.Load(), Paced: c.paced.Load()}
}

// ---- the request engine ----------------------------------------------------

// authMode selects the Authorization header.
type authMode int

const (
	authBearer authMode = iota
	authBasicPAT
)

// request describes one logical operation (possibly several attempts).
type request struct {
	op      string // e.g. "create PAT", used in errors and logs
	method  string
	url     string // full URL with query
	body    any    // marshalled to JSON if non-nil
	auth    authMode
	pat     string // for authBasicPAT
	retry   bool   // retry transient failures blindly
	patAPI  bool   // the PAT lifecycle API (sign-in-page hints mention user tokens)
	accept2 bool   // any 2xx is success, body may be empty
	// bearer, when set, is the token to send (the answer to a claims
	// challenge); the request is then not answered again.
	bearer *entra.Token
	// buf, when set, holds the body while it is decoded: a listing passes
	// the same buffer for every page, so a page costs no read buffer of its
	// own (decodeJSON).
	buf *bytes.Buffer
}

// response is a successful response: status, headers and the body reader
// (the caller must close it).
type response struct {
	status int
	header http.Header
	body   io.ReadCloser
}

// do runs r with retries as configured and decodes a 2xx JSON body into out
// (if out is non-nil).
func (c *Client) do(ctx context.Context, r request, out any) error {
	_, err := c.doHeader(ctx, r, out)
	return err
}

// decodeBufMax is the largest body decodeJSON holds in its buffer; a larger
// one (no page of a listing is) streams through a Decoder as before.
const decodeBufMax = 1 << 20

// decodeJSON decodes the first JSON value of body into out, as
// json.Decoder.Decode does. With buf it reads a body of up to decodeBufMax
// bytes into buf (reset first) and unmarshals it: no read buffer of its own
// per call. json.Unmarshal checks the whole input before it touches out, so
// when that fails on syntax (trailing data after the value, an empty or
// truncated body), when the read fails or the body is larger, the bytes read
// (then the read error or the rest of the body) go through a Decoder, which
// gives Decode's result and error exactly.
func decodeJSON(body io.Reader, buf *bytes.Buffer, out any) error {
	if buf == nil {
		return json.NewDecoder(body).Decode(out)
	}
	buf.Reset()
	_, rerr := buf.ReadFrom(io.LimitReader(body, decodeBufMax+1))
	rest := body
	switch {
	case rerr != nil:
		rest = errReader{rerr}
	case buf.Len() <= decodeBufMax: // the whole body
		err := json.Unmarshal(buf.Bytes(), out)
		var se *json.SyntaxError
		if !errors.As(err, &se) {
			return err
		}
		rest = errReader{io.EOF}
	}
	return json.NewDecoder(io.MultiReader(bytes.NewReader(buf.Bytes()), rest)).Decode(out)
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// doHeader is do that also returns the response headers (continuation
// tokens some APIs send there).
func (c *Client) doHeader(ctx context.Context, r request, out any) (http.Header, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.body, maxErrorBody))
		return resp.header, nil
	}
	if err := decodeJSON(resp.body, r.buf, out); err != nil {
		if r.accept2 && errors.Is(err, io.EOF) {
			return resp.header, nil
		}
		var le *httpx.LimitError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("%s: %w", r.op, le)
		}
		return nil, &APIError{Op: r.op, Method: r.method, URL: redactURL(r.url), Status: resp.status,
			Message: "the response body is not the expected JSON: " + err.Error(), kind: errkind.Transient}
	}
	return resp.header, nil
}

// send runs r with retries and returns the first 2xx response.
func (c *Client) send(ctx context.Context, r request) (*response, error) {
	var payload []byte
	if r.body != nil {
		var err error
		payload, err = json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("%s: encoding the request body: %w", r.op, err)
		}
	}
	tries := uint(c.maxAttempts)
	if !r.retry {
		tries = 1
	}
	start := c.now()
	attempt := 0
	var last error
	resp, err := backoff.Retry(ctx, func() (*response, error) {
		attempt++
		if attempt > 1 {
			c.retries.Add(1)
		}
		resp, err := c.attempt(ctx, r, payload, attempt, start)
		if err != nil {
			if ctx.Err() == nil || last == nil {
				last = err
			}
			if !isRetryable(err) {
				return nil, backoff.Permanent(err)
			}
			var ae *APIError
			if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests && ae.RetryAfter > 0 {
				// The shared gate holds the next attempt back; no extra backoff.
				return nil, &backoff.RetryAfterError{Duration: 0}
			}
		}
		return resp, err
	}, backoff.WithBackOff(c.backoff()), backoff.WithMaxTries(tries), backoff.WithMaxElapsedTime(c.maxElapsed),
		backoff.WithNotify(func(err error, d time.Duration) { c.noteBackoff(r.op, err, d) }))
	if err != nil {
		var ra *backoff.RetryAfterError
		if errors.As(err, &ra) || (last != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))) {
			if ctx.Err() != nil && last != nil {
				return nil, fmt.Errorf("%w (gave up after %d attempt(s): %w)", last, attempt, ctx.Err())
			}
			return nil, last
		}
		return nil, err
	}
	return resp, nil
}

func newBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 500 * time.Millisecond
	b.MaxInterval = 20 * time.Second
	b.Multiplier = 2
	b.RandomizationFactor = 0.3
	return b
}

func isRetryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) && ae.final {
		return false
	}
	return errkind.Of(err) == errkind.Transient
}

// attempt sends one HTTP request and classifies the response.
func (c *Client) attempt(ctx context.Context, r request, payload []byte, attempt int, start time.Time) (*response, error) {
	if d := c.gate.left(c.now()); d > 0 {
		c.notify(Wait{Op: r.op, Reason: WaitThrottled, Status: http.StatusTooManyRequests, Duration: d})
	}
	if err := c.gate.wait(ctx, c.now, start.Add(c.maxElapsed)); err != nil {
		return nil, &APIError{Op: r.op, Method: r.method, URL: redactURL(r.url), Status: http.StatusTooManyRequests,
			Message: err.Error(), kind: errkind.Transient, final: true}
	}
	// Real time, not c.now: the pacer sleeps.
	if held, err := c.pace.wait(ctx, time.Now(), func(d time.Duration) {
		c.notify(Wait{Op: r.op, Reason: WaitPaced, Duration: d})
	}); err != nil {
		return nil, fmt.Errorf("%s: %w", r.op, err)
	} else if held {
		c.paced.Add(1)
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, fmt.Errorf("%s: building the request: %w", r.op, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-TFS-FedAuthRedirect", "Suppress")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	var tok entra.Token
	switch r.auth {
	case authBasicPAT:
		redact.Register(r.pat)
		req.SetBasicAuth("", r.pat)
	default:
		if c.token == nil {
			return nil, &ConfigError{Field: "token", Problem: "is not configured, but " + r.op + " needs an Entra access token",
				Fix: "configure sign-in (auth: in the connection config)"}
		}
		if r.bearer != nil {
			tok = *r.bearer
		} else if tok, err = c.token.Token(ctx); err != nil {
			return nil, fmt.Errorf("%s: getting an Entra access token for Azure DevOps: %w", r.op, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	}

	c.requests.Add(1)
	t0 := time.Now()
	resp, err := c.hc.Do(req)
	dur := time.Since(t0)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "devops request failed", slog.String("op", r.op), slog.String("method", r.method),
			slog.String("url", redactURL(r.url)), slog.Int("attempt", attempt), slog.Duration("duration", dur), slog.String("error", err.Error()))
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", r.op, ctx.Err())
		}
		return nil, &NetworkError{Op: r.op, URL: redactURL(r.url), Err: err}
	}
	c.logResponse(ctx, r, resp, attempt, dur)
	c.noteRetryAfter(resp)

	if resp.StatusCode >= 200 && resp.StatusCode < 300 && resp.StatusCode != http.StatusNonAuthoritativeInfo && !isHTML(resp.Header) {
		return &response{status: resp.StatusCode, header: resp.Header, body: resp.Body}, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	err = c.classify(r, resp, data, tok)
	var ae *AuthError
	if r.auth != authBearer || !errors.As(err, &ae) || ae.Claims == "" {
		return nil, err
	}
	if r.bearer != nil {
		ae.Reason = "401 Unauthorized with a claims challenge, again after a fresh sign-in"
		ae.Hint = challengeHint
		return nil, ae
	}
	// A claims challenge: sign in afresh once and send the request once more.
	fresh, ferr := c.answerChallenge(ctx, r.op, tok, ae.Claims)
	if ferr != nil {
		return nil, ferr
	}
	r.bearer = &fresh
	return c.attempt(ctx, r, payload, attempt, start)
}

func isHTML(h http.Header) bool {
	ct := h.Get("Content-Type")
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}

func (c *Client) logResponse(ctx context.Context, r request, resp *http.Response, attempt int, dur time.Duration) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("op", r.op), slog.String("method", r.method), slog.String("url", redactURL(r.url)),
		slog.Int("status", resp.StatusCode), slog.Duration("duration", dur), slog.Int("attempt", attempt),
	}
	for _, h := range []string{"X-RateLimit-Resource", "X-RateLimit-Delay", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			attrs = append(attrs, slog.String(strings.ToLower(h), v))
		}
	}
	if id := resp.Header.Get("ActivityId"); id != "" {
		attrs = append(attrs, slog.String("activityId", id))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "devops request", attrs...)
}

// redactURL drops user info and any query value that could carry a secret.
// patrol's queries carry none, but the URL is built from user input.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	u.User = nil
	q := u.Query()
	for k := range q {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "token") && lk != "continuationtoken" || strings.Contains(lk, "secret") || strings.Contains(lk, "password") || lk == "sig" || lk == "code" {
			q.Set(k, "REDACTED")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// pageCapError says a listing reached MaxPages.
func (c *Client) pageCapError(op, rawURL string) error {
	return &APIError{Op: op, Method: http.MethodGet, URL: redactURL(rawURL), Status: http.StatusOK, kind: errkind.Usage, final: true,
		Message: fmt.Sprintf("stopped after %d pages, each with a new continuation token (the cap on pages per listing); if the list really is that long, raise it with --max-pages, PATROL_MAX_PAGES or endpoints.maxPages", c.maxPages)}
}

// ---- URL helpers ------------------------------------------------------------

func (c *Client) vsspsURL(path string, q url.Values) string {
	return c.vssps + "/" + url.PathEscape(c.org) + path + "?" + q.Encode()
}

func (c *Client) devopsOrgURL(path string, q url.Values) string {
	return c.devops + "/" + url.PathEscape(c.org) + path + "?" + q.Encode()
}

func (c *Client) devopsProjectURL(project, path string, q url.Values) string {
	return c.devops + "/" + url.PathEscape(c.org) + "/" + url.PathEscape(project) + path + "?" + q.Encode()
}
