package sdk

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/serviceendpoint"
)

// tool is the third-party service a connection points at (plain HTTP on
// 127.0.0.1): it answers GET /items and records the credentials it saw.
type tool struct {
	*httptest.Server
	mu    sync.Mutex
	users []string // "user:password" of each request
}

func newTool(t *testing.T) *tool {
	tl := &tool{}
	tl.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		tl.mu.Lock()
		tl.users = append(tl.users, u+":"+p)
		tl.mu.Unlock()
		if r.URL.Path != "/items" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"items":[{"name":"alpha"},{"name":"beta"}]}`)
	}))
	t.Cleanup(tl.Close)
	return tl
}

func (tl *tool) lastUser() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if len(tl.users) == 0 {
		return ""
	}
	return tl.users[len(tl.users)-1]
}

func ptr[T any](v T) *T { return &v }

// TestServiceEndpoint walks a connection's life through the SDK's
// serviceendpoint client; each step is a subtest, later steps need earlier ones.
func TestServiceEndpoint(t *testing.T) {
	conn := connection(t, emu.env["AZURE_USERNAME"])
	c, err := serviceendpoint.NewClient(ctx(t), conn)
	if err != nil {
		t.Fatalf("serviceendpoint.NewClient: %v", err)
	}
	cc, err := core.NewClient(ctx(t), conn)
	if err != nil {
		t.Fatalf("core.NewClient: %v", err)
	}
	proj, err := cc.GetProject(ctx(t), core.GetProjectArgs{ProjectId: ptr(project)})
	if err != nil {
		t.Fatalf("GetProject: %v", err)
	}
	tl := newTool(t)
	name := "sdk-generic-" + uuid.New().String()[:8]
	var id uuid.UUID

	t.Run("types", func(t *testing.T) {
		types, err := c.GetServiceEndpointTypes(ctx(t), serviceendpoint.GetServiceEndpointTypesArgs{Type: ptr("generic")})
		if err != nil {
			t.Fatalf("GetServiceEndpointTypes: %v", err)
		}
		if len(*types) != 1 || (*types)[0].Name == nil || *(*types)[0].Name != "generic" {
			t.Fatalf("types(generic) = %d types", len(*types))
		}
		schemes := map[string]bool{}
		for _, s := range *(*types)[0].AuthenticationSchemes {
			schemes[*s.Scheme] = true
		}
		if !schemes["UsernamePassword"] {
			t.Errorf("generic type lacks the UsernamePassword scheme: %v", schemes)
		}
	})

	t.Run("create", func(t *testing.T) {
		ep, err := c.CreateServiceEndpoint(ctx(t), serviceendpoint.CreateServiceEndpointArgs{Endpoint: &serviceendpoint.ServiceEndpoint{
			Name: &name, Type: ptr("generic"), Url: ptr(tl.URL + "/"),
			Authorization: &serviceendpoint.EndpointAuthorization{Scheme: ptr("UsernamePassword"),
				Parameters: &map[string]string{"username": "svc", "password": "secret-1"}},
			ServiceEndpointProjectReferences: &[]serviceendpoint.ServiceEndpointProjectReference{{
				ProjectReference: &serviceendpoint.ProjectReference{Id: proj.Id, Name: proj.Name}, Name: &name}},
		}})
		if err != nil {
			t.Fatalf("CreateServiceEndpoint: %v", err)
		}
		if ep.Id == nil || ep.Name == nil || *ep.Name != name || ep.Authorization == nil {
			t.Fatalf("created endpoint = %+v", ep)
		}
		if p := (*ep.Authorization.Parameters)["password"]; p != "" {
			t.Errorf("the create response shows the confidential password")
		}
		id = *ep.Id
	})
	if id == uuid.Nil {
		t.FailNow()
	}

	t.Run("list", func(t *testing.T) {
		eps, err := c.GetServiceEndpoints(ctx(t), serviceendpoint.GetServiceEndpointsArgs{Project: ptr(project)})
		if err != nil {
			t.Fatalf("GetServiceEndpoints: %v", err)
		}
		if !containsEndpoint(*eps, id) {
			t.Errorf("GetServiceEndpoints lacks %s", id)
		}
		byName, err := c.GetServiceEndpointsByNames(ctx(t), serviceendpoint.GetServiceEndpointsByNamesArgs{Project: ptr(project), EndpointNames: &[]string{name}})
		if err != nil {
			t.Fatalf("GetServiceEndpointsByNames: %v", err)
		}
		if len(*byName) != 1 || !containsEndpoint(*byName, id) {
			t.Errorf("GetServiceEndpointsByNames(%s) = %d endpoints", name, len(*byName))
		}
	})

	t.Run("get", func(t *testing.T) {
		ep, err := c.GetServiceEndpointDetails(ctx(t), serviceendpoint.GetServiceEndpointDetailsArgs{Project: ptr(project), EndpointId: &id})
		if err != nil {
			t.Fatalf("GetServiceEndpointDetails: %v", err)
		}
		if ep.Id == nil || *ep.Id != id || ep.Url == nil || *ep.Url != tl.URL+"/" || ep.IsReady == nil {
			t.Errorf("GetServiceEndpointDetails = %+v", ep)
		}
	})

	t.Run("execute request", func(t *testing.T) {
		res := execute(t, c, id)
		if got := fmt.Sprint(res.Result); got != "[alpha beta]" {
			t.Errorf("result = %s, want [alpha beta]", got)
		}
		if u := tl.lastUser(); u != "svc:secret-1" {
			t.Errorf("the tool saw %q, want the stored credentials svc:secret-1", u)
		}
	})

	t.Run("update with a null secret", func(t *testing.T) {
		// The SDK models parameters as map[string]string, so "no new secret"
		// is the key left out: the stored password must survive.
		ep, err := c.UpdateServiceEndpoint(ctx(t), serviceendpoint.UpdateServiceEndpointArgs{EndpointId: &id, Endpoint: &serviceendpoint.ServiceEndpoint{
			Id: &id, Name: &name, Type: ptr("generic"), Url: ptr(tl.URL + "/"), Description: ptr("updated by the Go SDK"),
			Authorization: &serviceendpoint.EndpointAuthorization{Scheme: ptr("UsernamePassword"),
				Parameters: &map[string]string{"username": "svc"}},
			ServiceEndpointProjectReferences: &[]serviceendpoint.ServiceEndpointProjectReference{{
				ProjectReference: &serviceendpoint.ProjectReference{Id: proj.Id, Name: proj.Name}, Name: &name}},
		}})
		if err != nil {
			t.Fatalf("UpdateServiceEndpoint: %v", err)
		}
		if ep.Description == nil || *ep.Description != "updated by the Go SDK" {
			t.Errorf("updated endpoint = %+v", ep)
		}
		execute(t, c, id)
		if u := tl.lastUser(); u != "svc:secret-1" {
			t.Errorf("after the update the tool saw %q, want the kept secret svc:secret-1", u)
		}

		// Rotation: a new secret replaces the stored one.
		_, err = c.UpdateServiceEndpoint(ctx(t), serviceendpoint.UpdateServiceEndpointArgs{EndpointId: &id, Endpoint: &serviceendpoint.ServiceEndpoint{
			Id: &id, Name: &name, Type: ptr("generic"), Url: ptr(tl.URL + "/"),
			Authorization: &serviceendpoint.EndpointAuthorization{Scheme: ptr("UsernamePassword"),
				Parameters: &map[string]string{"username": "svc", "password": "secret-2"}},
			ServiceEndpointProjectReferences: &[]serviceendpoint.ServiceEndpointProjectReference{{
				ProjectReference: &serviceendpoint.ProjectReference{Id: proj.Id, Name: proj.Name}, Name: &name}},
		}})
		if err != nil {
			t.Fatalf("UpdateServiceEndpoint (new secret): %v", err)
		}
		execute(t, c, id)
		if u := tl.lastUser(); u != "svc:secret-2" {
			t.Errorf("after rotation the tool saw %q, want svc:secret-2", u)
		}
	})

	t.Run("execution records", func(t *testing.T) {
		recs, err := c.GetServiceEndpointExecutionRecords(ctx(t), serviceendpoint.GetServiceEndpointExecutionRecordsArgs{Project: ptr(project), EndpointId: &id})
		if err != nil {
			t.Fatalf("GetServiceEndpointExecutionRecords: %v", err)
		}
		if len(recs.Value) < 3 {
			t.Fatalf("%d execution records, want one per executed request (at least 3)", len(recs.Value))
		}
		for _, r := range recs.Value {
			if r.Data == nil || r.Data.Result == nil || *r.Data.Result != serviceendpoint.ServiceEndpointExecutionResultValues.Succeeded ||
				r.Data.PlanType == nil || *r.Data.PlanType != "endpointproxy" {
				t.Errorf("execution record = %+v", r.Data)
			}
		}
		page, err := c.GetServiceEndpointExecutionRecords(ctx(t), serviceendpoint.GetServiceEndpointExecutionRecordsArgs{Project: ptr(project), EndpointId: &id, Top: ptr(1)})
		if err != nil {
			t.Fatalf("GetServiceEndpointExecutionRecords(top 1): %v", err)
		}
		if len(page.Value) != 1 || page.ContinuationToken == "" {
			t.Errorf("top 1: %d records, continuation token %q", len(page.Value), page.ContinuationToken)
		}
	})

	t.Run("batch update and refreshed authentication", func(t *testing.T) {
		eps, err := c.UpdateServiceEndpoints(ctx(t), serviceendpoint.UpdateServiceEndpointsArgs{Endpoints: &[]serviceendpoint.ServiceEndpoint{{
			Id: &id, Name: &name, Type: ptr("generic"), Url: ptr(tl.URL + "/"), Description: ptr("batch"),
			Authorization: &serviceendpoint.EndpointAuthorization{Scheme: ptr("UsernamePassword"),
				Parameters: &map[string]string{"username": "svc"}},
			ServiceEndpointProjectReferences: &[]serviceendpoint.ServiceEndpointProjectReference{{
				ProjectReference: &serviceendpoint.ProjectReference{Id: proj.Id, Name: proj.Name}, Name: &name}},
		}}})
		if err != nil {
			t.Fatalf("UpdateServiceEndpoints: %v", err)
		}
		if len(*eps) != 1 || (*eps)[0].Description == nil || *(*eps)[0].Description != "batch" {
			t.Errorf("UpdateServiceEndpoints = %+v", *eps)
		}
		execute(t, c, id)
		if u := tl.lastUser(); u != "svc:secret-2" {
			t.Errorf("after the batch update the tool saw %q, want the kept secret svc:secret-2", u)
		}
		refreshed, err := c.GetServiceEndpointsWithRefreshedAuthentication(ctx(t), serviceendpoint.GetServiceEndpointsWithRefreshedAuthenticationArgs{
			Project: ptr(project), EndpointIds: &[]uuid.UUID{id},
			RefreshAuthenticationParameters: &[]serviceendpoint.RefreshAuthenticationParameters{{EndpointId: &id, TokenValidityInMinutes: ptr(5)}}})
		if err != nil {
			t.Fatalf("GetServiceEndpointsWithRefreshedAuthentication: %v", err)
		}
		if !containsEndpoint(*refreshed, id) {
			t.Errorf("GetServiceEndpointsWithRefreshedAuthentication lacks %s", id)
		}
	})

	t.Run("delete", func(t *testing.T) {
		err := c.DeleteServiceEndpoint(ctx(t), serviceendpoint.DeleteServiceEndpointArgs{EndpointId: &id, ProjectIds: &[]string{proj.Id.String()}})
		if err != nil {
			t.Fatalf("DeleteServiceEndpoint: %v", err)
		}
		eps, err := c.GetServiceEndpoints(ctx(t), serviceendpoint.GetServiceEndpointsArgs{Project: ptr(project)})
		if err != nil {
			t.Fatalf("GetServiceEndpoints after delete: %v", err)
		}
		if containsEndpoint(*eps, id) {
			t.Errorf("the deleted endpoint %s is still listed", id)
		}
	})
}

// execute runs an ad-hoc data source on the stored connection (endpointproxy).
func execute(t *testing.T, c serviceendpoint.Client, id uuid.UUID) *serviceendpoint.ServiceEndpointRequestResult {
	t.Helper()
	res, err := c.ExecuteServiceEndpointRequest(ctx(t), serviceendpoint.ExecuteServiceEndpointRequestArgs{
		Project: ptr(project), EndpointId: ptr(id.String()),
		ServiceEndpointRequest: &serviceendpoint.ServiceEndpointRequest{DataSourceDetails: &serviceendpoint.DataSourceDetails{
			DataSourceUrl: ptr("{{{endpoint.url}}}items"), ResultSelector: ptr("jsonpath:$.items[*].name")}},
	})
	if err != nil {
		t.Fatalf("ExecuteServiceEndpointRequest: %v", err)
	}
	if res.StatusCode == nil || !strings.EqualFold(*res.StatusCode, "ok") {
		t.Fatalf("ExecuteServiceEndpointRequest: status %v, error %v", deref(res.StatusCode), deref(res.ErrorMessage))
	}
	return res
}

func containsEndpoint(eps []serviceendpoint.ServiceEndpoint, id uuid.UUID) bool {
	for _, ep := range eps {
		if ep.Id != nil && *ep.Id == id {
			return true
		}
	}
	return false
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
