package emulator

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Azure DevOps Graph (vssps), the subset `patrol audit` calls to know every
// user whose PATs it lists through TokenAdmin:
//
//	GET /vssps/{org}/_apis/graph/users[?continuationToken=…]
//	    → {count, value: [GraphUser]}, next page in the X-MS-ContinuationToken header
//
// Users are the organization's members that are Entra users, ordered by
// descriptor. The page size (graphUsersPage) is the emulator's choice: the
// service documents none. Any member may list users (the "View
// instance-level information" permission every member has); Entra tokens
// need vso.graph (graph-7.1 security).

const graphUsersPage = 100

// graphUser is the wire shape of a GraphUser.
type graphUser struct {
	SubjectKind    string `json:"subjectKind"`
	MetaType       string `json:"metaType"`
	DirectoryAlias string `json:"directoryAlias"`
	Domain         string `json:"domain"`
	PrincipalName  string `json:"principalName"`
	MailAddress    string `json:"mailAddress"`
	Origin         string `json:"origin"`
	OriginID       string `json:"originId"`
	DisplayName    string `json:"displayName"`
	URL            string `json:"url"`
	Descriptor     string `json:"descriptor"`
	// IsDeletedInOrigin: the user was deleted in Entra ID (omitted when false,
	// as the service writes it).
	IsDeletedInOrigin bool `json:"isDeletedInOrigin,omitempty"`
}

func (e *Emulator) registerGraphUsers() {
	e.handle(http.MethodGet, "/vssps/{org}/_apis/graph/users", "ado", e.handleGraphUsers)
}

func (e *Emulator) handleGraphUsers(w http.ResponseWriter, r *http.Request, p params) {
	org := e.lookupOrg(w, p["org"])
	if org == nil {
		return
	}
	if !checkAPIVersion(w, r, generalVersions, false) {
		return
	}
	c, ok := e.authDevOps(w, r, org, true)
	if !ok || !e.requireScope(w, org, c, "vso.graph") {
		return
	}
	if st := r.URL.Query().Get("subjectTypes"); st != "" && !containsFold(strings.Split(st, ","), "aad") {
		writeJSON(w, http.StatusOK, map[string]any{"count": 0, "value": []graphUser{}})
		return
	}
	cont := r.URL.Query().Get("continuationToken")
	e.mu.Lock()
	var all []graphUser
	for _, m := range org.Members {
		u := e.idx.users[strings.ToLower(m)]
		if u == nil {
			continue // a service principal or managed identity
		}
		d := subjectDescriptor(u.ObjectID)
		alias, _, _ := strings.Cut(u.UPN, "@")
		all = append(all, graphUser{SubjectKind: "user", MetaType: "member", DirectoryAlias: alias, Domain: u.TenantID,
			PrincipalName: u.UPN, MailAddress: u.UPN, Origin: "aad", OriginID: u.ObjectID, DisplayName: u.DisplayName,
			URL: fmt.Sprintf("%s/%s/_apis/Graph/Users/%s", e.VSSPSURL(), org.Name, d), Descriptor: d, IsDeletedInOrigin: u.Deleted})
	}
	e.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Descriptor < all[j].Descriptor })
	start := 0
	if cont != "" {
		start = sort.Search(len(all), func(i int) bool { return all[i].Descriptor > cont })
	}
	end := min(start+graphUsersPage, len(all))
	page := append([]graphUser{}, all[start:end]...)
	if end < len(all) {
		w.Header().Set("X-MS-ContinuationToken", page[len(page)-1].Descriptor)
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(page), "value": page})
}
