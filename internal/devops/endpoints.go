package devops

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
)

const endpointsPath = "/_apis/serviceendpoint/endpoints"

func seQuery(extra ...string) url.Values {
	q := url.Values{"api-version": {api.ServiceEndpointAPIVersion}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] != "" {
			q.Set(extra[i], extra[i+1])
		}
	}
	return q
}

func checkProject(op, project string) error {
	if strings.TrimSpace(project) == "" || strings.ContainsAny(project, "/?#") {
		return errkind.New(errkind.Usage, fmt.Errorf("%s: project %q is not a project name or id; use the name shown in https://dev.azure.com/<org>/<project>", op, project))
	}
	return nil
}

// GetServiceEndpoint returns one service endpoint of a project. Confidential
// authorization parameters come back nil.
func (c *Client) GetServiceEndpoint(ctx context.Context, project, id string) (api.ServiceEndpoint, error) {
	const op = "get service endpoint"
	if err := checkProject(op, project); err != nil {
		return api.ServiceEndpoint{}, err
	}
	if err := checkID(op, "endpoint id", id); err != nil {
		return api.ServiceEndpoint{}, err
	}
	var ep *api.ServiceEndpoint
	r := request{op: op, method: http.MethodGet, url: c.devopsProjectURL(project, endpointsPath+"/"+id, seQuery()), retry: true, accept2: true}
	if err := c.do(ctx, r, &ep); err != nil {
		return api.ServiceEndpoint{}, err
	}
	// Azure DevOps answers 200 with an empty body / null for an unknown id.
	if ep == nil || ep.ID == "" {
		return api.ServiceEndpoint{}, &APIError{Op: op, Method: r.method, URL: redactURL(r.url), Status: http.StatusNotFound,
			Message: fmt.Sprintf("no service endpoint %s in project %s", id, project), kind: errkind.NotFound}
	}
	return *ep, nil
}

// EndpointFilter selects endpoints for ListServiceEndpoints. Names and IDs
// are mutually exclusive with each other (Names wins, as the API's
// endpointNames overload).
type EndpointFilter struct {
	Type           string
	AuthSchemes    []string
	Names          []string
	IDs            []string
	Owner          string
	IncludeFailed  bool
	IncludeDetails bool
}

// ListServiceEndpoints lists a project's service endpoints.
func (c *Client) ListServiceEndpoints(ctx context.Context, project string, f EndpointFilter) ([]api.ServiceEndpoint, error) {
	const op = "list service endpoints"
	if err := checkProject(op, project); err != nil {
		return nil, err
	}
	q := seQuery("type", f.Type, "authSchemes", strings.Join(f.AuthSchemes, ","), "owner", f.Owner)
	switch {
	case len(f.Names) > 0:
		q.Set("endpointNames", strings.Join(f.Names, ","))
	case len(f.IDs) > 0:
		q.Set("endpointIds", strings.Join(f.IDs, ","))
	}
	if f.IncludeFailed {
		q.Set("includeFailed", "true")
	}
	if f.IncludeDetails {
		q.Set("includeDetails", "true")
	}
	var out api.ListOf[api.ServiceEndpoint]
	r := request{op: op, method: http.MethodGet, url: c.devopsProjectURL(project, endpointsPath, q), retry: true}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return out.Value, nil
}

// CreateServiceEndpoint creates an endpoint (org-level route; projects come
// from ep.ServiceEndpointProjectReferences). It is not retried: a transient
// failure is returned as is; list by name before creating again.
func (c *Client) CreateServiceEndpoint(ctx context.Context, ep api.ServiceEndpoint) (api.ServiceEndpoint, error) {
	const op = "create service endpoint"
	if ep.Name == "" || ep.Type == "" || len(ep.ServiceEndpointProjectReferences) == 0 {
		return api.ServiceEndpoint{}, errkind.New(errkind.Usage, fmt.Errorf("%s: name, type and at least one serviceEndpointProjectReferences entry are required", op))
	}
	if ep.Data == nil {
		ep.Data = map[string]string{} // as the service's own clients send it
	}
	var out api.ServiceEndpoint
	r := request{op: op, method: http.MethodPost, url: c.devopsOrgURL(endpointsPath, seQuery()), body: ep}
	if err := c.do(ctx, r, &out); err != nil {
		return api.ServiceEndpoint{}, err
	}
	return out, nil
}

// UpdateServiceEndpoint replaces an endpoint (PUT …/endpoints/{id}). Send the
// full endpoint as read from GetServiceEndpoint with the new secret set; a
// confidential parameter left nil keeps its stored value. operation is ""
// for a normal update, or ConvertAuthenticationScheme / ChangeProperties.
func (c *Client) UpdateServiceEndpoint(ctx context.Context, ep api.ServiceEndpoint, operation string) (api.ServiceEndpoint, error) {
	const op = "update service endpoint"
	if err := checkID(op, "endpoint id", ep.ID); err != nil {
		return api.ServiceEndpoint{}, err
	}
	var out api.ServiceEndpoint
	r := request{op: op, method: http.MethodPut, url: c.devopsOrgURL(endpointsPath+"/"+ep.ID, seQuery("operation", operation)), body: ep, retry: true}
	if err := c.do(ctx, r, &out); err != nil {
		return api.ServiceEndpoint{}, err
	}
	return out, nil
}

// ShareServiceEndpoint shares an endpoint into more projects (PATCH; any 2xx).
func (c *Client) ShareServiceEndpoint(ctx context.Context, id string, refs []api.ServiceEndpointProjectReference) error {
	const op = "share service endpoint"
	if err := checkID(op, "endpoint id", id); err != nil {
		return err
	}
	r := request{op: op, method: http.MethodPatch, url: c.devopsOrgURL(endpointsPath+"/"+id, seQuery()), body: refs, retry: true, accept2: true}
	return c.do(ctx, r, nil)
}

// DeleteServiceEndpoint removes an endpoint from the given projects; deep
// also deletes an automatically created service principal.
func (c *Client) DeleteServiceEndpoint(ctx context.Context, id string, projectIDs []string, deep bool) error {
	const op = "delete service endpoint"
	if err := checkID(op, "endpoint id", id); err != nil {
		return err
	}
	if len(projectIDs) == 0 {
		return errkind.New(errkind.Usage, fmt.Errorf("%s %s: projectIds is required; name the projects to remove it from", op, id))
	}
	q := seQuery("projectIds", strings.Join(projectIDs, ","))
	if deep {
		q.Set("deep", "true")
	}
	r := request{op: op, method: http.MethodDelete, url: c.devopsOrgURL(endpointsPath+"/"+id, q), retry: true, accept2: true}
	return c.do(ctx, r, nil)
}

// ListServiceEndpointTypes lists endpoint types, optionally filtered by type
// name and scheme.
func (c *Client) ListServiceEndpointTypes(ctx context.Context, typ, scheme string) ([]api.ServiceEndpointType, error) {
	q := url.Values{"api-version": {api.ServiceEndpointTypesAPIVersion}}
	if typ != "" {
		q.Set("type", typ)
	}
	if scheme != "" {
		q.Set("scheme", scheme)
	}
	var out api.ListOf[api.ServiceEndpointType]
	r := request{op: "list service endpoint types", method: http.MethodGet, url: c.devopsOrgURL("/_apis/serviceendpoint/types", q), retry: true}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return out.Value, nil
}

// ExecuteServiceEndpointRequest runs a data source through Azure DevOps'
// endpoint proxy. It is retried only when the data source request is a GET
// (or has no verb).
func (c *Client) ExecuteServiceEndpointRequest(ctx context.Context, project, endpointID string, req api.ServiceEndpointRequest) (api.ServiceEndpointRequestResult, error) {
	const op = "execute service endpoint request"
	if err := checkProject(op, project); err != nil {
		return api.ServiceEndpointRequestResult{}, err
	}
	q := url.Values{"api-version": {api.ServiceEndpointTypesAPIVersion}}
	if endpointID != "" {
		if err := checkID(op, "endpoint id", endpointID); err != nil {
			return api.ServiceEndpointRequestResult{}, err
		}
		q.Set("endpointId", endpointID)
	}
	retry := req.DataSourceDetails == nil || req.DataSourceDetails.RequestVerb == "" || strings.EqualFold(req.DataSourceDetails.RequestVerb, http.MethodGet)
	var out api.ServiceEndpointRequestResult
	r := request{op: op, method: http.MethodPost, url: c.devopsProjectURL(project, "/_apis/serviceendpoint/endpointproxy", q), body: req, retry: retry}
	if err := c.do(ctx, r, &out); err != nil {
		return api.ServiceEndpointRequestResult{}, err
	}
	return out, nil
}

// ExecutionHistory returns up to top execution records of an endpoint
// (top <= 0 lets the server choose).
func (c *Client) ExecutionHistory(ctx context.Context, project, id string, top int) ([]api.ServiceEndpointExecutionRecord, error) {
	const op = "endpoint execution history"
	if err := checkProject(op, project); err != nil {
		return nil, err
	}
	if err := checkID(op, "endpoint id", id); err != nil {
		return nil, err
	}
	q := url.Values{"api-version": {api.ServiceEndpointTypesAPIVersion}}
	if top > 0 {
		q.Set("top", strconv.Itoa(top))
	}
	var out api.ListOf[api.ServiceEndpointExecutionRecord]
	r := request{op: op, method: http.MethodGet, url: c.devopsProjectURL(project, "/_apis/serviceendpoint/"+id+"/executionhistory", q), retry: true}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return out.Value, nil
}

// EndpointStatus decodes ep.OperationStatus (zero value if absent or not an object).
func EndpointStatus(ep api.ServiceEndpoint) api.OperationStatus {
	var st api.OperationStatus
	if len(ep.OperationStatus) > 0 {
		_ = json.Unmarshal(ep.OperationStatus, &st)
	}
	return st
}

// EndpointFailedError says an endpoint reached operationStatus Failed, or
// was not ready when the wait ended.
type EndpointFailedError struct {
	Project       string
	ID            string
	Name          string
	State         string
	StatusMessage string
	// Cause is set when the wait ended (context) before a final state.
	Cause error
}

func (e *EndpointFailedError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("service endpoint %q (%s) in project %s is not ready (state %q%s): %v; check it in Project settings → Service connections",
			e.Name, e.ID, e.Project, e.State, msgSuffix(e.StatusMessage), e.Cause)
	}
	return fmt.Sprintf("service endpoint %q (%s) in project %s failed (state %q%s); fix the connection in Project settings → Service connections (e.g. its credentials or permissions) and run again",
		e.Name, e.ID, e.Project, e.State, msgSuffix(e.StatusMessage))
}

func msgSuffix(m string) string {
	if m == "" {
		return ""
	}
	return ": " + m
}

func (e *EndpointFailedError) Unwrap() error { return e.Cause }

// Kind is Transient when the wait timed out, else Conflict (the endpoint is
// in a failed state that a rerun will not fix by itself).
func (e *EndpointFailedError) Kind() errkind.Kind {
	if e.Cause != nil {
		return errkind.Transient
	}
	return errkind.Conflict
}

// WaitEndpointReady polls GetServiceEndpoint every poll (10 s if <= 0) until
// the endpoint is ready (isReady, or operationStatus.state "Ready" in any
// case) and returns it. It fails on state "Failed" with its statusMessage,
// and when ctx ends.
func (c *Client) WaitEndpointReady(ctx context.Context, project, id string, poll time.Duration) (api.ServiceEndpoint, error) {
	if poll <= 0 {
		poll = 10 * time.Second
	}
	var t *time.Timer
	var last *api.ServiceEndpoint
	for {
		ep, err := c.GetServiceEndpoint(ctx, project, id)
		if err != nil {
			if last != nil && ctx.Err() != nil {
				// The wait ended mid-poll: report the last state seen.
				st := EndpointStatus(*last)
				return *last, &EndpointFailedError{Project: project, ID: id, Name: last.Name, State: st.State, StatusMessage: st.StatusMessage, Cause: ctx.Err()}
			}
			return api.ServiceEndpoint{}, err
		}
		last = &ep
		st := EndpointStatus(ep)
		switch {
		case strings.EqualFold(st.State, "failed"):
			return ep, &EndpointFailedError{Project: project, ID: id, Name: ep.Name, State: st.State, StatusMessage: st.StatusMessage}
		case ep.IsReady || strings.EqualFold(st.State, "ready"):
			return ep, nil
		}
		if t == nil {
			t = time.NewTimer(poll)
			defer t.Stop()
		} else {
			t.Reset(poll)
		}
		select {
		case <-ctx.Done():
			return ep, &EndpointFailedError{Project: project, ID: id, Name: ep.Name, State: st.State, StatusMessage: st.StatusMessage, Cause: ctx.Err()}
		case <-t.C:
		}
	}
}
