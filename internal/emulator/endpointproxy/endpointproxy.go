// Package endpointproxy runs the emulator's
// POST /{org}/{project}/_apis/serviceendpoint/endpointproxy data sources with
// patrol's own data-source engine (internal/datasource + internal/scheme).
// Azure DevOps runs the same kind of engine server side, so the emulator's
// answers follow the rules the client-side engine implements (macros,
// Mustache, authorizer order, selectors, 2 MB limit).
//
// Importing the package registers a default Runner (built-in types only)
// with the emulator; set emulator.Options.EndpointProxy to a Runner with
// extra Types (e.g. loaded with scheme.LoadManifestFile) to give the
// emulator endpoint types that have data sources.
//
// Choices where the service is unspecified:
//   - one request = at most one outbound call, like Azure DevOps: paging is
//     the client's job. When callbackRequiredTemplate renders "true" the
//     result carries callbackRequired and callbackContextParameters; the
//     client sends those back as dataSourceDetails.parameters. A request
//     whose parameters already hold every key of initialContextTemplate is a
//     follow-up page: the initial context is not applied again.
//   - result: with a result template (the request's resultTemplate or the
//     data source's), a JSON array of the rendered strings; without one, a
//     JSON array of the selected tokens (objects/arrays as JSON, other values
//     as strings).
//   - a named data source (dataSourceName) wins over dataSourceUrl; the
//     request's resultTransformationDetails override the data source's
//     templates.
//   - an endpoint type unknown to the Runner and to scheme.BuiltinTypes is
//     treated as a type with only the endpoint's scheme and no data sources
//     (dataSourceUrl still works).
//   - a failed outbound call: statusCode is the tool's status name
//     ("unauthorized", …) with errorMessage; an unreachable tool is
//     "badGateway"; request errors (unknown data source, template errors,
//     bad selector) are HTTP 400 from the proxy itself.
package endpointproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/patrol-dev/patrol/internal/datasource"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/mustache"
	"github.com/patrol-dev/patrol/internal/scheme"
)

func init() { emulator.RegisterEndpointProxyRunner(&Runner{}) }

// Runner implements emulator.EndpointProxyRunner.
type Runner struct {
	// Types are consulted (by name, case-insensitive) before scheme.BuiltinTypes.
	Types []scheme.EndpointType
	// MaxResponseBytes bounds the tool's answer (default 2 MB, Azure DevOps' limit).
	MaxResponseBytes int64
}

var _ emulator.EndpointProxyRunner = (*Runner)(nil)

// Type returns the endpoint type the runner uses for name.
func (r *Runner) Type(name string, ep *api.ServiceEndpoint) (*scheme.EndpointType, error) {
	for i := range r.Types {
		if strings.EqualFold(r.Types[i].Name, name) {
			t := r.Types[i]
			return &t, nil
		}
	}
	if t, ok := scheme.BuiltinType(name); ok {
		return &t, nil
	}
	if ep.Authorization == nil {
		return nil, fmt.Errorf("endpoint type %q is unknown to the emulator's data-source runner and the endpoint has no authorization scheme", name)
	}
	s, err := scheme.Lookup(ep.Authorization.Scheme)
	if err != nil {
		return nil, fmt.Errorf("endpoint type %q: %w", name, err)
	}
	return &scheme.EndpointType{Name: name, AuthenticationSchemes: []scheme.Scheme{s}, Source: "emulator"}, nil
}

// RunEndpointProxy runs one data-source call.
func (r *Runner) RunEndpointProxy(ctx context.Context, call emulator.EndpointProxyCall) (emulator.EndpointProxyOutcome, error) {
	var out emulator.EndpointProxyOutcome
	ep := call.Endpoint
	t, err := r.Type(ep.Type, &ep)
	if err != nil {
		return out, err
	}
	d := call.Request.DataSourceDetails
	if d == nil {
		return out, errors.New("dataSourceDetails is required")
	}
	var ds scheme.DataSource
	if d.DataSourceName != "" {
		found, ok := t.DataSource(d.DataSourceName)
		if !ok {
			names := make([]string, 0, len(t.DataSources))
			for _, s := range t.DataSources {
				names = append(names, s.Name)
			}
			list := "it has none"
			if len(names) > 0 {
				list = "it has: " + strings.Join(names, ", ")
			}
			return out, fmt.Errorf("data source %q is not defined for endpoint type %q (%s)", d.DataSourceName, t.Name, list)
		}
		ds = *found
	} else {
		ds = scheme.DataSource{Name: "dataSourceUrl", EndpointURL: d.DataSourceURL, ResourceURL: d.ResourceURL,
			RequestVerb: d.RequestVerb, RequestContent: d.RequestContent, ResultSelector: d.ResultSelector,
			InitialContextTemplate: d.InitialContextTemplate}
		for _, h := range d.Headers {
			ds.Headers = append(ds.Headers, scheme.Header{Name: h.Name, Value: h.Value})
		}
	}
	resultTpl := ""
	if rt := call.Request.ResultTransformationDetails; rt != nil {
		resultTpl = rt.ResultTemplate
		if rt.CallbackRequiredTemplate != "" {
			ds.CallbackRequiredTemplate = rt.CallbackRequiredTemplate
		}
		if rt.CallbackContextTemplate != "" {
			ds.CallbackContextTemplate = rt.CallbackContextTemplate
		}
	}
	params := d.Parameters
	if ds.InitialContextTemplate != "" && len(params) > 0 {
		if keys, err := renderKeys(ctx, ds.InitialContextTemplate, params, call); err == nil && len(keys) > 0 && hasAll(params, keys) {
			ds.InitialContextTemplate = ""
		}
	}

	capt := &capture{limit: r.maxResponse()}
	base := call.HTTPClient
	if base == nil {
		// The emulator always passes its loopback-only client; never fall
		// back to an unguarded one.
		return out, errors.New("endpointproxy: the call has no outbound HTTP client (emulator.EndpointProxyCall.HTTPClient)")
	}
	inner := base.Transport
	if inner == nil {
		inner = http.DefaultTransport
	}
	capt.base = inner
	client := &http.Client{Transport: capt, Timeout: base.Timeout, CheckRedirect: base.CheckRedirect, Jar: base.Jar}

	req := datasource.Request{Endpoint: &ep, Type: t, Source: &ds, Parameters: params, ResultTemplate: resultTpl}
	opts := datasource.Options{HTTPClient: client, MaxCalls: 1, MaxResponseBytes: r.maxResponse(), Project: call.Project, Now: call.Now,
		Auth: scheme.Options{HTTPClient: base, Now: call.Now}}
	res, err := datasource.Run(ctx, req, opts)
	if err != nil {
		var de *datasource.Error
		switch {
		case errors.As(err, &de) && de.Status != 0:
			out.StatusCode = de.Status
			out.ErrorMessage = err.Error()
			return out, nil
		case errors.As(err, &de) && de.Step == "request" && (de.NoResponse() || errkind.Of(err) == errkind.Transient):
			out.StatusCode = 0
			out.ErrorMessage = err.Error()
			return out, nil
		}
		return out, err
	}
	out.StatusCode = res.StatusCode
	templated := resultTpl != "" || ds.ResultTemplate != ""
	out.Result, err = resultJSON(res.Items, templated)
	if err != nil {
		return out, err
	}
	if res.MoreAvailable {
		out.CallbackRequired = true
		if ds.CallbackContextTemplate != "" {
			body, hdr := capt.last()
			pc := baseContext(call, params)
			var doc any
			if json.Unmarshal(body, &doc) != nil {
				doc = string(body)
			}
			pc["response"] = doc
			hm := map[string]any{}
			for k, v := range hdr {
				if len(v) > 0 {
					hm[strings.ToLower(k)] = v[0]
				}
			}
			pc["headers"] = hm
			pc["result"] = map[string]any{"count": len(res.Items)}
			m, err := renderObject(ctx, ds.CallbackContextTemplate, pc)
			if err != nil {
				return out, fmt.Errorf("data source %s: callbackContextTemplate: %w", ds.Name, err)
			}
			out.CallbackContextParameters = m
		}
	}
	return out, nil
}

func (r *Runner) maxResponse() int64 {
	if r.MaxResponseBytes > 0 {
		return r.MaxResponseBytes
	}
	return datasource.DefaultMaxResponse
}

// resultJSON is the wire result: rendered strings, or the selected tokens.
func resultJSON(items []string, templated bool) (json.RawMessage, error) {
	if items == nil {
		items = []string{}
	}
	if templated {
		return json.Marshal(items)
	}
	out := make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		s := strings.TrimSpace(it)
		if (strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")) && json.Valid([]byte(s)) {
			out = append(out, json.RawMessage(s))
			continue
		}
		b, err := json.Marshal(it)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return json.Marshal(out)
}

// baseContext is the non-secret template context (endpoint data + url,
// system, parameters), as the data-source engine builds it.
func baseContext(call emulator.EndpointProxyCall, params map[string]string) map[string]any {
	end := map[string]any{}
	for k, v := range call.Endpoint.Data {
		end[k] = v
	}
	end["url"] = call.Endpoint.URL
	m := map[string]any{"endpoint": end, "system": map[string]any{"teamProject": call.Project}}
	for k, v := range params {
		m[k] = v
	}
	return m
}

func renderKeys(ctx context.Context, src string, params map[string]string, call emulator.EndpointProxyCall) ([]string, error) {
	m, err := renderObject(ctx, src, baseContext(call, params))
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys, nil
}

func hasAll(params map[string]string, keys []string) bool {
	for _, k := range keys {
		if _, ok := params[k]; !ok {
			return false
		}
	}
	return true
}

// renderObject renders a template that must produce a JSON object of strings.
func renderObject(ctx context.Context, src string, data any) (map[string]string, error) {
	t, err := mustache.ParseWith(src, mustache.Options{Helpers: scheme.Helpers()})
	if err != nil {
		return nil, err
	}
	s, err := t.RenderContext(ctx, data)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("rendered text is not a JSON object: %v", err)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if str, ok := v.(string); ok {
			out[k] = str
			continue
		}
		b, _ := json.Marshal(v)
		out[k] = string(b)
	}
	return out, nil
}

// capture keeps the body and headers of the last response (paging context).
type capture struct {
	base  http.RoundTripper
	limit int64

	mu   sync.Mutex
	body []byte
	hdr  http.Header
}

func (c *capture) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.limit+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.body, c.hdr = b, resp.Header.Clone()
	c.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

func (c *capture) last() ([]byte, http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.body, c.hdr
}
