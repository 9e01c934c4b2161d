package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// Shared state of the Azure DevOps service areas (service endpoints, variable groups, Key Vault),
// their seeding and their routes.

// ---- endpoint state ----

// EndpointBehavior controls readiness of endpoints created or updated from
// now on: the first InProgressPolls reads show operationStatus InProgress
// (isReady false), then Ready, or Failed when Fail is set.
type EndpointBehavior struct {
	InProgressPolls int  `json:"inProgressPolls"`
	Fail            bool `json:"fail"`
}

type endpointRecord struct {
	Org      string              `json:"org"`
	Endpoint api.ServiceEndpoint `json:"endpoint"` // parameters hold real values
	Polls    int                 `json:"polls,omitempty"`
	Fail     bool                `json:"fail,omitempty"`
	History  []json.RawMessage   `json:"history,omitempty"`
	// Converted: an Azure RM connection converted to workload identity
	// federation, with what it may revert to (endpoints_azurerm.go).
	Converted *convertedFrom `json:"convertedFrom,omitempty"`
}

type vgRecord struct {
	Org   string            `json:"org"`
	Group api.VariableGroup `json:"group"` // secret values stored
}

type kvVersion struct {
	Version     string            `json:"version"`
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Enabled     bool              `json:"enabled"`
	NBF         *int64            `json:"nbf,omitempty"`
	Exp         *int64            `json:"exp,omitempty"`
	Created     int64             `json:"created"`
	Updated     int64             `json:"updated"`
}

type vaultRecord struct {
	TenantID string                  `json:"tenantId"`
	Secrets  map[string][]*kvVersion `json:"secrets"` // lower-case name -> versions, newest last
	Names    map[string]string       `json:"names"`   // lower-case -> original
}

// SetEndpointBehavior sets the readiness behaviour of endpoints created or updated afterwards.
func (e *Emulator) SetEndpointBehavior(b EndpointBehavior) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.epBehavior = b
}

// ServiceEndpointSecret returns the stored value of an endpoint's
// authorization parameter (case-insensitive), confidential ones included.
func (e *Emulator) ServiceEndpointSecret(org, id, param string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.st.Endpoints[strings.ToLower(id)]
	if rec == nil || !strings.EqualFold(rec.Org, org) || rec.Endpoint.Authorization == nil {
		return "", false
	}
	for k, v := range rec.Endpoint.Authorization.Parameters {
		if strings.EqualFold(k, param) && v != nil {
			return *v, true
		}
	}
	return "", false
}

// RecordEndpointExecution appends an execution-history record (data is the
// record's "data" object, e.g. {"result":"succeeded"}) to an endpoint.
func (e *Emulator) RecordEndpointExecution(id string, data map[string]any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.st.Endpoints[strings.ToLower(id)]
	if rec == nil {
		return fmt.Errorf("emulator: no service endpoint %s", id)
	}
	now := e.now().UTC()
	d := map[string]any{"id": len(rec.History) + 1, "startTime": now, "finishTime": now, "result": "succeeded", "planType": "Build"}
	for k, v := range data {
		d[k] = v
	}
	b, _ := json.Marshal(d)
	rec.History = append(rec.History, b)
	e.saveLocked()
	return nil
}

// VariableGroupValue returns the stored value of a variable (secrets included).
func (e *Emulator) VariableGroupValue(org string, groupID int, name string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.st.VariableGroups[groupID]
	if rec == nil || !strings.EqualFold(rec.Org, org) {
		return "", false
	}
	for k, v := range rec.Group.Variables {
		if strings.EqualFold(k, name) && v.Value != nil {
			return *v.Value, true
		}
	}
	return "", false
}

// KeyVaultSecret is a stored Key Vault secret version.
type KeyVaultSecret struct {
	Version     string
	Value       string
	ContentType string
	Tags        map[string]string
	Enabled     bool
	Expires     *time.Time
}

// KeyVaultSecret returns the latest version of a secret in the Key Vault fake.
func (e *Emulator) KeyVaultSecret(vault, name string) (KeyVaultSecret, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.st.Vaults[strings.ToLower(vault)]
	if v == nil {
		return KeyVaultSecret{}, false
	}
	vs := v.Secrets[strings.ToLower(name)]
	if len(vs) == 0 {
		return KeyVaultSecret{}, false
	}
	last := vs[len(vs)-1]
	out := KeyVaultSecret{Version: last.Version, Value: last.Value, ContentType: last.ContentType, Tags: last.Tags, Enabled: last.Enabled}
	if last.Exp != nil {
		t := time.Unix(*last.Exp, 0).UTC()
		out.Expires = &t
	}
	return out, true
}

func (e *Emulator) seedServices(st *state) error {
	now := e.now().UTC()
	for i, se := range e.seed.ServiceEndpoints {
		org := e.idx.orgs[strings.ToLower(se.Org)]
		proj := findProject(org, se.Project)
		if proj == nil {
			return fmt.Errorf("emulator: seed serviceEndpoints[%d]: project %q is not in org %s", i, se.Project, org.Name)
		}
		id := se.ID
		if id == "" {
			id = newGUID()
		}
		params := map[string]*string{}
		for k, v := range se.Parameters {
			params[k] = &v
		}
		ep := api.ServiceEndpoint{ID: strings.ToLower(id), Name: se.Name, Type: se.Type, URL: se.URL, Data: se.Data,
			Authorization: &api.EndpointAuthorization{Scheme: se.Scheme, Parameters: params}, IsReady: true, Owner: "library",
			OperationStatus: json.RawMessage(`{"state":"Ready","statusMessage":""}`), CreationDate: &now, ModificationDate: &now,
			ServiceEndpointProjectReferences: []api.ServiceEndpointProjectReference{{ProjectReference: api.ProjectReference{ID: proj.ID, Name: proj.Name}, Name: se.Name}}}
		st.Endpoints[ep.ID] = &endpointRecord{Org: org.Name, Endpoint: ep}
	}
	for i, sg := range e.seed.VariableGroups {
		org := e.idx.orgs[strings.ToLower(sg.Org)]
		proj := findProject(org, sg.Project)
		if proj == nil {
			return fmt.Errorf("emulator: seed variableGroups[%d]: project %q is not in org %s", i, sg.Project, org.Name)
		}
		g := api.VariableGroup{ID: st.NextVGID, Name: sg.Name, Type: "Vsts", Variables: map[string]api.VariableValue{},
			VariableGroupProjectReferences: []api.VariableGroupProjectReference{{ProjectReference: api.ProjectReference{ID: proj.ID, Name: proj.Name}, Name: sg.Name}}}
		for k, v := range sg.Variables {
			g.Variables[k] = api.VariableValue{Value: &v.Value, IsSecret: v.IsSecret}
		}
		st.VariableGroups[g.ID] = &vgRecord{Org: org.Name, Group: g}
		st.NextVGID++
	}
	for _, v := range e.seed.Vaults {
		tid := v.TenantID
		if tid == "" && len(e.seed.Tenants) > 0 {
			tid = e.seed.Tenants[0].ID
		}
		st.Vaults[strings.ToLower(v.Name)] = &vaultRecord{TenantID: tid, Secrets: map[string][]*kvVersion{}, Names: map[string]string{}}
	}
	return nil
}

func findProject(org *Org, nameOrID string) *Project {
	if org == nil {
		return nil
	}
	for i := range org.Projects {
		if strings.EqualFold(org.Projects[i].Name, nameOrID) || strings.EqualFold(org.Projects[i].ID, nameOrID) {
			return &org.Projects[i]
		}
	}
	return nil
}

func (e *Emulator) registerServices() {
	e.handle(http.MethodGet, "/devops/{org}/_apis/serviceendpoint/types", "ado", e.handleEndpointTypes)
	e.handle(http.MethodPost, "/devops/{org}/_apis/serviceendpoint/types", "ado", e.handleEndpointTypesFiltered)
	e.handle(http.MethodGet, "/devops/{org}"+iconPath, "ado", e.handleEndpointIcon)
	e.handle(http.MethodPost, "/devops/{org}/_apis/serviceendpoint/endpoints", "ado", e.handleEndpointCreate)
	e.handle(http.MethodPut, "/devops/{org}/_apis/serviceendpoint/endpoints", "ado", e.handleEndpointUpdateMany)
	e.handle(http.MethodPut, "/devops/{org}/_apis/serviceendpoint/endpoints/{id}", "ado", e.handleEndpointUpdate)
	e.handle(http.MethodPatch, "/devops/{org}/_apis/serviceendpoint/endpoints/{id}", "ado", e.handleEndpointShare)
	e.handle(http.MethodDelete, "/devops/{org}/_apis/serviceendpoint/endpoints/{id}", "ado", e.handleEndpointDelete)
	e.handle(http.MethodGet, "/devops/{org}/{project}/_apis/serviceendpoint/endpoints", "ado", e.handleEndpointList)
	e.handle(http.MethodPost, "/devops/{org}/{project}/_apis/serviceendpoint/endpoints", "ado", e.handleEndpointsRefreshed)
	e.handle(http.MethodGet, "/devops/{org}/{project}/_apis/serviceendpoint/endpoints/{id}", "ado", e.handleEndpointGet)
	e.handle(http.MethodGet, "/devops/{org}/{project}/_apis/serviceendpoint/{id}/executionhistory", "ado", e.handleEndpointHistory)

	e.handle(http.MethodGet, "/devops/{org}/{project}/_apis/distributedtask/variablegroups", "ado", e.handleVGList)
	e.handle(http.MethodPost, "/devops/{org}/{project}/_apis/distributedtask/variablegroups", "ado", e.handleVGCreate)
	e.handle(http.MethodPost, "/devops/{org}/_apis/distributedtask/variablegroups", "ado", e.handleVGCreate)
	e.handle(http.MethodGet, "/devops/{org}/{project}/_apis/distributedtask/variablegroups/{id}", "ado", e.handleVGGet)
	e.handle(http.MethodPut, "/devops/{org}/{project}/_apis/distributedtask/variablegroups/{id}", "ado", e.handleVGUpdate)
	e.handle(http.MethodPut, "/devops/{org}/_apis/distributedtask/variablegroups/{id}", "ado", e.handleVGUpdate)

	e.handle(http.MethodPut, "/keyvault/{vault}/secrets/{name}", "kv", e.handleKVSet)
	e.handle(http.MethodGet, "/keyvault/{vault}/secrets/{name}", "kv", e.handleKVGet)
	e.handle(http.MethodGet, "/keyvault/{vault}/secrets/{name}/versions", "kv", e.handleKVVersions)
	e.handle(http.MethodGet, "/keyvault/{vault}/secrets/{name}/{version}", "kv", e.handleKVGet)
	e.handle(http.MethodPatch, "/keyvault/{vault}/secrets/{name}/{version}", "kv", e.handleKVPatch)
}
