package emulator

import (
	"fmt"
	"net/http"
	"strings"
)

// Location discovery, as Microsoft's own clients (azure-devops-go-api,
// azure-devops-node-api, the .NET VssHttpClientBase) use it before their
// first real call:
//
//	OPTIONS {org}/_apis[/{area}]            → {count, value: [ApiResourceLocation]}
//	GET     {org}/_apis/ResourceAreas[/{id}] → {count, value: [ResourceAreaInfo]} (or one)
//
// A client looks up the location id of the operation it wants, fills the
// location's routeTemplate with its route values (dropping the optional
// ones it has no value for) and negotiates the api-version against the
// location's min/max/released versions. ResourceAreas tells it which host
// serves an area (vssps.dev.azure.com or dev.azure.com, here the /vssps and
// /devops prefixes of the running emulator).
//
// The advertised locations are derived from the emulator's own route table:
// a location is listed on a host only when at least one registered route of
// that host fills it, and TestDiscoveryCoversEveryRoute fails when a served
// Azure DevOps route has no location.

// apiLocation is the wire shape of an ApiResourceLocation.
type apiLocation struct {
	ID              string `json:"id"`
	Area            string `json:"area"`
	ResourceName    string `json:"resourceName"`
	RouteTemplate   string `json:"routeTemplate"`
	ResourceVersion int    `json:"resourceVersion"`
	MinVersion      string `json:"minVersion"`
	MaxVersion      string `json:"maxVersion"`
	ReleasedVersion string `json:"releasedVersion"`
}

// locationEntry is one location of the table: the wire shape plus the route
// parameters a client may leave out and the hosts that serve it.
type locationEntry struct {
	apiLocation
	optional []string // parameter names a client may omit (RouteParameter.Optional)
}

// resourceArea is one entry of ResourceAreas.
type resourceArea struct {
	ID   string
	Name string
	host string // hostVSSPS, hostDevOps or hostAudit
}

const (
	hostVSSPS  = "vssps"
	hostDevOps = "devops"
	hostAudit  = "auditservice"
)

// Location ids are the service's (the ones Microsoft's clients hard-code);
// route templates are the paths of the 7.2 specs (../shared/specs) relative
// to the organization; area and resource names are the specs'
// x-ms-vss-area / x-ms-vss-resource. Versions: minVersion is the lowest
// api-version the emulator accepts on the route, maxVersion 7.2, and
// releasedVersion "0.0" for resources that are preview-only (the PAT API,
// TokenAdmin, location) — the emulator's choices where the service does not
// document them.
var locationTable = []locationEntry{
	// Location (served on every host).
	{apiLocation{ID: "00d9565f-ed9c-4a06-9a50-00e7896ccab4", Area: "Location", ResourceName: "ConnectionData",
		RouteTemplate: "_apis/connectionData", ResourceVersion: 1, MinVersion: "1.0", MaxVersion: "7.2", ReleasedVersion: "0.0"}, nil},
	{apiLocation{ID: "e81700f7-3be2-46de-8624-2eb35882fcaa", Area: "Location", ResourceName: "ResourceAreas",
		RouteTemplate: "_apis/ResourceAreas/{areaId}", ResourceVersion: 1, MinVersion: "3.2", MaxVersion: "7.2", ReleasedVersion: "0.0"}, []string{"areaId"}},
	// Core.
	{apiLocation{ID: "603fe2ac-9723-48b9-88ad-09305aa6c6e1", Area: "core", ResourceName: "projects",
		RouteTemplate: "_apis/projects/{*projectId}", ResourceVersion: 4, MinVersion: "1.0", MaxVersion: "7.2", ReleasedVersion: "7.1"}, []string{"projectId"}},
	// ServiceEndpoint (serviceEndpoint-7.2.json).
	{apiLocation{ID: "14e48fdc-2c8b-41ce-a0c3-e26f6cc55bd0", Area: "serviceendpoint", ResourceName: "endpoints",
		RouteTemplate: "_apis/serviceendpoint/endpoints/{endpointId}", ResourceVersion: 4, MinVersion: "5.0", MaxVersion: "7.2", ReleasedVersion: "7.1"}, []string{"endpointId"}},
	{apiLocation{ID: "e85f1c62-adfc-4b74-b618-11a150fb195e", Area: "serviceendpoint", ResourceName: "endpoints",
		RouteTemplate: "{project}/_apis/serviceendpoint/endpoints/{endpointId}", ResourceVersion: 4, MinVersion: "5.0", MaxVersion: "7.2", ReleasedVersion: "7.1"}, []string{"endpointId"}},
	{apiLocation{ID: "5a7938a4-655e-486c-b562-b78c54a7e87b", Area: "serviceendpoint", ResourceName: "types",
		RouteTemplate: "_apis/serviceendpoint/types", ResourceVersion: 1, MinVersion: "5.0", MaxVersion: "7.2", ReleasedVersion: "7.1"}, nil},
	{apiLocation{ID: "10a16738-9299-4cd1-9a81-fd23ad6200d0", Area: "serviceendpoint", ResourceName: "executionhistory",
		RouteTemplate: "{project}/_apis/serviceendpoint/{endpointId}/executionhistory", ResourceVersion: 1, MinVersion: "5.0", MaxVersion: "7.2", ReleasedVersion: "7.1"}, nil},
	{apiLocation{ID: "cc63bb57-2a5f-4a7a-b79c-c142d308657e", Area: "serviceendpoint", ResourceName: "endpointproxy",
		RouteTemplate: "{project}/_apis/serviceendpoint/endpointproxy", ResourceVersion: 1, MinVersion: "5.0", MaxVersion: "7.2", ReleasedVersion: "7.1"}, nil},
	// DistributedTask variable groups.
	{apiLocation{ID: "ef5b7057-ffc3-4c77-bbad-c10b4a4abcc7", Area: "distributedtask", ResourceName: "variablegroups",
		RouteTemplate: "_apis/distributedtask/variablegroups/{groupId}", ResourceVersion: 2, MinVersion: "5.0", MaxVersion: "7.2", ReleasedVersion: "7.1"}, []string{"groupId"}},
	{apiLocation{ID: "f5b09dd5-9d54-45a1-8b5a-1c8287d634cc", Area: "distributedtask", ResourceName: "variablegroups",
		RouteTemplate: "{project}/_apis/distributedtask/variablegroups/{groupId}", ResourceVersion: 2, MinVersion: "5.0", MaxVersion: "7.2", ReleasedVersion: "7.1"}, []string{"groupId"}},
	// Tokens (tokens-7.2.json): the PAT lifecycle API.
	{apiLocation{ID: "55967393-20ef-45c6-a96c-b5d5d5986a9a", Area: "tokens", ResourceName: "pats",
		RouteTemplate: "_apis/tokens/pats", ResourceVersion: 1, MinVersion: "6.1", MaxVersion: "7.2", ReleasedVersion: "0.0"}, nil},
	// Graph users (vssps; the location of azure-devops-go-api's graph client).
	{apiLocation{ID: "005e26ec-6b77-4e4f-a986-b3827bf241f5", Area: "Graph", ResourceName: "Users",
		RouteTemplate: "_apis/Graph/Users/{userDescriptor}", ResourceVersion: 1, MinVersion: "5.0", MaxVersion: "7.2", ReleasedVersion: "0.0"}, []string{"userDescriptor"}},
	// Audit log (auditservice; audit-7.1 and azure-devops-go-api's audit client).
	{apiLocation{ID: "4e5fa14f-7097-4b73-9c85-00abc7353c61", Area: "Audit", ResourceName: "auditLog",
		RouteTemplate: "_apis/audit/auditlog", ResourceVersion: 1, MinVersion: "5.0", MaxVersion: "7.2", ReleasedVersion: "0.0"}, nil},
	// TokenAdmin (tokenAdmin-7.2.json).
	{apiLocation{ID: "af68438b-ed04-4407-9eb6-f1dbae3f922e", Area: "tokenadmin", ResourceName: "personalAccessTokens",
		RouteTemplate: "_apis/tokenadmin/personalaccesstokens/{subjectDescriptor}", ResourceVersion: 1, MinVersion: "5.0", MaxVersion: "7.2", ReleasedVersion: "0.0"}, nil},
	{apiLocation{ID: "a9c08b2c-5466-4e22-8626-1ff304ffdf0f", Area: "tokenadmin", ResourceName: "revocations",
		RouteTemplate: "_apis/tokenadmin/revocations", ResourceVersion: 1, MinVersion: "5.0", MaxVersion: "7.2", ReleasedVersion: "0.0"}, nil},
	{apiLocation{ID: "ee4afb16-e7ab-4ed8-9d4b-4ef3e78f97e4", Area: "tokenadmin", ResourceName: "revocationRules",
		RouteTemplate: "_apis/tokenadmin/revocationrules", ResourceVersion: 1, MinVersion: "5.0", MaxVersion: "7.2", ReleasedVersion: "0.0"}, nil},
}

// resourceAreas are the areas ResourceAreas lists, with the host that serves
// each (the resource area ids of the specs and of Microsoft's clients).
var resourceAreas = []resourceArea{
	{ID: "79134c72-4a58-4b42-976c-04e7115f32bf", Name: "core", host: hostDevOps},
	{ID: "1814ab31-2f4f-4a9f-8761-f4d77dc5a5d7", Name: "serviceendpoint", host: hostDevOps},
	{ID: "a85b8835-c1a1-4aac-ae97-1c3d0ba72dbd", Name: "distributedtask", host: hostDevOps},
	{ID: "55967393-20ef-45c6-a96c-b5d5d5986a9a", Name: "tokens", host: hostVSSPS},
	{ID: "af68438b-ed04-4407-9eb6-f1dbae3f922e", Name: "tokenadmin", host: hostVSSPS},
	{ID: "bb1e7ec9-e901-4b68-999a-de7012b920f8", Name: "Graph", host: hostVSSPS},
	{ID: "94ff054d-5ee1-413d-9341-3f4a7827de2e", Name: "Audit", host: hostAudit},
}

// unlocatedRoutes are Azure DevOps routes that have no ApiResourceLocation
// in the real service either: the sign-in page, the tenant-discovery probe
// of the organization URL and the endpoint types' icon (an extension asset
// the types' iconUrl names) are not REST resources.
var unlocatedRoutes = map[string]bool{
	"GET /vssps/{org}/_signin":     true,
	"GET /devops/{org}/_signin":    true,
	"GET /devops/{org}":            true,
	"GET /devops/{org}" + iconPath: true,
}

func (e *Emulator) registerDiscovery() {
	for _, host := range []string{hostDevOps, hostVSSPS, hostAudit} {
		prefix := "/" + host + "/{org}/_apis"
		e.handle(http.MethodOptions, prefix, "ado", e.handleLocations(host))
		e.handle(http.MethodOptions, prefix+"/{area}", "ado", e.handleLocations(host))
		e.handle(http.MethodGet, prefix+"/resourceareas", "ado", e.handleResourceAreas)
		e.handle(http.MethodGet, prefix+"/resourceareas/{areaId}", "ado", e.handleResourceAreas)
	}
}

// hostOf splits a route template into its host ("devops", "vssps") and the
// segments after /{host}/{org}; ok is false for routes outside Azure DevOps.
func hostOf(rt *route) (host string, rest []string, ok bool) {
	if len(rt.segs) < 2 || rt.segs[1] != "{org}" || (rt.segs[0] != hostDevOps && rt.segs[0] != hostVSSPS && rt.segs[0] != hostAudit) {
		return "", nil, false
	}
	return rt.segs[0], rt.segs[2:], true
}

// fills reports whether a client filling the location's template (leaving
// out any of its optional parameters) produces the path shape of segs:
// literals compare case-insensitively, parameters match parameters.
func (l *locationEntry) fills(segs []string) bool {
	tmpl := strings.Split(l.RouteTemplate, "/")
	var walk func(i, j int) bool
	walk = func(i, j int) bool {
		if i == len(tmpl) {
			return j == len(segs)
		}
		name, isParam := strings.CutPrefix(tmpl[i], "{")
		if isParam {
			name = strings.TrimPrefix(strings.TrimSuffix(name, "}"), "*")
			for _, o := range l.optional {
				if o == name && walk(i+1, j) {
					return true
				}
			}
			return j < len(segs) && strings.HasPrefix(segs[j], "{") && walk(i+1, j+1)
		}
		return j < len(segs) && !strings.HasPrefix(segs[j], "{") && strings.EqualFold(tmpl[i], segs[j]) && walk(i+1, j+1)
	}
	return walk(0, 0)
}

// locationsFilling lists the table's locations that fill segs.
func locationsFilling(segs []string) []*locationEntry {
	var out []*locationEntry
	for i := range locationTable {
		if locationTable[i].fills(segs) {
			out = append(out, &locationTable[i])
		}
	}
	return out
}

// routeLocations maps every served Azure DevOps route ("METHOD template")
// to the locations that fill it.
func (e *Emulator) routeLocations() map[string][]*locationEntry {
	out := map[string][]*locationEntry{}
	for _, rt := range e.routes {
		if _, rest, ok := hostOf(rt); ok && rt.method != http.MethodOptions {
			out[rt.method+" "+rt.tmpl] = locationsFilling(rest)
		}
	}
	return out
}

// hostLocations lists the locations some registered route of host fills, in
// table order.
func (e *Emulator) hostLocations(host string) []apiLocation {
	used := map[*locationEntry]bool{}
	for _, rt := range e.routes {
		if h, rest, ok := hostOf(rt); ok && h == host && rt.method != http.MethodOptions {
			for _, l := range locationsFilling(rest) {
				used[l] = true
			}
		}
	}
	out := []apiLocation{}
	for i := range locationTable {
		if used[&locationTable[i]] {
			out = append(out, locationTable[i].apiLocation)
		}
	}
	return out
}

// handleLocations serves OPTIONS {org}/_apis[/{area}]: the host's locations,
// all of them or those of one area (case-insensitive; an unknown area gives
// an empty list: an emulator choice, which clients report as "Failed to find api
// location"). Anonymous, as in the service.
func (e *Emulator) handleLocations(host string) func(http.ResponseWriter, *http.Request, params) {
	return func(w http.ResponseWriter, r *http.Request, p params) {
		if e.lookupOrg(w, p["org"]) == nil {
			return
		}
		all := e.hostLocations(host)
		out := all[:0:0]
		for _, l := range all {
			if p["area"] == "" || strings.EqualFold(l.Area, p["area"]) {
				out = append(out, l)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"count": len(out), "value": out})
	}
}

// resourceAreaInfo is the wire shape of a ResourceAreaInfo.
type resourceAreaInfo struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	LocationURL string `json:"locationUrl"`
}

// handleResourceAreas serves GET {org}/_apis/ResourceAreas[/{areaId}]: each
// area with the URL of the organization on the host that serves it (with a
// trailing slash, as the service writes it). Anonymous, as in the service.
func (e *Emulator) handleResourceAreas(w http.ResponseWriter, r *http.Request, p params) {
	org := e.lookupOrg(w, p["org"])
	if org == nil {
		return
	}
	if apiVersion(r) != "" && !checkAPIVersion(w, r, generalVersions, false) {
		return
	}
	infos := make([]resourceAreaInfo, 0, len(resourceAreas))
	for _, a := range resourceAreas {
		base := e.DevOpsURL()
		switch a.host {
		case hostVSSPS:
			base = e.VSSPSURL()
		case hostAudit:
			base = e.AuditURL()
		}
		infos = append(infos, resourceAreaInfo{ID: a.ID, Name: a.Name, LocationURL: base + "/" + org.Name + "/"})
	}
	id := p["areaId"]
	if id == "" {
		writeJSON(w, http.StatusOK, map[string]any{"count": len(infos), "value": infos})
		return
	}
	for _, info := range infos {
		if strings.EqualFold(info.ID, id) {
			writeJSON(w, http.StatusOK, info)
			return
		}
	}
	writeVSSError(w, http.StatusNotFound, "ResourceAreaNotFoundException",
		fmt.Sprintf("The resource area %s is not served by this emulator: GET _apis/ResourceAreas lists the served areas.", id))
}
