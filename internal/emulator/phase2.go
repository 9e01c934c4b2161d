package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// ---- service endpoint types ----

// EndpointType describes a service endpoint type the emulator accepts:
// its schemes and, per scheme, the authorization parameters (confidential
// ones are returned null).
type EndpointType struct {
	Name        string           `json:"name"`
	DisplayName string           `json:"displayName"`
	Schemes     []EndpointScheme `json:"schemes"`
}

// EndpointScheme is one authentication scheme of an EndpointType.
type EndpointScheme struct {
	Scheme string          `json:"scheme"`
	Params []EndpointParam `json:"params"`
}

// EndpointParam is one authorization parameter.
type EndpointParam struct {
	Name         string `json:"name"`
	Confidential bool   `json:"confidential,omitempty"`
	Required     bool   `json:"required,omitempty"`
}

// BuiltinEndpointTypes are served by GET .../serviceendpoint/types and
// validate endpoint bodies (more can be added with Seed.EndpointTypes).
var BuiltinEndpointTypes = []EndpointType{
	{Name: "generic", DisplayName: "Generic", Schemes: []EndpointScheme{
		{Scheme: "UsernamePassword", Params: []EndpointParam{{Name: "username"}, {Name: "password", Confidential: true}}},
		{Scheme: "None"},
	}},
	{Name: "sonarqube", DisplayName: "SonarQube", Schemes: []EndpointScheme{
		{Scheme: "UsernamePassword", Params: []EndpointParam{{Name: "username", Confidential: true, Required: true}, {Name: "password", Confidential: true}}},
	}},
	{Name: "externaltfs", DisplayName: "Azure Repos/Team Foundation Server", Schemes: []EndpointScheme{
		{Scheme: "Token", Params: []EndpointParam{{Name: "apitoken", Confidential: true, Required: true}}},
		{Scheme: "UsernamePassword", Params: []EndpointParam{{Name: "username", Required: true}, {Name: "password", Confidential: true, Required: true}}},
	}},
	{Name: "externalnugetfeed", DisplayName: "NuGet", Schemes: []EndpointScheme{
		{Scheme: "Token", Params: []EndpointParam{{Name: "apitoken", Confidential: true, Required: true}}},
		{Scheme: "UsernamePassword", Params: []EndpointParam{{Name: "username", Required: true}, {Name: "password", Confidential: true, Required: true}}},
		{Scheme: "None", Params: []EndpointParam{{Name: "nugetkey", Confidential: true}}},
	}},
	{Name: "github", DisplayName: "GitHub", Schemes: []EndpointScheme{
		{Scheme: "PersonalAccessToken", Params: []EndpointParam{{Name: "accessToken", Confidential: true, Required: true}}},
		{Scheme: "Token", Params: []EndpointParam{{Name: "AccessToken", Confidential: true, Required: true}}},
	}},
	{Name: "dockerregistry", DisplayName: "Docker Registry", Schemes: []EndpointScheme{
		{Scheme: "UsernamePassword", Params: []EndpointParam{{Name: "username", Required: true}, {Name: "password", Confidential: true, Required: true}, {Name: "email"}, {Name: "registry"}}},
	}},
	{Name: "azurerm", DisplayName: "Azure Resource Manager", Schemes: []EndpointScheme{
		{Scheme: "ServicePrincipal", Params: []EndpointParam{{Name: "serviceprincipalid", Required: true}, {Name: "serviceprincipalkey", Confidential: true}, {Name: "tenantid", Required: true}, {Name: "authenticationType"}}},
		{Scheme: "WorkloadIdentityFederation", Params: []EndpointParam{{Name: "serviceprincipalid", Required: true}, {Name: "tenantid", Required: true}, {Name: "workloadIdentityFederationIssuer"}, {Name: "workloadIdentityFederationSubject"}}},
	}},
}

func (e *Emulator) endpointTypes() []EndpointType {
	return append(append([]EndpointType{}, BuiltinEndpointTypes...), e.seed.EndpointTypes...)
}

func (e *Emulator) findType(name string) *EndpointType {
	for _, t := range e.endpointTypes() {
		if strings.EqualFold(t.Name, name) {
			return &t
		}
	}
	return nil
}

func (t *EndpointType) scheme(name string) *EndpointScheme {
	for i := range t.Schemes {
		if strings.EqualFold(t.Schemes[i].Scheme, name) {
			return &t.Schemes[i]
		}
	}
	return nil
}

func (s *EndpointScheme) confidential(param string) bool {
	for _, p := range s.Params {
		if strings.EqualFold(p.Name, param) {
			return p.Confidential
		}
	}
	return false
}

func (t EndpointType) wire() api.ServiceEndpointType {
	out := api.ServiceEndpointType{Name: t.Name, DisplayName: t.DisplayName}
	for _, s := range t.Schemes {
		var inputs []map[string]any
		for _, p := range s.Params {
			mode := "textbox"
			if p.Confidential {
				mode = "passwordbox"
			}
			inputs = append(inputs, map[string]any{"id": p.Name, "name": p.Name, "inputMode": mode, "isConfidential": p.Confidential,
				"validation": map[string]any{"isRequired": p.Required, "dataType": "string"}})
		}
		b, _ := json.Marshal(map[string]any{"scheme": s.Scheme, "displayName": s.Scheme, "inputDescriptors": inputs, "authorizationHeaders": []any{}})
		out.AuthenticationSchemes = append(out.AuthenticationSchemes, b)
	}
	return out
}

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
	d := map[string]any{"id": len(rec.History) + 1, "startTime": e.now().UTC(), "finishTime": e.now().UTC(), "result": "succeeded", "planType": "Build"}
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

func (e *Emulator) seedPhase2(st *state) error {
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

func (e *Emulator) registerPhase2() {
	e.handle(http.MethodGet, "/devops/{org}/_apis/serviceendpoint/types", "ado", e.handleEndpointTypes)
	e.handle(http.MethodPost, "/devops/{org}/_apis/serviceendpoint/endpoints", "ado", e.handleEndpointCreate)
	e.handle(http.MethodPut, "/devops/{org}/_apis/serviceendpoint/endpoints", "ado", e.handleEndpointUpdateMany)
	e.handle(http.MethodPut, "/devops/{org}/_apis/serviceendpoint/endpoints/{id}", "ado", e.handleEndpointUpdate)
	e.handle(http.MethodPatch, "/devops/{org}/_apis/serviceendpoint/endpoints/{id}", "ado", e.handleEndpointShare)
	e.handle(http.MethodDelete, "/devops/{org}/_apis/serviceendpoint/endpoints/{id}", "ado", e.handleEndpointDelete)
	e.handle(http.MethodGet, "/devops/{org}/{project}/_apis/serviceendpoint/endpoints", "ado", e.handleEndpointList)
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

// adoCaller runs org lookup, api-version and authentication with PAT scope check.
func (e *Emulator) adoCaller(w http.ResponseWriter, r *http.Request, p params, scopes ...string) (*Org, *caller, bool) {
	org := e.lookupOrg(w, p["org"])
	if org == nil {
		return nil, nil, false
	}
	if !checkAPIVersion(w, r, generalVersions, false) {
		return nil, nil, false
	}
	c, ok := e.authDevOps(w, r, org, true)
	if !ok || !e.requirePATScope(w, org, c, scopes...) {
		return nil, nil, false
	}
	return org, c, true
}

var (
	epRead  = []string{"vso.serviceendpoint", "vso.serviceendpoint_query", "vso.serviceendpoint_manage"}
	epWrite = []string{"vso.serviceendpoint_manage"}
	vgRead  = []string{"vso.variablegroups_read", "vso.variablegroups_write", "vso.variablegroups_manage"}
	vgWrite = []string{"vso.variablegroups_write", "vso.variablegroups_manage"}
)

func (e *Emulator) handleEndpointTypes(w http.ResponseWriter, r *http.Request, p params) {
	if _, _, ok := e.adoCaller(w, r, p, epRead...); !ok {
		return
	}
	typ, scheme := r.URL.Query().Get("type"), r.URL.Query().Get("scheme")
	out := api.ListOf[api.ServiceEndpointType]{Value: []api.ServiceEndpointType{}}
	e.mu.Lock()
	for _, t := range e.endpointTypes() {
		if typ != "" && !strings.EqualFold(t.Name, typ) {
			continue
		}
		if scheme != "" && t.scheme(scheme) == nil {
			continue
		}
		out.Value = append(out.Value, t.wire())
	}
	e.mu.Unlock()
	out.Count = len(out.Value)
	writeJSON(w, http.StatusOK, out)
}

// redacted returns the wire form of an endpoint: confidential parameters null.
func (e *Emulator) redactedLocked(rec *endpointRecord) api.ServiceEndpoint {
	ep := rec.Endpoint
	ep.Data = cloneMap(ep.Data)
	ep.ServiceEndpointProjectReferences = append([]api.ServiceEndpointProjectReference{}, ep.ServiceEndpointProjectReferences...)
	if ep.Authorization != nil {
		var sch *EndpointScheme
		if t := e.findType(ep.Type); t != nil {
			sch = t.scheme(ep.Authorization.Scheme)
		}
		params := map[string]*string{}
		for k, v := range ep.Authorization.Parameters {
			if sch == nil || sch.confidential(k) || defaultConfidential(k) {
				params[k] = nil
			} else if v != nil {
				s := *v
				params[k] = &s
			}
		}
		ep.Authorization = &api.EndpointAuthorization{Scheme: ep.Authorization.Scheme, Parameters: params}
	}
	state := "Ready"
	switch {
	case rec.Polls > 0:
		state = "InProgress"
	case rec.Fail:
		state = "Failed"
	}
	ep.IsReady = state == "Ready"
	ep.OperationStatus = json.RawMessage(fmt.Sprintf(`{"state":%q,"statusMessage":%q}`, state, map[string]string{"Failed": "emulator: endpoint preparation failed"}[state]))
	return ep
}

func defaultConfidential(k string) bool {
	switch strings.ToLower(k) {
	case "password", "apitoken", "accesstoken", "token", "serviceprincipalkey", "secret", "clientsecret", "certificate", "nugetkey":
		return true
	}
	return false
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// validateEndpoint checks type and scheme (the real service's messages).
func (e *Emulator) validateEndpoint(ep *api.ServiceEndpoint) error {
	if strings.TrimSpace(ep.Type) == "" {
		return fmt.Errorf("endpoint.Type is required\r\nParameter name: endpoint.Type")
	}
	t := e.findType(ep.Type)
	if t == nil {
		return fmt.Errorf("Service endpoint type '%s' is not supported by this emulator: use one of GET _apis/serviceendpoint/types or add it to Seed.EndpointTypes", ep.Type)
	}
	if ep.Authorization == nil || t.scheme(ep.Authorization.Scheme) == nil {
		s := ""
		if ep.Authorization != nil {
			s = ep.Authorization.Scheme
		}
		return fmt.Errorf("Authentication scheme couldn't be recognized '%s'\r\nParameter name: endpoint.Authorization.Scheme", s)
	}
	return nil
}

func (e *Emulator) handleEndpointCreate(w http.ResponseWriter, r *http.Request, p params) {
	org, c, ok := e.adoCaller(w, r, p, epWrite...)
	if !ok {
		return
	}
	var ep api.ServiceEndpoint
	if err := readJSON(r, &ep); err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "the body is not a ServiceEndpoint: "+err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.validateEndpoint(&ep); err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", err.Error())
		return
	}
	if strings.TrimSpace(ep.Name) == "" {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "endpoint.Name is required\r\nParameter name: endpoint.Name")
		return
	}
	if len(ep.ServiceEndpointProjectReferences) == 0 {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "serviceEndpointProjectReferences must name at least one project")
		return
	}
	for i, ref := range ep.ServiceEndpointProjectReferences {
		proj := findProject(org, ref.ProjectReference.ID)
		if proj == nil {
			proj = findProject(org, ref.ProjectReference.Name)
		}
		if proj == nil {
			writeVSSError(w, http.StatusNotFound, "ProjectDoesNotExistException", fmt.Sprintf("project %q does not exist in organization %s", ref.ProjectReference.ID+ref.ProjectReference.Name, org.Name))
			return
		}
		ep.ServiceEndpointProjectReferences[i].ProjectReference = api.ProjectReference{ID: proj.ID, Name: proj.Name}
		if ep.ServiceEndpointProjectReferences[i].Name == "" {
			ep.ServiceEndpointProjectReferences[i].Name = ep.Name
		}
	}
	now := e.now().UTC()
	who := &api.IdentityRef{ID: c.OID, DisplayName: c.name(), UniqueName: c.name()}
	ep.ID = newGUID()
	ep.CreatedBy, ep.ModifiedBy, ep.CreationDate, ep.ModificationDate = who, who, &now, &now
	if ep.Owner == "" {
		ep.Owner = "library"
	}
	if ep.Authorization.Parameters == nil {
		ep.Authorization.Parameters = map[string]*string{}
	}
	for k, v := range ep.Authorization.Parameters {
		if v == nil {
			delete(ep.Authorization.Parameters, k)
		}
	}
	rec := &endpointRecord{Org: org.Name, Endpoint: ep, Polls: e.epBehavior.InProgressPolls, Fail: e.epBehavior.Fail}
	e.st.Endpoints[ep.ID] = rec
	e.saveLocked()
	writeJSON(w, http.StatusOK, e.redactedLocked(rec))
}

// applyUpdateLocked applies the update rules to a stored endpoint.
func (e *Emulator) applyUpdateLocked(org *Org, c *caller, rec *endpointRecord, in api.ServiceEndpoint, operation string) (int, error) {
	cur := &rec.Endpoint
	if strings.EqualFold(operation, "ChangeProperties") {
		cur.IsDisabled = in.IsDisabled
		return 0, nil
	}
	if in.Type != "" && !strings.EqualFold(in.Type, cur.Type) {
		return http.StatusBadRequest, fmt.Errorf("the type of service endpoint %s cannot change from %s to %s", cur.ID, cur.Type, in.Type)
	}
	in.Type = cur.Type
	if err := e.validateEndpoint(&in); err != nil {
		return http.StatusBadRequest, err
	}
	t := e.findType(cur.Type)
	sch := t.scheme(in.Authorization.Scheme)
	changed := !strings.EqualFold(in.Authorization.Scheme, cur.Authorization.Scheme) || (in.URL != "" && in.URL != cur.URL)
	next := map[string]*string{}
	if !changed {
		for k, v := range cur.Authorization.Parameters {
			next[k] = v
		}
	}
	for k, v := range in.Authorization.Parameters {
		key := k
		for ek := range next {
			if strings.EqualFold(ek, k) {
				key = ek
			}
		}
		if v == nil {
			continue // null keeps the stored value
		}
		s := *v
		delete(next, key)
		next[k] = &s
	}
	if changed {
		for _, prm := range sch.Params {
			if !prm.Confidential {
				continue
			}
			found := false
			for k, v := range next {
				if strings.EqualFold(k, prm.Name) && v != nil {
					found = true
				}
			}
			if !found && prm.Required {
				return http.StatusBadRequest, fmt.Errorf("the URL or authorization scheme of service endpoint %s changed, so the confidential parameter %q must be supplied again", cur.ID, prm.Name)
			}
		}
	}
	cur.Authorization = &api.EndpointAuthorization{Scheme: in.Authorization.Scheme, Parameters: next}
	if strings.TrimSpace(in.Name) != "" {
		cur.Name = in.Name
	}
	if in.Description != nil {
		cur.Description = in.Description
	}
	if in.URL != "" {
		cur.URL = in.URL
	}
	if in.Data != nil {
		cur.Data = cloneMap(in.Data)
	}
	now := e.now().UTC()
	cur.ModificationDate = &now
	cur.ModifiedBy = &api.IdentityRef{ID: c.OID, DisplayName: c.name(), UniqueName: c.name()}
	rec.Polls, rec.Fail = e.epBehavior.InProgressPolls, e.epBehavior.Fail
	return 0, nil
}

func (e *Emulator) handleEndpointUpdate(w http.ResponseWriter, r *http.Request, p params) {
	org, c, ok := e.adoCaller(w, r, p, epWrite...)
	if !ok {
		return
	}
	var in api.ServiceEndpoint
	if err := readJSON(r, &in); err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "the body is not a ServiceEndpoint: "+err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.st.Endpoints[strings.ToLower(p["id"])]
	if rec == nil || !strings.EqualFold(rec.Org, org.Name) {
		writeVSSError(w, http.StatusNotFound, "ServiceEndpointNotFoundException", fmt.Sprintf("Service endpoint with id %s does not exist in organization %s.", p["id"], org.Name))
		return
	}
	if status, err := e.applyUpdateLocked(org, c, rec, in, r.URL.Query().Get("operation")); err != nil {
		writeVSSError(w, status, "ArgumentException", err.Error())
		return
	}
	e.saveLocked()
	writeJSON(w, http.StatusOK, e.redactedLocked(rec))
}

func (e *Emulator) handleEndpointUpdateMany(w http.ResponseWriter, r *http.Request, p params) {
	org, c, ok := e.adoCaller(w, r, p, epWrite...)
	if !ok {
		return
	}
	var in []api.ServiceEndpoint
	if err := readJSON(r, &in); err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "the body is not a ServiceEndpoint array: "+err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// Validate all first so the batch is all-or-nothing.
	backup := map[string]endpointRecord{}
	out := api.ListOf[api.ServiceEndpoint]{Value: []api.ServiceEndpoint{}}
	for _, ep := range in {
		rec := e.st.Endpoints[strings.ToLower(ep.ID)]
		if rec == nil || !strings.EqualFold(rec.Org, org.Name) {
			e.restoreLocked(backup)
			writeVSSError(w, http.StatusNotFound, "ServiceEndpointNotFoundException", fmt.Sprintf("Service endpoint with id %s does not exist in organization %s.", ep.ID, org.Name))
			return
		}
		if _, done := backup[rec.Endpoint.ID]; !done {
			backup[rec.Endpoint.ID] = *rec
		}
		if status, err := e.applyUpdateLocked(org, c, rec, ep, ""); err != nil {
			e.restoreLocked(backup)
			writeVSSError(w, status, "ArgumentException", err.Error())
			return
		}
		out.Value = append(out.Value, e.redactedLocked(rec))
	}
	out.Count = len(out.Value)
	e.saveLocked()
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) restoreLocked(backup map[string]endpointRecord) {
	for id, rec := range backup {
		r := rec
		e.st.Endpoints[id] = &r
	}
}

func (e *Emulator) handleEndpointShare(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, epWrite...)
	if !ok {
		return
	}
	var refs []api.ServiceEndpointProjectReference
	if err := readJSON(r, &refs); err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "the body is not a ServiceEndpointProjectReference array: "+err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.st.Endpoints[strings.ToLower(p["id"])]
	if rec == nil || !strings.EqualFold(rec.Org, org.Name) {
		writeVSSError(w, http.StatusNotFound, "ServiceEndpointNotFoundException", fmt.Sprintf("Service endpoint with id %s does not exist.", p["id"]))
		return
	}
	for _, ref := range refs {
		proj := findProject(org, ref.ProjectReference.ID)
		if proj == nil {
			writeVSSError(w, http.StatusNotFound, "ProjectDoesNotExistException", fmt.Sprintf("project %q does not exist in organization %s", ref.ProjectReference.ID, org.Name))
			return
		}
		if !rec.sharedWith(proj.ID) {
			ref.ProjectReference = api.ProjectReference{ID: proj.ID, Name: proj.Name}
			rec.Endpoint.ServiceEndpointProjectReferences = append(rec.Endpoint.ServiceEndpointProjectReferences, ref)
		}
	}
	rec.Endpoint.IsShared = len(rec.Endpoint.ServiceEndpointProjectReferences) > 1
	e.saveLocked()
	w.WriteHeader(http.StatusNoContent)
}

func (rec *endpointRecord) sharedWith(projectID string) bool {
	for _, r := range rec.Endpoint.ServiceEndpointProjectReferences {
		if strings.EqualFold(r.ProjectReference.ID, projectID) {
			return true
		}
	}
	return false
}

func (e *Emulator) handleEndpointDelete(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, epWrite...)
	if !ok {
		return
	}
	pids := r.URL.Query().Get("projectIds")
	if pids == "" {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "projectIds is required: name the projects to remove the endpoint from.")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.st.Endpoints[strings.ToLower(p["id"])]
	if rec == nil || !strings.EqualFold(rec.Org, org.Name) {
		writeVSSError(w, http.StatusNotFound, "ServiceEndpointNotFoundException", fmt.Sprintf("Service endpoint with id %s does not exist.", p["id"]))
		return
	}
	var keep []api.ServiceEndpointProjectReference
	for _, ref := range rec.Endpoint.ServiceEndpointProjectReferences {
		if !containsFold(strings.Split(pids, ","), ref.ProjectReference.ID) {
			keep = append(keep, ref)
		}
	}
	if len(keep) == 0 {
		delete(e.st.Endpoints, rec.Endpoint.ID)
	} else {
		rec.Endpoint.ServiceEndpointProjectReferences = keep
	}
	e.saveLocked()
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) projectOf(w http.ResponseWriter, org *Org, name string) *Project {
	proj := findProject(org, name)
	if proj == nil {
		writeVSSError(w, http.StatusNotFound, "ProjectDoesNotExistWithNameException", fmt.Sprintf("TF200016: The following project does not exist: %s. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server.", name))
	}
	return proj
}

func (e *Emulator) handleEndpointList(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, epRead...)
	if !ok {
		return
	}
	proj := e.projectOf(w, org, p["project"])
	if proj == nil {
		return
	}
	q := r.URL.Query()
	split := func(k string) []string {
		if v := q.Get(k); v != "" {
			return strings.Split(v, ",")
		}
		return nil
	}
	typ, schemes, ids, names, owner := q.Get("type"), split("authSchemes"), split("endpointIds"), split("endpointNames"), q.Get("owner")
	includeFailed, _ := strconv.ParseBool(q.Get("includeFailed"))
	out := api.ListOf[api.ServiceEndpoint]{Value: []api.ServiceEndpoint{}}
	e.mu.Lock()
	for _, id := range sortedKeys(e.st.Endpoints) {
		rec := e.st.Endpoints[id]
		ep := rec.Endpoint
		switch {
		case !strings.EqualFold(rec.Org, org.Name) || !rec.sharedWith(proj.ID):
			continue
		case typ != "" && !strings.EqualFold(ep.Type, typ):
			continue
		case schemes != nil && (ep.Authorization == nil || !containsFold(schemes, ep.Authorization.Scheme)):
			continue
		case ids != nil && !containsFold(ids, ep.ID):
			continue
		case names != nil && !containsFold(names, ep.Name):
			continue
		case owner != "" && !strings.EqualFold(owner, ep.Owner):
			continue
		case rec.Fail && rec.Polls == 0 && !includeFailed:
			continue
		}
		out.Value = append(out.Value, e.redactedLocked(rec))
	}
	e.mu.Unlock()
	out.Count = len(out.Value)
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) handleEndpointGet(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, epRead...)
	if !ok {
		return
	}
	proj := e.projectOf(w, org, p["project"])
	if proj == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.st.Endpoints[strings.ToLower(p["id"])]
	if rec == nil || !strings.EqualFold(rec.Org, org.Name) || !rec.sharedWith(proj.ID) {
		// The real service answers 200 with an empty body for unknown ids.
		w.WriteHeader(http.StatusOK)
		return
	}
	ep := e.redactedLocked(rec)
	if rec.Polls > 0 {
		rec.Polls--
	}
	writeJSON(w, http.StatusOK, ep)
}

func (e *Emulator) handleEndpointHistory(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, epRead...)
	if !ok {
		return
	}
	q := r.URL.Query()
	top := 50
	if v := q.Get("top"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			top = n
		}
	}
	startAt := 0
	if v := q.Get("continuationToken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeVSSError(w, http.StatusBadRequest, "ArgumentException", "continuationToken must be an integer.")
			return
		}
		startAt = n
	}
	e.mu.Lock()
	rec := e.st.Endpoints[strings.ToLower(p["id"])]
	var recs []json.RawMessage
	if rec != nil && strings.EqualFold(rec.Org, org.Name) {
		recs = rec.History
	}
	e.mu.Unlock()
	out := api.ListOf[api.ServiceEndpointExecutionRecord]{Value: []api.ServiceEndpointExecutionRecord{}}
	// newest first
	for i := len(recs) - 1 - startAt; i >= 0 && len(out.Value) < top; i-- {
		out.Value = append(out.Value, api.ServiceEndpointExecutionRecord{Data: recs[i], EndpointID: strings.ToLower(p["id"])})
	}
	out.Count = len(out.Value)
	if startAt+len(out.Value) < len(recs) {
		w.Header().Set("X-MS-ContinuationToken", strconv.Itoa(startAt+len(out.Value)))
	}
	writeJSON(w, http.StatusOK, out)
}

// ---- variable groups ----

func (e *Emulator) vgWire(rec *vgRecord) api.VariableGroup {
	g := rec.Group
	vars := make(map[string]api.VariableValue, len(g.Variables))
	for k, v := range g.Variables {
		if v.IsSecret {
			v.Value = nil
		} else if v.Value != nil {
			s := *v.Value
			v.Value = &s
		}
		vars[k] = v
	}
	g.Variables = vars
	g.VariableGroupProjectReferences = append([]api.VariableGroupProjectReference{}, g.VariableGroupProjectReferences...)
	return g
}

func (rec *vgRecord) inProject(id string) bool {
	for _, r := range rec.Group.VariableGroupProjectReferences {
		if strings.EqualFold(r.ProjectReference.ID, id) {
			return true
		}
	}
	return false
}

func (e *Emulator) handleVGList(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, vgRead...)
	if !ok {
		return
	}
	proj := e.projectOf(w, org, p["project"])
	if proj == nil {
		return
	}
	name := r.URL.Query().Get("groupName")
	var ids []string
	if v := r.URL.Query().Get("groupIds"); v != "" {
		ids = strings.Split(v, ",")
	}
	out := api.ListOf[api.VariableGroup]{Value: []api.VariableGroup{}}
	e.mu.Lock()
	keys := make([]int, 0, len(e.st.VariableGroups))
	for k := range e.st.VariableGroups {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		rec := e.st.VariableGroups[k]
		if !strings.EqualFold(rec.Org, org.Name) || !rec.inProject(proj.ID) {
			continue
		}
		if name != "" && !wildcardMatch(name, rec.Group.Name) {
			continue
		}
		if ids != nil && !containsFold(ids, strconv.Itoa(k)) {
			continue
		}
		out.Value = append(out.Value, e.vgWire(rec))
	}
	e.mu.Unlock()
	out.Count = len(out.Value)
	writeJSON(w, http.StatusOK, out)
}

// wildcardMatch matches groupName filters with * wildcards, case-insensitively.
func wildcardMatch(pattern, s string) bool {
	re := "(?i)^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	ok, _ := regexp.MatchString(re, s)
	return ok
}

func (e *Emulator) handleVGCreate(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, vgWrite...)
	if !ok {
		return
	}
	var g api.VariableGroup
	if err := readJSON(r, &g); err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "the body is not a VariableGroup: "+err.Error())
		return
	}
	if strings.TrimSpace(g.Name) == "" {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "variableGroup.Name is required")
		return
	}
	if p["project"] != "" && len(g.VariableGroupProjectReferences) == 0 {
		g.VariableGroupProjectReferences = []api.VariableGroupProjectReference{{ProjectReference: api.ProjectReference{ID: p["project"]}, Name: g.Name}}
	}
	if len(g.VariableGroupProjectReferences) == 0 {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "variableGroupProjectReferences must name at least one project")
		return
	}
	for i, ref := range g.VariableGroupProjectReferences {
		proj := findProject(org, ref.ProjectReference.ID)
		if proj == nil {
			proj = findProject(org, ref.ProjectReference.Name)
		}
		if proj == nil {
			writeVSSError(w, http.StatusNotFound, "ProjectDoesNotExistException", fmt.Sprintf("project %q does not exist in organization %s", ref.ProjectReference.ID, org.Name))
			return
		}
		g.VariableGroupProjectReferences[i].ProjectReference = api.ProjectReference{ID: proj.ID, Name: proj.Name}
	}
	for k, v := range g.Variables {
		if v.Value == nil {
			writeVSSError(w, http.StatusBadRequest, "ArgumentException", fmt.Sprintf("variable %q has a null value: new variables need a value", k))
			return
		}
	}
	if g.Variables == nil {
		g.Variables = map[string]api.VariableValue{}
	}
	if g.Type == "" {
		g.Type = "Vsts"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rec := range e.st.VariableGroups {
		if strings.EqualFold(rec.Org, org.Name) && strings.EqualFold(rec.Group.Name, g.Name) {
			writeVSSError(w, http.StatusBadRequest, "VariableGroupExistsException", fmt.Sprintf("Variable group with name %s already exists.", g.Name))
			return
		}
	}
	g.ID = e.st.NextVGID
	e.st.NextVGID++
	rec := &vgRecord{Org: org.Name, Group: g}
	e.st.VariableGroups[g.ID] = rec
	e.saveLocked()
	writeJSON(w, http.StatusOK, e.vgWire(rec))
}

func (e *Emulator) handleVGGet(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, vgRead...)
	if !ok {
		return
	}
	proj := e.projectOf(w, org, p["project"])
	if proj == nil {
		return
	}
	id, _ := strconv.Atoi(p["id"])
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.st.VariableGroups[id]
	if rec == nil || !strings.EqualFold(rec.Org, org.Name) || !rec.inProject(proj.ID) {
		writeVSSError(w, http.StatusNotFound, "VariableGroupNotFoundException", fmt.Sprintf("Variable group with id %s does not exist.", p["id"]))
		return
	}
	writeJSON(w, http.StatusOK, e.vgWire(rec))
}

func (e *Emulator) handleVGUpdate(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, vgWrite...)
	if !ok {
		return
	}
	var in api.VariableGroup
	if err := readJSON(r, &in); err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "the body is not a VariableGroup: "+err.Error())
		return
	}
	id, _ := strconv.Atoi(p["id"])
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.st.VariableGroups[id]
	if rec == nil || !strings.EqualFold(rec.Org, org.Name) {
		writeVSSError(w, http.StatusNotFound, "VariableGroupNotFoundException", fmt.Sprintf("Variable group with id %s does not exist.", p["id"]))
		return
	}
	vars := map[string]api.VariableValue{}
	for k, v := range in.Variables {
		if v.Value == nil {
			old, found := lookupFold(rec.Group.Variables, k)
			if !found || !v.IsSecret || !old.IsSecret {
				writeVSSError(w, http.StatusBadRequest, "ArgumentException", fmt.Sprintf("variable %q has a null value: only an existing secret variable may be sent as null (to keep its value)", k))
				return
			}
			v.Value = old.Value
		}
		vars[k] = v
	}
	if strings.TrimSpace(in.Name) != "" {
		rec.Group.Name = in.Name
	}
	rec.Group.Description = in.Description
	rec.Group.Variables = vars
	if len(in.VariableGroupProjectReferences) > 0 {
		refs := make([]api.VariableGroupProjectReference, 0, len(in.VariableGroupProjectReferences))
		for _, ref := range in.VariableGroupProjectReferences {
			if proj := findProject(org, ref.ProjectReference.ID); proj != nil {
				ref.ProjectReference = api.ProjectReference{ID: proj.ID, Name: proj.Name}
				refs = append(refs, ref)
			}
		}
		if len(refs) > 0 {
			rec.Group.VariableGroupProjectReferences = refs
		}
	}
	e.saveLocked()
	writeJSON(w, http.StatusOK, e.vgWire(rec))
}

func lookupFold(m map[string]api.VariableValue, k string) (api.VariableValue, bool) {
	if v, ok := m[k]; ok {
		return v, true
	}
	for kk, v := range m {
		if strings.EqualFold(kk, k) {
			return v, true
		}
	}
	return api.VariableValue{}, false
}

// ---- Key Vault ----

var kvNameRe = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

func kvError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

// kvAuth returns the vault (created on first use) or answers the challenge.
func (e *Emulator) kvAuth(w http.ResponseWriter, r *http.Request, p params) (*vaultRecord, bool) {
	name := strings.ToLower(p["vault"])
	e.mu.Lock()
	v := e.st.Vaults[name]
	tid := ""
	if v != nil {
		tid = v.TenantID
	} else if len(e.seed.Tenants) > 0 {
		tid = e.seed.Tenants[0].ID
	}
	e.mu.Unlock()
	challenge := func() {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`, e.url, tid, vaultResource))
		kvError(w, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
	}
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		challenge()
		return nil, false
	}
	c, err := e.verifyAccessToken(strings.TrimSpace(cred), vaultResource)
	if err != nil {
		challenge()
		return nil, false
	}
	if !strings.EqualFold(c.TID, tid) {
		kvError(w, http.StatusUnauthorized, "Unauthorized", fmt.Sprintf("AKV10032: Invalid issuer. Expected one of https://sts.windows.net/%s/, found https://sts.windows.net/%s/.", tid, c.TID))
		return nil, false
	}
	if r.URL.Query().Get("api-version") == "" {
		kvError(w, http.StatusBadRequest, "BadParameter", "The 'api-version' query parameter is required.")
		return nil, false
	}
	if !kvNameRe.MatchString(p["name"]) {
		kvError(w, http.StatusBadRequest, "BadParameter", fmt.Sprintf("The secret name %q is invalid: use 1-127 characters of 0-9, a-z, A-Z and -.", p["name"]))
		return nil, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if v = e.st.Vaults[name]; v == nil {
		v = &vaultRecord{TenantID: tid, Secrets: map[string][]*kvVersion{}, Names: map[string]string{}}
		e.st.Vaults[name] = v
	}
	return v, true
}

func (e *Emulator) kvBundle(vault, name string, v *kvVersion, withValue bool) map[string]any {
	attrs := map[string]any{"enabled": v.Enabled, "created": v.Created, "updated": v.Updated,
		"recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90}
	if v.NBF != nil {
		attrs["nbf"] = *v.NBF
	}
	if v.Exp != nil {
		attrs["exp"] = *v.Exp
	}
	// The id uses the real vault host form so azsecrets' ID.Name()/Version()
	// (which parse the first path segments) work; see docs/emulator.md.
	b := map[string]any{"id": "https://" + strings.ToLower(vault) + ".vault.azure.net/secrets/" + name + "/" + v.Version, "attributes": attrs}
	if withValue {
		b["value"] = v.Value
	}
	if v.ContentType != "" {
		b["contentType"] = v.ContentType
	}
	if v.Tags != nil {
		b["tags"] = v.Tags
	}
	return b
}

type kvAttrs struct {
	Enabled *bool  `json:"enabled"`
	NBF     *int64 `json:"nbf"`
	Exp     *int64 `json:"exp"`
}

func (e *Emulator) handleKVSet(w http.ResponseWriter, r *http.Request, p params) {
	v, ok := e.kvAuth(w, r, p)
	if !ok {
		return
	}
	var body struct {
		Value       *string           `json:"value"`
		ContentType string            `json:"contentType"`
		Tags        map[string]string `json:"tags"`
		Attributes  *kvAttrs          `json:"attributes"`
	}
	if err := readJSON(r, &body); err != nil || body.Value == nil {
		kvError(w, http.StatusBadRequest, "BadParameter", "The request body must be {\"value\": ...} (SetSecretParameters).")
		return
	}
	if len(*body.Value) > 25*1024 {
		kvError(w, http.StatusBadRequest, "BadParameter", "Secret value exceeds 25 KB.")
		return
	}
	now := e.now().Unix()
	ver := &kvVersion{Version: strings.ReplaceAll(newGUID(), "-", ""), Value: *body.Value, ContentType: body.ContentType,
		Tags: body.Tags, Enabled: true, Created: now, Updated: now}
	if a := body.Attributes; a != nil {
		if a.Enabled != nil {
			ver.Enabled = *a.Enabled
		}
		ver.NBF, ver.Exp = a.NBF, a.Exp
	}
	e.mu.Lock()
	key := strings.ToLower(p["name"])
	v.Secrets[key] = append(v.Secrets[key], ver)
	if v.Names[key] == "" {
		v.Names[key] = p["name"]
	}
	name := v.Names[key]
	e.saveLocked()
	b := e.kvBundle(p["vault"], name, ver, true)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, b)
}

func (e *Emulator) findKVLocked(v *vaultRecord, name, version string) (*kvVersion, string) {
	vs := v.Secrets[strings.ToLower(name)]
	if len(vs) == 0 {
		return nil, ""
	}
	if version == "" {
		return vs[len(vs)-1], v.Names[strings.ToLower(name)]
	}
	for _, x := range vs {
		if strings.EqualFold(x.Version, version) {
			return x, v.Names[strings.ToLower(name)]
		}
	}
	return nil, ""
}

func (e *Emulator) handleKVGet(w http.ResponseWriter, r *http.Request, p params) {
	v, ok := e.kvAuth(w, r, p)
	if !ok {
		return
	}
	e.mu.Lock()
	x, name := e.findKVLocked(v, p["name"], p["version"])
	var b map[string]any
	if x != nil {
		b = e.kvBundle(p["vault"], name, x, true)
	}
	e.mu.Unlock()
	if x == nil {
		kvError(w, http.StatusNotFound, "SecretNotFound", fmt.Sprintf("A secret with (name/id) %s was not found in this key vault.", p["name"]))
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (e *Emulator) handleKVVersions(w http.ResponseWriter, r *http.Request, p params) {
	v, ok := e.kvAuth(w, r, p)
	if !ok {
		return
	}
	e.mu.Lock()
	var out []map[string]any
	for _, x := range v.Secrets[strings.ToLower(p["name"])] {
		out = append(out, e.kvBundle(p["vault"], v.Names[strings.ToLower(p["name"])], x, false))
	}
	e.mu.Unlock()
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out, "nextLink": nil})
}

func (e *Emulator) handleKVPatch(w http.ResponseWriter, r *http.Request, p params) {
	v, ok := e.kvAuth(w, r, p)
	if !ok {
		return
	}
	var body struct {
		ContentType *string           `json:"contentType"`
		Tags        map[string]string `json:"tags"`
		Attributes  *kvAttrs          `json:"attributes"`
	}
	if err := readJSON(r, &body); err != nil {
		kvError(w, http.StatusBadRequest, "BadParameter", "The request body must be UpdateSecretPropertiesParameters: "+err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	x, name := e.findKVLocked(v, p["name"], p["version"])
	if x == nil {
		kvError(w, http.StatusNotFound, "SecretNotFound", fmt.Sprintf("A secret with (name/id) %s/%s was not found in this key vault.", p["name"], p["version"]))
		return
	}
	if body.ContentType != nil {
		x.ContentType = *body.ContentType
	}
	if body.Tags != nil {
		x.Tags = body.Tags
	}
	if a := body.Attributes; a != nil {
		if a.Enabled != nil {
			x.Enabled = *a.Enabled
		}
		if a.NBF != nil {
			x.NBF = a.NBF
		}
		if a.Exp != nil {
			x.Exp = a.Exp
		}
	}
	x.Updated = e.now().Unix()
	e.saveLocked()
	writeJSON(w, http.StatusOK, e.kvBundle(p["vault"], name, x, false))
}
