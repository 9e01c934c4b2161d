// Package datasource runs an Azure DevOps service-endpoint data source
// locally, the way the server's endpoint proxy does:
//
//  1. $(name) macros in endpointUrl/requestContent are substituted first
//     ($(endpoint.x) from non-confidential data or the URL, other names from
//     the parameters and paging context);
//  2. then Mustache renders them with {endpoint: data − confidential inputs +
//     url, configuration, system: {teamProject, utcNow}, <parameters>,
//     <paging context>} — secrets are NOT visible in URLs or bodies;
//     A relative endpointUrl is joined to the endpoint URL with one '/', and
//     the URL is escaped like .NET's Uri (url.go); resultSelector is
//     rendered the same way before selecting;
//  3. the request (requestVerb, default GET) is authorized by
//     internal/scheme (data-source headers with Authorization first, then
//     the endpoint's scheme, or the data source's own authenticationScheme);
//  4. the response (≤ 2 MB) is selected with resultSelector — jsonpath:,
//     xpath: (a documented subset), plaintext, none;
//  5. resultTemplate renders each selected token (a primitive becomes
//     {defaultResultKey: value}); results are de-duplicated in order;
//  6. paging: initialContextTemplate seeds the context,
//     callbackRequiredTemplate (sees response, headers, result.count)
//     decides whether another call is needed and callbackContextTemplate
//     gives its parameters; at most MaxCalls (default 5) calls.
package datasource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	redactpkg "github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/scheme"
)

// Defaults (Azure DevOps' limits).
const (
	DefaultMaxCalls    = 5
	DefaultMaxResponse = 2 << 20
	DefaultResultKey   = "defaultResultKey"
)

// Options tune Run.
type Options struct {
	// HTTPClient is the base client (its transport's TLS roots are kept). nil = default.
	HTTPClient *http.Client
	// Auth configures the authorizer (token requests, JWT, Entra).
	Auth scheme.Options
	// MaxCalls bounds paging (default 5).
	MaxCalls int
	// MaxResponseBytes bounds each response body (default 2 MB).
	MaxResponseBytes int64
	// Project is system.teamProject.
	Project string
	// Configuration is the OAuth configuration context ({{configuration.x}}).
	Configuration map[string]any
	// Now is the clock for system.utcNow. Default time.Now.
	Now func() time.Time
}

// Request names what to run.
type Request struct {
	Endpoint *api.ServiceEndpoint
	Type     *scheme.EndpointType
	// DataSource is the name of one of Type's data sources; or set Source.
	DataSource string
	Source     *scheme.DataSource
	// Parameters are the binding parameters ({{project}}, $(SpaceId)…).
	Parameters map[string]string
	// ResultTemplate overrides/sets the per-item template (a binding's).
	ResultTemplate string
}

// Result is what a run produced.
type Result struct {
	// Items are the rendered results (resultTemplate), or the selected tokens
	// (strings as-is, others as compact JSON), de-duplicated.
	Items []string `json:"items"`
	// Calls is the number of HTTP calls made.
	Calls int `json:"calls"`
	// StatusCode is the last HTTP status.
	StatusCode int `json:"statusCode"`
	// MoreAvailable is true when paging wanted another call after MaxCalls.
	MoreAvailable bool `json:"moreAvailable,omitempty"`
}

// Error is a data-source failure with its kind.
type Error struct {
	DataSource string
	Step       string
	Status     int
	Err        error
	kind       errkind.Kind
	hint       string
	noResponse bool
}

// NoResponse reports a request that got no HTTP response: the network
// failed, the host did not resolve or its certificate was not trusted (the
// endpoint proxy answers these with a badGateway result, whatever the kind).
func (e *Error) NoResponse() bool { return e.noResponse }

func (e *Error) Error() string {
	return fmt.Sprintf("data source %s: %s: %v", e.DataSource, e.Step, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Kind implements errkind.Kinder.
func (e *Error) Kind() errkind.Kind {
	if e.kind != 0 {
		return e.kind
	}
	var k errkind.Kinder
	if errors.As(e.Err, &k) {
		return k.Kind()
	}
	return errkind.Unknown
}

// ErrorHint implements errkind.Hinter: a refusal by the endpoint's server is
// about the endpoint's credentials, not patrol's own sign-in.
func (e *Error) ErrorHint() string {
	if e.hint != "" {
		return e.hint
	}
	switch e.Status {
	case 401:
		return "the endpoint's server refused its credentials: check the endpoint's authorization parameters (`patrol endpoint header` shows what is sent, masked)"
	case 403:
		return "the endpoint's credentials were accepted but lack a permission on that server: grant it there"
	}
	if e.Kind() == errkind.Transient {
		if e.Status != 0 {
			return fmt.Sprintf("the endpoint's server answered %d (throttled or failing); data sources are not retried (Azure DevOps does not retry them either): try again later", e.Status)
		}
		return "the endpoint's server could not be reached (refused, reset or timed out): check that it is up and reachable (proxy: HTTPS_PROXY/NO_PROXY), then try again"
	}
	return ""
}

func statusKind(code int) errkind.Kind {
	switch {
	case code == 401:
		return errkind.Auth
	case code == 403:
		return errkind.Permission
	case code == 404:
		return errkind.NotFound
	case code == 409 || code == 412:
		return errkind.Conflict
	case code == 429 || code >= 500:
		return errkind.Transient
	}
	return errkind.Usage
}

func (o *Options) defaults() {
	if o.MaxCalls <= 0 {
		o.MaxCalls = DefaultMaxCalls
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponse
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Auth.Now == nil {
		o.Auth.Now = o.Now
	}
	if o.Auth.HTTPClient == nil {
		o.Auth.HTTPClient = o.HTTPClient
	}
}

// Run executes the data source and returns its results.
func Run(ctx context.Context, req Request, opts Options) (*Result, error) {
	opts.defaults()
	ds, err := findSource(req)
	if err != nil {
		return nil, err
	}
	fail := func(step string, kind errkind.Kind, err error) (*Result, error) {
		return nil, &Error{DataSource: ds.Name, Step: step, Err: err, kind: kind}
	}
	ep, et, err := effectiveEndpoint(req, ds, opts)
	if err != nil {
		return fail("authenticationScheme", errkind.Usage, err)
	}
	a, err := scheme.New(ep, et, withHeaders(opts.Auth, ds.Headers))
	if err != nil {
		return fail("authorizer", 0, err)
	}
	client, err := a.Client(opts.HTTPClient)
	if err != nil {
		return fail("authorizer", 0, err)
	}
	// The authorizer adds the endpoint's credentials to every request it
	// sends, redirects included: follow redirects on the same origin only,
	// and bound every body (internal/httpx, purpose DataSource).
	client = httpx.ForLimit(client, httpx.DataSource, opts.MaxResponseBytes)
	base := baseContext(req, et, opts)
	if ds.InitialContextTemplate != "" {
		m, err := renderObject(ctx, ds.InitialContextTemplate, base)
		if err != nil {
			return fail("initialContextTemplate", errkind.Usage, err)
		}
		for k, v := range m {
			base[k] = v
		}
	}
	resultTpl := ds.ResultTemplate
	if req.ResultTemplate != "" {
		resultTpl = req.ResultTemplate
	}
	res := &Result{}
	seen := map[string]bool{}
	for {
		rendered, err := expand(ctx, ds.EndpointURL, req, base)
		if err != nil {
			return fail("endpointUrl", errkind.Usage, err)
		}
		target, err := requestURL(rendered, req.Endpoint.URL)
		if err != nil {
			return fail("endpointUrl", errkind.Usage, err)
		}
		url := target.String()
		selector, err := renderSelector(ctx, ds.ResultSelector, req, base)
		if err != nil {
			return fail("resultSelector", errkind.Usage, err)
		}
		var body io.Reader
		if ds.RequestContent != "" {
			b, err := expand(ctx, ds.RequestContent, req, base)
			if err != nil {
				return fail("requestContent", errkind.Usage, err)
			}
			body = strings.NewReader(b)
		}
		verb := strings.ToUpper(strings.TrimSpace(ds.RequestVerb))
		if verb == "" {
			verb = http.MethodGet
		}
		hr, err := http.NewRequestWithContext(ctx, verb, url, body)
		if err != nil {
			return fail("requestVerb", errkind.Usage, fmt.Errorf("cannot build a %q request to %s: %v", verb, redact(url), err))
		}
		if body != nil && hr.Header.Get("Content-Type") == "" {
			hr.Header.Set("Content-Type", "application/json")
		}
		switch sel := strings.ToLower(selector); {
		case strings.HasPrefix(sel, "xpath:"):
			hr.Header.Set("Accept", "application/xml, text/xml")
		case sel == "plaintext":
			hr.Header.Set("Accept", "*/*")
		default:
			hr.Header.Set("Accept", "application/json")
		}
		if err := applyDataSourceHeaders(ctx, hr, ds.Headers, ep, a.Method()); err != nil {
			return fail("headers", errkind.Usage, err)
		}
		resp, err := client.Do(hr)
		if err != nil {
			var k errkind.Kinder
			if errors.As(err, &k) && k.Kind() != errkind.Unknown {
				return fail("request", 0, err) // the authorizer's own error (two-hop, JWT, certificate)
			}
			kind, hint := errkind.Transport(err)
			return nil, &Error{DataSource: ds.Name, Step: "request", kind: kind, hint: hint, noResponse: true,
				Err: fmt.Errorf("%s %s: %w", verb, redact(url), unwrapURLError(err))}
		}
		data, err := httpx.ReadBody(resp, opts.MaxResponseBytes, "data source "+ds.Name)
		res.Calls++
		res.StatusCode = resp.StatusCode
		if err != nil {
			var le *httpx.LimitError
			if errors.As(err, &le) {
				return fail("response", errkind.Usage, fmt.Errorf("%w; Azure DevOps' own limit is 2 MiB: narrow the query", le))
			}
			return fail("response", errkind.Transient, err)
		}
		if resp.StatusCode/100 != 2 {
			e := &Error{DataSource: ds.Name, Step: "response", Status: resp.StatusCode, kind: statusKind(resp.StatusCode),
				Err: fmt.Errorf("%s %s answered HTTP %d: %s", verb, redact(url), resp.StatusCode, snippet(data))}
			return nil, e
		}
		doc, items, err := Select(data, selector)
		if err != nil {
			return fail("resultSelector", errkind.Usage, err)
		}
		for _, it := range items {
			s, err := renderItem(ctx, resultTpl, it, base)
			if err != nil {
				return fail("resultTemplate", errkind.Usage, err)
			}
			if !seen[s] {
				seen[s] = true
				res.Items = append(res.Items, s)
			}
		}
		if ds.CallbackRequiredTemplate == "" {
			return res, nil
		}
		pctx := copyMap(base)
		pctx["response"] = doc
		hm := map[string]any{}
		for k, v := range resp.Header {
			if len(v) > 0 {
				hm[strings.ToLower(k)] = v[0]
			}
		}
		pctx["headers"] = hm
		pctx["result"] = map[string]any{"count": len(items)}
		more, err := renderString(ctx, ds.CallbackRequiredTemplate, pctx)
		if err != nil {
			return fail("callbackRequiredTemplate", errkind.Usage, err)
		}
		if !strings.EqualFold(strings.TrimSpace(more), "true") {
			return res, nil
		}
		if res.Calls >= opts.MaxCalls {
			res.MoreAvailable = true
			return res, nil
		}
		if ds.CallbackContextTemplate == "" {
			return fail("callbackContextTemplate", errkind.Usage, errors.New("callbackRequiredTemplate said true but there is no callbackContextTemplate"))
		}
		next, err := renderObject(ctx, ds.CallbackContextTemplate, pctx)
		if err != nil {
			return fail("callbackContextTemplate", errkind.Usage, err)
		}
		for k, v := range next {
			base[k] = v
		}
	}
}

// Test runs the type's TestConnection data source; only the HTTP status
// counts (as in Azure DevOps' "Verify").
func Test(ctx context.Context, req Request, opts Options) (int, error) {
	if req.DataSource == "" && req.Source == nil {
		req.DataSource = "TestConnection"
	}
	ds, err := findSource(req)
	if err != nil {
		return 0, err
	}
	cp := *ds
	cp.ResultSelector = "none"
	cp.ResultTemplate = ""
	cp.CallbackRequiredTemplate = ""
	req.Source, req.DataSource = &cp, ""
	req.ResultTemplate = ""
	res, err := Run(ctx, req, opts)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status != 0 {
			return e.Status, err
		}
		return 0, err
	}
	return res.StatusCode, nil
}

func findSource(req Request) (*scheme.DataSource, error) {
	if req.Endpoint == nil || req.Type == nil {
		return nil, errkind.New(errkind.Usage, errors.New("datasource: endpoint and type are required"))
	}
	if req.Source != nil {
		return req.Source, nil
	}
	ds, ok := req.Type.DataSource(req.DataSource)
	if !ok {
		names := make([]string, 0, len(req.Type.DataSources))
		for _, d := range req.Type.DataSources {
			names = append(names, d.Name)
		}
		list := "it has none"
		if len(names) > 0 {
			list = "it has: " + strings.Join(names, ", ")
		}
		return nil, &Error{DataSource: req.DataSource, Step: "lookup", kind: errkind.NotFound,
			Err: fmt.Errorf("endpoint type %q has no data source named %q; %s", req.Type.Name, req.DataSource, list)}
	}
	return ds, nil
}

func withHeaders(o scheme.Options, hs []scheme.Header) scheme.Options {
	o.DataSourceHeaders = hs
	return o
}

// effectiveEndpoint applies a data source's own authenticationScheme.
func effectiveEndpoint(req Request, ds *scheme.DataSource, opts Options) (*api.ServiceEndpoint, *scheme.EndpointType, error) {
	if ds.AuthenticationScheme == nil || ds.AuthenticationScheme.Type == "" {
		return req.Endpoint, req.Type, nil
	}
	s, err := scheme.Lookup(ds.AuthenticationScheme.Type)
	if err != nil {
		return nil, nil, err
	}
	ep := *req.Endpoint
	params := map[string]*string{}
	if req.Endpoint.Authorization != nil {
		for k, v := range req.Endpoint.Authorization.Parameters {
			params[k] = v
		}
	}
	ctx := map[string]any{"endpoint": endpointAll(req.Endpoint), "configuration": opts.Configuration}
	for k, v := range ds.AuthenticationScheme.Inputs {
		out, err := renderString(context.Background(), v, ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("input %s: %w", k, err)
		}
		params[k] = &out
	}
	ep.Authorization = &api.EndpointAuthorization{Scheme: s.Name, Parameters: params}
	t := &scheme.EndpointType{Name: req.Type.Name, URL: req.Type.URL, InputDescriptors: req.Type.InputDescriptors, AuthenticationSchemes: []scheme.Scheme{s}, Source: req.Type.Source}
	if strings.EqualFold(t.Name, "Generic") {
		t.Name = "Generic (data source scheme)"
	}
	return &ep, t, nil
}

// applyDataSourceHeaders sets a data source's non-Authorization headers
// (Authorization ones are applied by the authorizer).
func applyDataSourceHeaders(ctx context.Context, r *http.Request, hs []scheme.Header, ep *api.ServiceEndpoint, m scheme.Method) error {
	if len(hs) == 0 || m == scheme.MethodDataSourceHeaders {
		return nil
	}
	data := map[string]any{"endpoint": endpointAll(ep)}
	for _, h := range hs {
		v, err := renderString(ctx, strings.TrimSpace(h.Value), data)
		if err != nil {
			return fmt.Errorf("header %s: %w", h.Name, err)
		}
		r.Header.Set(h.Name, v)
	}
	return nil
}

// snippet quotes a response body in an error: redacted (every secret of
// the process, the endpoint's included, and credential-shaped strings) and
// capped.
func snippet(b []byte) string { return redactpkg.Quote(b) }

func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}
