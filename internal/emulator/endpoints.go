package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// adoCaller runs org lookup, api-version and authentication with the scope check.
func (e *Emulator) adoCaller(w http.ResponseWriter, r *http.Request, p params, scopes ...string) (*Org, *caller, bool) {
	org := e.lookupOrg(w, p["org"])
	if org == nil {
		return nil, nil, false
	}
	if !checkAPIVersion(w, r, generalVersions, false) {
		return nil, nil, false
	}
	c, ok := e.authDevOps(w, r, org, true)
	if !ok || !e.requireScope(w, org, c, scopes...) {
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

// redacted returns the wire form of an endpoint: confidential parameters null.
func (e *Emulator) redactedLocked(rec *endpointRecord) api.ServiceEndpoint {
	ep := rec.Endpoint
	ep.Data = cloneMap(ep.Data)
	if ep.Data == nil {
		ep.Data = map[string]string{} // the service answers {} for an endpoint without data
	}
	if ep.Description == nil {
		empty := ""
		ep.Description = &empty // and "" for one without a description
	}
	if ep.CreatedBy == nil {
		// Seeded endpoints: attributed to the organization's first user member.
		if c := e.firstUserLocked(rec.Org); c != nil {
			org := e.idx.orgs[strings.ToLower(rec.Org)]
			ep.CreatedBy = e.identityRefLocked(org, c)
			ep.ModifiedBy = ep.CreatedBy
		}
	}
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
	who := e.identityRefLocked(org, c)
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
	if strings.EqualFold(operation, "ConvertAuthenticationScheme") {
		return e.convertSchemeLocked(org, c, rec, in)
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
	cur.ModifiedBy = e.identityRefLocked(org, c)
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

// projectCaller is adoCaller plus the {project} of the route.
func (e *Emulator) projectCaller(w http.ResponseWriter, r *http.Request, p params, scopes ...string) (*Org, *caller, *Project, bool) {
	org, c, ok := e.adoCaller(w, r, p, scopes...)
	if !ok {
		return nil, nil, nil, false
	}
	proj := e.projectOf(w, org, p["project"])
	return org, c, proj, proj != nil
}

func (e *Emulator) projectOf(w http.ResponseWriter, org *Org, name string) *Project {
	proj := findProject(org, name)
	if proj == nil {
		writeVSSError(w, http.StatusNotFound, "ProjectDoesNotExistWithNameException", fmt.Sprintf("TF200016: The following project does not exist: %s. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server.", name))
	}
	return proj
}

func (e *Emulator) handleEndpointList(w http.ResponseWriter, r *http.Request, p params) {
	org, _, proj, ok := e.projectCaller(w, r, p, epRead...)
	if !ok {
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

// identityRefLocked is the IdentityRef of a caller as the service writes it
// into createdBy/modifiedBy: the display name, the UPN (or client id) as
// uniqueName, the subject descriptor and the identity and avatar URLs.
func (e *Emulator) identityRefLocked(org *Org, c *caller) *api.IdentityRef {
	name := c.name()
	if c.User != nil && c.User.DisplayName != "" {
		name = c.User.DisplayName
	} else if a := e.idx.apps[strings.ToLower(c.AppID)]; c.Kind != kindUser && a != nil && a.DisplayName != "" {
		name = a.DisplayName
	}
	desc := subjectDescriptor(c.OID)
	avatar := e.DevOpsURL() + "/" + org.Name + "/_apis/GraphProfile/MemberAvatars/" + desc
	return &api.IdentityRef{ID: c.OID, DisplayName: name, UniqueName: c.name(), Descriptor: desc,
		URL:      e.VSSPSURL() + "/" + org.Name + "/_apis/Identities/" + c.OID,
		ImageURL: avatar, Links: map[string]any{"avatar": map[string]string{"href": avatar}}}
}

// firstUserLocked is the first user among the members of an organization.
func (e *Emulator) firstUserLocked(orgName string) *caller {
	org := e.idx.orgs[strings.ToLower(orgName)]
	if org == nil {
		return nil
	}
	for _, m := range org.Members {
		if u := e.idx.users[strings.ToLower(m)]; u != nil {
			return &caller{Kind: kindUser, OID: u.ObjectID, TID: u.TenantID, UPN: u.UPN, User: u}
		}
	}
	return nil
}

// handleEndpointsRefreshed serves POST {org}/{project}/_apis/serviceendpoint/endpoints?endpointIds=
// ("get service endpoints with refreshed authentication"; not a create). The
// body lists RefreshAuthenticationParameters; the emulator mints no OAuth
// tokens, so the answer is the named endpoints as GET returns them.
func (e *Emulator) handleEndpointsRefreshed(w http.ResponseWriter, r *http.Request, p params) {
	org, _, proj, ok := e.projectCaller(w, r, p, epRead...)
	if !ok {
		return
	}
	ids := r.URL.Query().Get("endpointIds")
	if ids == "" {
		writeVSSError(w, http.StatusBadRequest, "ArgumentNullException",
			"Value cannot be null.\r\nParameter name: endpointIds (name the endpoints whose authentication to refresh; creating an endpoint is POST {org}/_apis/serviceendpoint/endpoints)")
		return
	}
	var body []struct {
		EndpointID             string `json:"endpointId"`
		Scope                  []int  `json:"scope"`
		TokenValidityInMinutes int    `json:"tokenValidityInMinutes"`
	}
	if err := readJSON(r, &body); err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "the body must be a RefreshAuthenticationParameters array ([{\"endpointId\":…,\"scope\":[],\"tokenValidityInMinutes\":5}]): "+err.Error())
		return
	}
	out := api.ListOf[api.ServiceEndpoint]{Value: []api.ServiceEndpoint{}}
	e.mu.Lock()
	for _, id := range strings.Split(ids, ",") {
		rec := e.st.Endpoints[strings.ToLower(strings.TrimSpace(id))]
		if rec != nil && strings.EqualFold(rec.Org, org.Name) && rec.sharedWith(proj.ID) {
			out.Value = append(out.Value, e.redactedLocked(rec))
		}
	}
	e.mu.Unlock()
	out.Count = len(out.Value)
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) handleEndpointGet(w http.ResponseWriter, r *http.Request, p params) {
	org, _, proj, ok := e.projectCaller(w, r, p, epRead...)
	if !ok {
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
