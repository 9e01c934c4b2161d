package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// The contract: Microsoft's OpenAPI 2.0 specs of the areas the emulator
// serves (testdata/specs is a copy of ../shared/specs, MIT licensed),
// converted to OpenAPI 3 with kin-openapi and validated with openapi3filter.

var specFiles = []struct {
	file string
	host string // the emulator's prefix for the spec's host
}{
	{"tokens-7.2.json", "/vssps"},
	{"tokenAdmin-7.2.json", "/vssps"},
	{"serviceEndpoint-7.2.json", "/devops"},
}

// specOp is one operation of a spec.
type specOp struct {
	spec     *openapi3.T
	file     string
	host     string
	path     string   // the spec's path key (x-ms-paths keys keep their "?…")
	segs     []string // path segments before any "?"
	method   string
	item     *openapi3.PathItem
	op       *openapi3.Operation
	required []string // required query parameters (they pick among overloads)
}

func (o *specOp) id() string { return o.op.OperationID }

type specSet struct {
	ops []*specOp
}

var (
	specOnce sync.Once
	specs    *specSet
	specErr  error
)

func loadSpecs(t testing.TB) *specSet {
	t.Helper()
	specOnce.Do(func() { specs, specErr = readSpecs("testdata/specs") })
	if specErr != nil {
		t.Fatal(specErr)
	}
	return specs
}

func readSpecs(dir string) (*specSet, error) {
	set := &specSet{}
	for _, f := range specFiles {
		raw, err := os.ReadFile(filepath.Join(dir, f.file))
		if err != nil {
			return nil, err
		}
		raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
		// x-ms-paths (AutoRest) holds the overloads whose path differs only
		// by query; kin-openapi knows only paths, so move them there.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", f.file, err)
		}
		if x, ok := m["x-ms-paths"]; ok {
			var paths, more map[string]json.RawMessage
			_ = json.Unmarshal(m["paths"], &paths)
			_ = json.Unmarshal(x, &more)
			for k, v := range more {
				paths[k] = v
			}
			m["paths"], _ = json.Marshal(paths)
			delete(m, "x-ms-paths")
		}
		raw, _ = json.Marshal(m)
		var doc2 openapi2.T
		if err := json.Unmarshal(raw, &doc2); err != nil {
			return nil, fmt.Errorf("%s: %w", f.file, err)
		}
		doc, err := openapi2conv.ToV3(&doc2)
		if err != nil {
			return nil, fmt.Errorf("%s: converting to OpenAPI 3: %w", f.file, err)
		}
		if err := openapi3.NewLoader().ResolveRefsIn(doc, nil); err != nil {
			return nil, fmt.Errorf("%s: resolving refs: %w", f.file, err)
		}
		patchSchemas(doc)
		for path, item := range doc.Paths.Map() {
			base, _, _ := strings.Cut(path, "?")
			for method, op := range item.Operations() {
				so := &specOp{spec: doc, file: f.file, host: f.host, path: path, segs: strings.Split(strings.Trim(base, "/"), "/"),
					method: method, item: item, op: op}
				for _, p := range op.Parameters {
					if p.Value != nil && p.Value.In == "query" && p.Value.Required && p.Value.Name != "api-version" {
						so.required = append(so.required, p.Value.Name)
					}
				}
				set.ops = append(set.ops, so)
			}
		}
	}
	sort.Slice(set.ops, func(i, j int) bool { return set.ops[i].path+set.ops[i].method < set.ops[j].path+set.ops[j].method })
	return set, nil
}

// patchSchemas applies the schema-level exceptions (see exceptions): every
// schema may be null, and JToken (any JSON) accepts any value.
func patchSchemas(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(*openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		s.Nullable = true
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		if s.AdditionalProperties.Schema != nil {
			walk(s.AdditionalProperties.Schema)
		}
		for _, a := range s.AllOf {
			walk(a)
		}
	}
	if js := doc.Components.Schemas["JToken"]; js != nil {
		*js.Value = openapi3.Schema{Description: js.Value.Description} // any JSON value
		markUsed("jtoken-any")
	}
	for _, s := range doc.Components.Schemas {
		walk(s)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, mt := range op.RequestBody.Value.Content {
					walk(mt.Schema)
				}
			}
			for _, r := range op.Responses.Map() {
				if r.Value != nil {
					for _, mt := range r.Value.Content {
						walk(mt.Schema)
					}
				}
			}
		}
	}
	markUsed("nullable")
}

// find returns the operation a request addresses: its path (after the
// emulator's host prefix) and method select the candidates, the required
// query parameters pick the overload (the one whose required parameters are
// all present, the most specific first).
func (s *specSet) find(method, path string, q map[string][]string) (*specOp, map[string]string) {
	var best *specOp
	var bestParams map[string]string
	for _, o := range s.ops {
		rest, ok := strings.CutPrefix(path, o.host+"/")
		if !ok || !strings.EqualFold(o.method, method) {
			continue
		}
		params, ok := matchSegs(o.segs, strings.Split(strings.Trim(rest, "/"), "/"))
		if !ok {
			continue
		}
		all := true
		for _, r := range o.required {
			if _, present := q[r]; !present {
				all = false
			}
		}
		if all && (best == nil || len(o.required) > len(best.required)) {
			best, bestParams = o, params
		}
	}
	return best, bestParams
}

func matchSegs(tmpl, segs []string) (map[string]string, bool) {
	if len(tmpl) != len(segs) {
		return nil, false
	}
	p := map[string]string{}
	for i, s := range tmpl {
		if strings.HasPrefix(s, "{") {
			if segs[i] == "" {
				return nil, false
			}
			p[strings.Trim(s, "{}")] = segs[i]
			continue
		}
		if !strings.EqualFold(s, segs[i]) {
			return nil, false
		}
	}
	return p, true
}

// ---- recording and validating every exchange ----

// exchange is one request/response pair seen by the validating transport.
type exchange struct {
	method, path string
	query        map[string][]string
	reqHeader    http.Header
	reqBody      []byte
	status       int
	respHeader   http.Header
	respBody     []byte
	op           *specOp
}

func (x *exchange) String() string { return x.method + " " + x.path }

// failure is one difference between the emulator and the spec.
type failure struct {
	kind string // request, response, status, shape, date, example
	op   string // operationId, route key or example file
	msg  string
}

func (f failure) String() string { return fmt.Sprintf("[%s] %s: %s", f.kind, f.op, f.msg) }

// validator is an http.RoundTripper that validates every exchange with the
// emulator against the specs and collects failures.
type validator struct {
	t    testing.TB
	next http.RoundTripper
	set  *specSet

	mu        sync.Mutex
	exchanges []*exchange
	failures  []failure
}

func (v *validator) fail(kind, op, format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.failures = append(v.failures, failure{kind, op, fmt.Sprintf(format, args...)})
}

func (v *validator) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	x := &exchange{method: req.Method, path: req.URL.Path, query: req.URL.Query(), reqHeader: req.Header.Clone(), reqBody: body,
		status: resp.StatusCode, respHeader: resp.Header.Clone(), respBody: rb}
	v.check(req.Context(), x)
	v.mu.Lock()
	v.exchanges = append(v.exchanges, x)
	v.mu.Unlock()
	return resp, nil
}

var longFraction = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.(\d{8,})`)

// check validates one exchange: dates everywhere, then (for routes of a
// spec) request and response against the operation.
func (v *validator) check(ctx context.Context, x *exchange) {
	for _, m := range longFraction.FindAllSubmatch(x.respBody, -1) {
		v.fail("date", x.String(), "%s has %d fractional digits (.NET writes at most 7)", m[0][1:], len(m[1]))
	}
	op, params := v.set.find(x.method, x.path, x.query)
	if op == nil {
		return
	}
	if o := reroute(op, x); o != nil {
		op = o
	}
	x.op = op
	req, _ := http.NewRequestWithContext(ctx, x.method, "https://emulator"+x.path+"?"+encodeQuery(x.query), bytes.NewReader(x.reqBody))
	req.Header = x.reqHeader.Clone()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params,
		Route:   &routers.Route{Spec: op.spec, Path: op.path, PathItem: op.item, Method: op.method, Operation: op.op},
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if x.status/100 == 2 {
		// Only requests the emulator accepted must satisfy the spec: the
		// conformance run also sends bad requests on purpose.
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			v.fail("request", op.id(), "%s: %s", x, flatten(err))
		}
	}
	if x.status/100 != 2 {
		v.checkError(op, x)
		return
	}
	declared := op.op.Responses.Status(x.status)
	if declared == nil {
		v.fail("status", op.id(), "%s answered %d; the spec declares %s", x, x.status, strings.Join(sortedKeys(op.op.Responses.Map()), ", "))
		return
	}
	body := x.respBody
	if unwrapped, ok := unwrapList(declared, body); ok {
		body = unwrapped
		markUsed("count-value")
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.status, Header: x.respHeader,
		Body: io.NopCloser(bytes.NewReader(body)), Options: in.Options}
	if len(bytes.TrimSpace(body)) == 0 {
		out.Options = &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true, ExcludeResponseBody: true}
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		v.fail("response", op.id(), "%s %d: %s", x, x.status, flatten(err))
	}
}

// checkError: a refused request answers the VSS error shape the service
// uses (none of the specs declares it).
func (v *validator) checkError(op *specOp, x *exchange) {
	if x.status == http.StatusFound || x.status == http.StatusNonAuthoritativeInfo {
		return // the sign-in redirect and page (service principals on the PAT API)
	}
	var e struct {
		Message *string `json:"message"`
		TypeKey *string `json:"typeKey"`
	}
	if err := json.Unmarshal(x.respBody, &e); err != nil || e.Message == nil || e.TypeKey == nil {
		v.fail("error", op.id(), "%s %d: not a VSS error body {message, typeKey, …}: %.200s", x, x.status, x.respBody)
	}
}

// unwrapList returns the value array of a {"count", "value"} body when the
// spec declares the response as a bare array (see exceptions).
func unwrapList(r *openapi3.ResponseRef, body []byte) ([]byte, bool) {
	if r.Value == nil {
		return nil, false
	}
	mt := r.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil || !mt.Schema.Value.Type.Is("array") {
		return nil, false
	}
	var w struct {
		Count *int            `json:"count"`
		Value json.RawMessage `json:"value"`
	}
	if json.Unmarshal(body, &w) != nil || w.Count == nil || w.Value == nil {
		return nil, false
	}
	var arr []json.RawMessage
	if json.Unmarshal(w.Value, &arr) != nil || len(arr) != *w.Count {
		return nil, false
	}
	return w.Value, true
}

func encodeQuery(q map[string][]string) string {
	var parts []string
	for k, vs := range q {
		for _, v := range vs {
			parts = append(parts, urlEscape(k)+"="+urlEscape(v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "&")
}

func flatten(err error) string {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		var s []string
		for _, e := range me {
			s = append(s, flatten(e))
		}
		return strings.Join(s, "; ")
	}
	msg := err.Error()
	if i := strings.Index(msg, "\nSchema:"); i > 0 {
		msg = msg[:i]
	}
	return strings.ReplaceAll(msg, "\n", " ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
