package emulator

import (
	"net/http"
	"strings"
	"testing"
)

// Every served Azure DevOps route must be reachable through location
// discovery, or Microsoft's clients cannot call it; every table entry must be
// backed by a served route, or discovery advertises what the emulator lacks.
func TestDiscoveryCoversEveryRoute(t *testing.T) {
	e := start(t, Options{})
	used := map[*locationEntry]bool{}
	for key, locs := range e.routeLocations() {
		if unlocatedRoutes[key] {
			if len(locs) > 0 {
				t.Errorf("%s is listed in unlocatedRoutes but location %s fills it: remove it from the list", key, locs[0].ID)
			}
			continue
		}
		if len(locs) == 0 {
			t.Errorf("route %s has no ApiResourceLocation: add its location (id, area, resource, routeTemplate of the spec) to locationTable in discovery.go", key)
		}
		for _, l := range locs {
			used[l] = true
		}
	}
	for i := range locationTable {
		if !used[&locationTable[i]] {
			t.Errorf("location %s (%s/%s) is filled by no served route", locationTable[i].ID, locationTable[i].Area, locationTable[i].ResourceName)
		}
	}
}

func TestLocationFills(t *testing.T) {
	l := locationEntry{apiLocation{RouteTemplate: "{project}/_apis/serviceendpoint/endpoints/{endpointId}"}, []string{"endpointId"}}
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"{project}/_apis/serviceendpoint/endpoints/{id}", true},
		{"{project}/_apis/ServiceEndpoint/Endpoints", true},
		{"_apis/serviceendpoint/endpoints", false}, // project is required
		{"{project}/_apis/serviceendpoint/types", false},
		{"{project}/_apis/serviceendpoint/endpoints/{id}/{x}", false},
		{"{project}/_apis/serviceendpoint/endpoints/history", false}, // a literal is not a parameter value
	} {
		if got := l.fills(strings.Split(tc.path, "/")); got != tc.want {
			t.Errorf("fills(%s) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

type wireLocation struct {
	ID, Area, ResourceName, RouteTemplate   string
	ResourceVersion                         *int
	MinVersion, MaxVersion, ReleasedVersion string
}

func optionsLocations(t *testing.T, e *Emulator, u string) map[string]wireLocation {
	t.Helper()
	r := do(t, e, http.MethodOptions, u, "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("OPTIONS %s = %d %s", u, r.Status, r.Body)
	}
	var body struct {
		Count *int
		Value []wireLocation
	}
	r.json(t, &body)
	if body.Count == nil || *body.Count != len(body.Value) {
		t.Fatalf("OPTIONS %s: count %v does not match %d values", u, body.Count, len(body.Value))
	}
	out := map[string]wireLocation{}
	for _, l := range body.Value {
		if l.ID == "" || l.Area == "" || l.ResourceName == "" || l.RouteTemplate == "" || l.ResourceVersion == nil ||
			l.MinVersion == "" || l.MaxVersion == "" || l.ReleasedVersion == "" {
			t.Errorf("OPTIONS %s: incomplete location %+v", u, l)
		}
		out[l.ID] = l
	}
	return out
}

func TestDiscoveryOptionsPerHost(t *testing.T) {
	e := start(t, Options{})
	const (
		pats        = "55967393-20ef-45c6-a96c-b5d5d5986a9a"
		epProject   = "e85f1c62-adfc-4b74-b618-11a150fb195e"
		connData    = "00d9565f-ed9c-4a06-9a50-00e7896ccab4"
		resAreas    = "e81700f7-3be2-46de-8624-2eb35882fcaa"
		projects    = "603fe2ac-9723-48b9-88ad-09305aa6c6e1"
		tokenAdmins = "af68438b-ed04-4407-9eb6-f1dbae3f922e"
	)
	dev := optionsLocations(t, e, e.DevOpsURL()+"/"+DefaultOrg+"/_apis")
	vssps := optionsLocations(t, e, e.VSSPSURL()+"/"+DefaultOrg+"/_apis/")
	for _, id := range []string{epProject, connData, resAreas, projects} {
		if _, ok := dev[id]; !ok {
			t.Errorf("dev.azure.com OPTIONS _apis lacks location %s", id)
		}
	}
	for _, id := range []string{pats, tokenAdmins, connData, resAreas} {
		if _, ok := vssps[id]; !ok {
			t.Errorf("vssps OPTIONS _apis lacks location %s", id)
		}
	}
	if _, ok := dev[pats]; ok {
		t.Errorf("dev.azure.com advertises the PAT API, which only vssps serves")
	}
	if _, ok := vssps[epProject]; ok {
		t.Errorf("vssps advertises service endpoints, which only dev.azure.com serves")
	}
	if l := dev[epProject]; l.RouteTemplate != "{project}/_apis/serviceendpoint/endpoints/{endpointId}" || l.Area != "serviceendpoint" ||
		l.ResourceName != "endpoints" || *l.ResourceVersion != 4 || l.MaxVersion != "7.2" {
		t.Errorf("endpoints location = %+v", l)
	}

	// Per area, case-insensitive (azure-devops-node-api asks OPTIONS _apis/{area}).
	se := optionsLocations(t, e, e.DevOpsURL()+"/"+DefaultOrg+"/_apis/ServiceEndpoint")
	if len(se) != 5 {
		t.Errorf("OPTIONS _apis/ServiceEndpoint: %d locations, want the 5 serviceendpoint ones", len(se))
	}
	for _, l := range se {
		if l.Area != "serviceendpoint" {
			t.Errorf("OPTIONS _apis/ServiceEndpoint lists area %q", l.Area)
		}
	}
	if loc := optionsLocations(t, e, e.DevOpsURL()+"/"+DefaultOrg+"/_apis/Location"); len(loc) != 2 {
		t.Errorf("OPTIONS _apis/Location: %d locations, want ConnectionData and ResourceAreas", len(loc))
	}
	if none := optionsLocations(t, e, e.DevOpsURL()+"/"+DefaultOrg+"/_apis/nosucharea"); len(none) != 0 {
		t.Errorf("unknown area lists %d locations", len(none))
	}
	if r := do(t, e, http.MethodOptions, e.DevOpsURL()+"/nosuchorg/_apis", "", nil); r.Status != http.StatusNotFound {
		t.Errorf("OPTIONS on an unknown org = %d, want 404", r.Status)
	}
}

func TestDiscoveryResourceAreas(t *testing.T) {
	e := start(t, Options{})
	want := map[string]string{
		"1814ab31-2f4f-4a9f-8761-f4d77dc5a5d7": e.DevOpsURL() + "/" + DefaultOrg + "/", // serviceendpoint
		"79134c72-4a58-4b42-976c-04e7115f32bf": e.DevOpsURL() + "/" + DefaultOrg + "/", // core
		"55967393-20ef-45c6-a96c-b5d5d5986a9a": e.VSSPSURL() + "/" + DefaultOrg + "/",  // tokens
		"af68438b-ed04-4407-9eb6-f1dbae3f922e": e.VSSPSURL() + "/" + DefaultOrg + "/",  // tokenadmin
	}
	for _, base := range []string{e.DevOpsURL(), e.VSSPSURL()} {
		r := do(t, e, http.MethodGet, base+"/"+DefaultOrg+"/_apis/ResourceAreas?api-version=7.1-preview.1", "", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET ResourceAreas = %d %s", r.Status, r.Body)
		}
		var body struct {
			Count int
			Value []resourceAreaInfo
		}
		r.json(t, &body)
		got := map[string]string{}
		for _, a := range body.Value {
			got[a.ID] = a.LocationURL
		}
		for id, u := range want {
			if got[id] != u {
				t.Errorf("%s ResourceAreas: area %s at %q, want %q", base, id, got[id], u)
			}
		}
	}
	r := do(t, e, http.MethodGet, e.VSSPSURL()+"/"+DefaultOrg+"/_apis/ResourceAreas/55967393-20EF-45C6-A96C-B5D5D5986A9A", "", nil)
	var one resourceAreaInfo
	r.json(t, &one)
	if r.Status != http.StatusOK || one.Name != "tokens" || one.LocationURL != want["55967393-20ef-45c6-a96c-b5d5d5986a9a"] {
		t.Errorf("GET ResourceAreas/{tokens} = %d %+v", r.Status, one)
	}
	if r := do(t, e, http.MethodGet, e.DevOpsURL()+"/"+DefaultOrg+"/_apis/ResourceAreas/00000000-0000-0000-0000-000000000001", "", nil); r.Status != http.StatusNotFound {
		t.Errorf("unknown area = %d, want 404", r.Status)
	}
	if r := do(t, e, http.MethodGet, e.DevOpsURL()+"/"+DefaultOrg+"/_apis/ResourceAreas?api-version=1.0", "", nil); r.Status != http.StatusBadRequest {
		t.Errorf("api-version 1.0 = %d, want 400", r.Status)
	}
}
