package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// ---- endpointproxy: POST /devops/{org}/{project}/_apis/serviceendpoint/endpointproxy ----
//
// The emulator answers the HTTP side (authentication, project and endpoint
// lookup, merging serviceEndpointDetails over the stored endpoint, the
// ServiceEndpointRequestResult wire shape, execution history) and delegates
// running the data source to an EndpointProxyRunner. The runner that uses
// patrol's own data-source engine (internal/datasource + internal/scheme,
// the same engine Azure DevOps runs server side) lives in the package
// internal/emulator/endpointproxy: the emulator cannot import those packages
// directly because their tests start the emulator. Importing that package
// (cmd/patrol does) registers it as the default runner.

// EndpointProxyCall is one data-source execution requested through endpointproxy.
type EndpointProxyCall struct {
	Org     string
	Project string // project name as stored
	// Endpoint is the effective endpoint with its stored secrets (never log it).
	Endpoint api.ServiceEndpoint
	// Stored is true when the endpoint came from the emulator's state (endpointId).
	Stored bool
	// Request is the request body as sent.
	Request api.ServiceEndpointRequest
	// HTTPClient is the outbound client (Options.OutboundHTTPClient behind the
	// loopback-only policy of Options.AllowOutbound); use it for every call.
	HTTPClient *http.Client
	Now        func() time.Time
}

// EndpointProxyOutcome is what a runner produced.
type EndpointProxyOutcome struct {
	// Result is the wire "result" (a JSON array of strings or of selected JSON); nil = null.
	Result json.RawMessage
	// StatusCode is the HTTP status the data source's last call answered (0 = no answer).
	StatusCode int
	// ErrorMessage explains a failed call (no secrets).
	ErrorMessage string
	// CallbackRequired and CallbackContextParameters drive client-side paging.
	CallbackRequired          bool
	CallbackContextParameters map[string]string
}

// EndpointProxyRunner executes data sources for endpointproxy. A returned
// error is a bad request (unknown data source, template error): the emulator
// answers HTTP 400 with its message; failures of the outbound call are
// reported in the outcome instead.
type EndpointProxyRunner interface {
	RunEndpointProxy(ctx context.Context, call EndpointProxyCall) (EndpointProxyOutcome, error)
}

var (
	defaultRunnerMu sync.Mutex
	defaultRunner   EndpointProxyRunner
)

// RegisterEndpointProxyRunner sets the runner used when Options.EndpointProxy is nil.
func RegisterEndpointProxyRunner(r EndpointProxyRunner) {
	defaultRunnerMu.Lock()
	defer defaultRunnerMu.Unlock()
	defaultRunner = r
}

func (e *Emulator) endpointProxyRunner() EndpointProxyRunner {
	if e.opts.EndpointProxy != nil {
		return e.opts.EndpointProxy
	}
	defaultRunnerMu.Lock()
	defer defaultRunnerMu.Unlock()
	return defaultRunner
}

// outboundClient is the client of the endpointproxy's calls: loopback and
// Options.AllowOutbound only (outbound.go).
func (e *Emulator) outboundClient() *http.Client { return e.outbound }

func (e *Emulator) registerEndpointProxy() {
	e.handle(http.MethodPost, "/devops/{org}/{project}/_apis/serviceendpoint/endpointproxy", "ado", e.handleEndpointProxy)
}

func (e *Emulator) handleEndpointProxy(w http.ResponseWriter, r *http.Request, p params) {
	org, _, proj, ok := e.projectCaller(w, r, p, epRead...)
	if !ok {
		return
	}
	var req api.ServiceEndpointRequest
	if err := readJSON(r, &req); err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "the body is not a ServiceEndpointRequest: "+err.Error())
		return
	}
	if req.DataSourceDetails == nil || (req.DataSourceDetails.DataSourceName == "" && req.DataSourceDetails.DataSourceURL == "") {
		writeVSSError(w, http.StatusBadRequest, "ArgumentNullException",
			"Value cannot be null.\r\nParameter name: serviceEndpointRequest.DataSourceDetails (set dataSourceDetails.dataSourceName or dataSourceDetails.dataSourceUrl)")
		return
	}
	id := strings.ToLower(r.URL.Query().Get("endpointId"))
	call := EndpointProxyCall{Org: org.Name, Project: proj.Name, Request: req, HTTPClient: e.outboundClient(), Now: e.now}
	switch {
	case id != "":
		e.mu.Lock()
		rec := e.st.Endpoints[id]
		if rec == nil || !strings.EqualFold(rec.Org, org.Name) || !rec.sharedWith(proj.ID) {
			e.mu.Unlock()
			writeVSSError(w, http.StatusNotFound, "ServiceEndpointNotFoundException",
				fmt.Sprintf("Service connection with id %s could not be found in project %s: check the id (GET _apis/serviceendpoint/endpoints) and that the connection is shared with the project.", id, proj.Name))
			return
		}
		call.Endpoint = cloneEndpoint(rec.Endpoint)
		call.Stored = true
		e.mu.Unlock()
		if d := req.ServiceEndpointDetails; d != nil {
			if err := mergeDetails(&call.Endpoint, d); err != nil {
				writeVSSError(w, http.StatusBadRequest, "ArgumentException", err.Error())
				return
			}
		}
	case req.ServiceEndpointDetails != nil:
		d := req.ServiceEndpointDetails
		call.Endpoint = api.ServiceEndpoint{Type: d.Type, URL: d.URL, Data: cloneMap(d.Data), Authorization: cloneAuth(d.Authorization)}
		e.mu.Lock()
		err := e.validateEndpoint(&call.Endpoint)
		e.mu.Unlock()
		if err != nil {
			writeVSSError(w, http.StatusBadRequest, "ArgumentException", err.Error())
			return
		}
	default:
		writeVSSError(w, http.StatusBadRequest, "ArgumentException",
			"endpointproxy needs the endpointId query parameter or serviceEndpointDetails in the body")
		return
	}
	out, handled := e.azureRMTestConnection(call)
	if !handled {
		runner := e.endpointProxyRunner()
		if runner == nil {
			writeVSSError(w, http.StatusNotImplemented, "NotImplementedException",
				"the emulator has no data-source runner: import github.com/patrol-dev/patrol/internal/emulator/endpointproxy or set Options.EndpointProxy")
			return
		}
		var err error
		if out, err = runner.RunEndpointProxy(r.Context(), call); err != nil {
			writeVSSError(w, http.StatusBadRequest, "ServiceEndpointQueryFailedException", err.Error())
			return
		}
	}
	if call.Stored {
		result := "succeeded"
		if out.StatusCode/100 != 2 {
			result = "failed"
		}
		name := req.DataSourceDetails.DataSourceName
		if name == "" {
			name = "(dataSourceUrl)"
		}
		_ = e.RecordEndpointExecution(id, map[string]any{"result": result, "planType": "endpointproxy",
			"owner": map[string]any{"id": 0, "name": "endpointproxy " + name}, "definition": map[string]any{"id": 0, "name": name}})
	}
	res := api.ServiceEndpointRequestResult{
		Result:                    out.Result,
		StatusCode:                HTTPStatusName(out.StatusCode),
		ErrorMessage:              out.ErrorMessage,
		ActivityID:                newGUID(),
		CallbackRequired:          out.CallbackRequired,
		CallbackContextParameters: out.CallbackContextParameters,
	}
	if res.Result == nil {
		res.Result = json.RawMessage("null")
	}
	writeJSON(w, http.StatusOK, res)
}

// mergeDetails applies serviceEndpointDetails over a stored endpoint the way
// the service's "verify an edited connection" flow does: non-empty URL and
// data replace, a parameter sent as null (or absent) keeps its stored value,
// a changed scheme needs its parameters re-supplied; the type cannot change.
func mergeDetails(ep *api.ServiceEndpoint, d *api.ServiceEndpointDetails) error {
	if d.Type != "" && !strings.EqualFold(d.Type, ep.Type) {
		return fmt.Errorf("serviceEndpointDetails.type %q differs from the stored connection's type %q: the type of a connection cannot change", d.Type, ep.Type)
	}
	if d.URL != "" {
		ep.URL = d.URL
	}
	for k, v := range d.Data {
		if ep.Data == nil {
			ep.Data = map[string]string{}
		}
		ep.Data[k] = v
	}
	if d.Authorization == nil {
		return nil
	}
	if ep.Authorization == nil || !strings.EqualFold(d.Authorization.Scheme, ep.Authorization.Scheme) {
		ep.Authorization = cloneAuth(d.Authorization)
		return nil
	}
	for k, v := range d.Authorization.Parameters {
		if v != nil {
			s := *v
			ep.Authorization.Parameters[k] = &s
		}
	}
	return nil
}

func cloneAuth(a *api.EndpointAuthorization) *api.EndpointAuthorization {
	if a == nil {
		return nil
	}
	out := &api.EndpointAuthorization{Scheme: a.Scheme, Parameters: map[string]*string{}}
	for k, v := range a.Parameters {
		if v != nil {
			s := *v
			out.Parameters[k] = &s
		} else {
			out.Parameters[k] = nil
		}
	}
	return out
}

func cloneEndpoint(ep api.ServiceEndpoint) api.ServiceEndpoint {
	ep.Data = cloneMap(ep.Data)
	ep.Authorization = cloneAuth(ep.Authorization)
	return ep
}

// httpStatusNames are .NET HttpStatusCode names in camelCase, the spelling of
// ServiceEndpointRequestResult.statusCode.
var httpStatusNames = map[int]string{
	100: "continue", 101: "switchingProtocols",
	200: "ok", 201: "created", 202: "accepted", 203: "nonAuthoritativeInformation", 204: "noContent",
	205: "resetContent", 206: "partialContent",
	300: "ambiguous", 301: "moved", 302: "redirect", 303: "redirectMethod", 304: "notModified",
	305: "useProxy", 307: "redirectKeepVerb", 308: "permanentRedirect",
	400: "badRequest", 401: "unauthorized", 402: "paymentRequired", 403: "forbidden", 404: "notFound",
	405: "methodNotAllowed", 406: "notAcceptable", 407: "proxyAuthenticationRequired", 408: "requestTimeout",
	409: "conflict", 410: "gone", 411: "lengthRequired", 412: "preconditionFailed", 413: "requestEntityTooLarge",
	414: "requestUriTooLong", 415: "unsupportedMediaType", 416: "requestedRangeNotSatisfiable",
	417: "expectationFailed", 421: "misdirectedRequest", 422: "unprocessableEntity", 423: "locked",
	424: "failedDependency", 426: "upgradeRequired", 428: "preconditionRequired", 429: "tooManyRequests",
	431: "requestHeaderFieldsTooLarge", 451: "unavailableForLegalReasons",
	500: "internalServerError", 501: "notImplemented", 502: "badGateway", 503: "serviceUnavailable",
	504: "gatewayTimeout", 505: "httpVersionNotSupported",
}

// HTTPStatusName returns the .NET HttpStatusCode name of code in camelCase
// ("ok", "unauthorized", …); a code without a name is returned as its number,
// and 0 (the tool could not be reached) as "badGateway".
func HTTPStatusName(code int) string {
	if code == 0 {
		return "badGateway"
	}
	if n, ok := httpStatusNames[code]; ok {
		return n
	}
	return strconv.Itoa(code)
}
