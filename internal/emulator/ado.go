package emulator

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// caller is an authenticated Azure DevOps caller.
type caller struct {
	Kind  string // user | app | mi
	OID   string
	TID   string
	UPN   string
	AppID string
	User  *User
	PAT   *patRecord // set when authenticated with Basic :PAT
	Scp   string     // delegated permissions of an Entra user token
}

func (c *caller) name() string {
	if c.UPN != "" {
		return c.UPN
	}
	return c.AppID
}

// lookupOrg answers 404 for unknown organisations.
func (e *Emulator) lookupOrg(w http.ResponseWriter, name string) *Org {
	e.mu.RLock()
	o := e.idx.orgs[strings.ToLower(name)]
	e.mu.RUnlock()
	if o == nil {
		writeVSSError(w, http.StatusNotFound, "AccountNotFoundException",
			fmt.Sprintf("TF400813: The organization '%s' does not exist in this emulator: use one of the seed's orgs.", name))
	}
	return o
}

// unauthorized answers 401 with the tenant-discovery headers of Azure DevOps.
func (e *Emulator) unauthorized(w http.ResponseWriter, org *Org, msg string) {
	h := w.Header()
	h.Set("WWW-Authenticate", fmt.Sprintf("Bearer authorization_uri=%s/%s", e.url, org.TenantID))
	h.Add("WWW-Authenticate", fmt.Sprintf(`Basic realm="%s/"`, e.DevOpsURL()))
	h.Set("X-VSS-ResourceTenant", org.TenantID)
	writeVSSError(w, http.StatusUnauthorized, "UnauthorizedRequestException", msg)
}

// objectMoved is the real service's answer to a service principal or managed
// identity on the PAT API: a 302 "Object moved" to the sign-in page.
func (e *Emulator) objectMoved(w http.ResponseWriter, r *http.Request, org *Org) {
	loc := fmt.Sprintf("%s/%s/_signin?realm=%s&reply_to=%s", e.VSSPSURL(), org.Name,
		url.QueryEscape(strings.TrimPrefix(e.url, "https://")), url.QueryEscape(e.url+r.URL.Path))
	w.Header().Set("Location", loc)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-VSS-ResourceTenant", org.TenantID)
	w.WriteHeader(http.StatusFound)
	fmt.Fprintf(w, `<html><head><title>Object moved</title></head><body><h2>Object moved to <a href="%s">here</a>.</h2></body></html>`, loc)
}

func (e *Emulator) isMember(org *Org, c *caller) bool {
	for _, m := range org.Members {
		if c.UPN != "" && strings.EqualFold(m, c.UPN) {
			return true
		}
		if c.Kind != kindUser && (strings.EqualFold(m, c.AppID) || strings.EqualFold(m, c.OID)) {
			return true
		}
	}
	return false
}

// authDevOps authenticates a request to an organisation. With allowPAT,
// Basic ":PAT" is accepted; otherwise only Entra bearer tokens.
func (e *Emulator) authDevOps(w http.ResponseWriter, r *http.Request, org *Org, allowPAT bool) (*caller, bool) {
	authz := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(authz, " ")
	switch {
	case authz == "":
		e.unauthorized(w, org, "TF400813: The user '' is not authorized to access this resource. No credentials were supplied.")
		return nil, false
	case strings.EqualFold(scheme, "Bearer"):
		c, err := e.verifyAccessToken(strings.TrimSpace(cred), api.ResourceID, adoAppIDURI)
		if err != nil {
			e.unauthorized(w, org, "TF400813: The user '' is not authorized to access this resource. The access token is invalid or expired: "+err.Error()+".")
			return nil, false
		}
		if !strings.EqualFold(c.TID, org.TenantID) {
			e.unauthorized(w, org, fmt.Sprintf("TF400813: The user '%s' is not authorized to access this resource. The token was issued by tenant %s but organization '%s' is connected to tenant %s: sign in to that tenant.", c.OID, c.TID, org.Name, org.TenantID))
			return nil, false
		}
		if at, revoked := e.sessionRevokedAt(c); revoked {
			e.claimsChallenge(w, org, c.OID, at)
			return nil, false
		}
		cl := &caller{Kind: c.kind(), OID: c.OID, TID: c.TID, UPN: c.UPN, AppID: c.AppID, Scp: c.Scp}
		e.mu.RLock()
		if cl.Kind == kindUser {
			cl.User = e.idx.usersByOID[strings.ToLower(c.OID)]
		}
		e.mu.RUnlock()
		if !e.isMember(org, cl) {
			e.unauthorized(w, org, fmt.Sprintf("TF400813: The user '%s' is not authorized to access this resource: not a member of organization '%s'.", cl.name(), org.Name))
			return nil, false
		}
		return cl, true
	case strings.EqualFold(scheme, "Basic"):
		if !allowPAT {
			e.unauthorized(w, org, "TF400813: This API accepts only Microsoft Entra user access tokens (Bearer), not personal access tokens.")
			return nil, false
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			e.unauthorized(w, org, "TF400813: The Basic credential is not valid base64.")
			return nil, false
		}
		_, secret, _ := strings.Cut(string(raw), ":")
		now := e.now()
		e.mu.RLock()
		defer e.mu.RUnlock()
		id := e.st.patHash[hashSecret(secret)]
		p := e.st.PATs[id]
		if p == nil || p.Revoked || !now.Before(p.ValidTo) || now.Before(p.ValidFrom.Add(-time.Minute)) {
			e.unauthorized(w, org, "TF400813: The user '' is not authorized to access this resource. The personal access token is unknown, revoked or expired.")
			return nil, false
		}
		u := e.idx.usersByOID[strings.ToLower(p.OwnerOID)]
		if u == nil {
			e.unauthorized(w, org, "TF400813: The owner of this personal access token no longer exists.")
			return nil, false
		}
		if p.TargetAccounts != nil && !containsFold(p.TargetAccounts, org.ID) {
			e.unauthorized(w, org, fmt.Sprintf("TF400813: The personal access token is not valid for organization '%s'.", org.Name))
			return nil, false
		}
		if p.TargetAccounts == nil && e.globalPATsRetired(now) {
			e.unauthorized(w, org, fmt.Sprintf("TF400813: The user '' is not authorized to access this resource. Global personal access tokens were retired on %s and no longer work: create a personal access token for organization '%s'.",
				e.seed.GlobalPATRetirement.UTC().Format("2006-01-02"), org.Name))
			return nil, false
		}
		if p.TargetAccounts == nil && org.Policy.RestrictCreation && !containsFold(org.Policy.CreationAllowlist, u.UPN) {
			e.unauthorized(w, org, fmt.Sprintf("TF400813: Global personal access tokens are blocked in organization '%s' by the policy 'Restrict personal access token creation'.", org.Name))
			return nil, false
		}
		cl := &caller{Kind: kindUser, OID: u.ObjectID, TID: u.TenantID, UPN: u.UPN, User: u, PAT: p}
		if !e.isMember(org, cl) {
			e.unauthorized(w, org, fmt.Sprintf("TF400813: The user '%s' is not authorized to access this resource.", u.UPN))
			return nil, false
		}
		return cl, true
	default:
		e.unauthorized(w, org, "TF400813: Unsupported authorization scheme '"+scheme+"': use Bearer or Basic.")
		return nil, false
	}
}

// requireScope answers 401 when the caller's scopes grant none of want: a
// PAT's scope (app_token grants all), or the delegated permissions (scp) of
// an Entra user token (user_impersonation grants all). Service principals
// and managed identities carry no scopes; their access is the organisation's
// permissions. No want = any scope will do.
//
// The service answers a request its credential's scopes do not cover with
// 401 and the generic TF400813 message (observed for PATs lacking a scope;
// the wording for Entra tokens lacking vso.pats* is unconfirmed).
func (e *Emulator) requireScope(w http.ResponseWriter, org *Org, c *caller, want ...string) bool {
	switch {
	case len(want) == 0:
		return true
	case c.PAT != nil:
		if scopeGrants(c.PAT.Scope, want...) {
			return true
		}
	case c.Kind == kindUser:
		if delegationGrants(c.Scp, want...) {
			return true
		}
	default:
		return true
	}
	e.unauthorized(w, org, fmt.Sprintf("TF400813: The user '%s' is not authorized to access this resource.", c.name()))
	return false
}

// delegationGrants reports whether an Entra token's scp grants any of want.
func delegationGrants(scp string, want ...string) bool {
	for _, s := range strings.Fields(scp) {
		if s == permUserImpersonation {
			return true
		}
		for _, w := range want {
			if s == w {
				return true
			}
		}
	}
	return false
}

var apiVersionRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\d+)\.(\d+)(-preview(\.\d+)?)?$`) })

// apiVersion extracts api-version from the query or the Accept header.
func apiVersion(r *http.Request) string {
	if v := r.URL.Query().Get("api-version"); v != "" {
		return v
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "api-version") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// checkAPIVersion validates api-version against the versions a route
// supports; previewOnly routes need the -preview suffix.
func checkAPIVersion(w http.ResponseWriter, r *http.Request, supported []string, previewOnly bool) bool {
	v := apiVersion(r)
	if v == "" {
		writeVSSError(w, http.StatusBadRequest, "VssVersionNotSpecifiedException",
			fmt.Sprintf(`No api-version was supplied for the "%s" request. The version must be supplied either as part of the Accept header (e.g. "application/json; api-version=1.0") or as a query parameter (e.g. "?api-version=1.0").`, r.Method))
		return false
	}
	m := apiVersionRe().FindStringSubmatch(v)
	if m == nil {
		writeVSSError(w, http.StatusBadRequest, "VssInvalidApiVersionException", fmt.Sprintf("The api-version '%s' is not valid: use e.g. 7.1-preview.1.", v))
		return false
	}
	mm := m[1] + "." + m[2]
	ok := false
	for _, s := range supported {
		if s == mm {
			ok = true
		}
	}
	if !ok {
		writeVSSError(w, http.StatusBadRequest, "VssVersionOutOfRangeException",
			fmt.Sprintf("The requested REST API version of %s is out of range for this resource. Supported versions: %s.", v, strings.Join(supported, ", ")))
		return false
	}
	if previewOnly && m[3] == "" {
		writeVSSError(w, http.StatusBadRequest, "VssInvalidPreviewVersionException",
			fmt.Sprintf("The requested version \"%s\" of the resource is under preview. The -preview flag must be supplied in the api-version for such requests. For example: \"%s-preview\"", v, v))
		return false
	}
	return true
}

var (
	patVersions     = []string{"6.1", "7.0", "7.1", "7.2"}
	generalVersions = []string{"5.0", "5.1", "6.0", "6.1", "7.0", "7.1", "7.2"}
)

// SubjectDescriptor returns the graph subject descriptor the emulator uses
// for a user: "aad." + base64(objectId) (std encoding; 36-byte ids need no padding).
func (e *Emulator) SubjectDescriptor(upn string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.idx.users[strings.ToLower(upn)]
	if u == nil {
		return ""
	}
	return subjectDescriptor(u.ObjectID)
}

func subjectDescriptor(oid string) string {
	return "aad." + base64.StdEncoding.EncodeToString([]byte(oid))
}

func (e *Emulator) registerDevOps() {
	e.handle(http.MethodGet, "/vssps/{org}/_apis/tokens/pats", "ado", e.handlePatsGet)
	e.handle(http.MethodPost, "/vssps/{org}/_apis/tokens/pats", "ado", e.handlePatsCreate)
	e.handle(http.MethodPut, "/vssps/{org}/_apis/tokens/pats", "ado", e.handlePatsUpdate)
	e.handle(http.MethodDelete, "/vssps/{org}/_apis/tokens/pats", "ado", e.handlePatsRevoke)
	e.handle(http.MethodGet, "/vssps/{org}/_apis/tokenadmin/personalaccesstokens/{descriptor}", "ado", e.handleTokenAdminList)
	e.handle(http.MethodPost, "/vssps/{org}/_apis/tokenadmin/revocations", "ado", e.handleTokenAdminRevocations)
	e.handle(http.MethodPost, "/vssps/{org}/_apis/tokenadmin/revocationrules", "ado", e.handleTokenAdminRules)
	e.handle(http.MethodGet, "/devops/{org}/_apis/connectiondata", "ado", e.handleConnectionData)
	e.handle(http.MethodGet, "/vssps/{org}/_apis/connectiondata", "ado", e.handleConnectionData)
	e.handle(http.MethodGet, "/devops/{org}/_apis/projects", "ado", e.handleProjects)
	e.handle(http.MethodGet, "/devops/{org}/_apis/projects/{project}", "ado", e.handleProject)
	signin := func(w http.ResponseWriter, r *http.Request, _ params) {
		writeSignInPage(w, http.StatusNonAuthoritativeInfo)
	}
	e.handle(http.MethodGet, "/vssps/{org}/_signin", "ado", signin)
	e.handle(http.MethodGet, "/devops/{org}/_signin", "ado", signin)
	e.handle(http.MethodGet, "/devops/{org}", "ado", func(w http.ResponseWriter, r *http.Request, p params) {
		org := e.lookupOrg(w, p["org"])
		if org == nil {
			return
		}
		if _, ok := e.authDevOps(w, r, org, true); !ok {
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-VSS-ResourceTenant", org.TenantID)
		fmt.Fprintf(w, "<html><body>%s</body></html>", org.Name)
	})
}

// projectInfo is the (trimmed) TeamProjectReference of GET _apis/projects.
type projectInfo struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	State      string `json:"state"`
	Visibility string `json:"visibility"`
	URL        string `json:"url"`
}

// handleProjects serves GET {org}/_apis/projects (Bearer or Basic :PAT): the
// seeded projects, all wellFormed. Service-endpoint types such as
// externaltfs use it as their TestConnection data source.
func (e *Emulator) handleProjects(w http.ResponseWriter, r *http.Request, p params) {
	org := e.lookupOrg(w, p["org"])
	if org == nil {
		return
	}
	if _, ok := e.authDevOps(w, r, org, true); !ok {
		return
	}
	// Paging as the service does it: $top (default 100) and an opaque
	// continuationToken, the next one in the x-ms-continuationtoken header.
	top, skip := 100, 0
	if v := r.URL.Query().Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeVSSError(w, http.StatusBadRequest, "ArgumentException", fmt.Sprintf("$top %q is not a positive number.", v))
			return
		}
		top = n
	}
	if v := r.URL.Query().Get("continuationToken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeVSSError(w, http.StatusBadRequest, "ArgumentException", "continuationToken is not valid: pass the x-ms-continuationtoken of the previous page.")
			return
		}
		skip = n
	}
	out := api.ListOf[projectInfo]{Value: []projectInfo{}}
	for i := skip; i < len(org.Projects) && len(out.Value) < top; i++ {
		out.Value = append(out.Value, e.projectInfo(org, &org.Projects[i]))
	}
	if next := skip + len(out.Value); next < len(org.Projects) {
		w.Header().Set("X-MS-ContinuationToken", strconv.Itoa(next))
	}
	out.Count = len(out.Value)
	writeJSON(w, http.StatusOK, out)
}

// handleProject serves GET {org}/_apis/projects/{projectId} (id or name) as a
// TeamProject; an unknown project is the service's 404.
func (e *Emulator) handleProject(w http.ResponseWriter, r *http.Request, p params) {
	org := e.lookupOrg(w, p["org"])
	if org == nil {
		return
	}
	if _, ok := e.authDevOps(w, r, org, true); !ok {
		return
	}
	pr := findProject(org, p["project"])
	if pr == nil {
		writeVSSError(w, http.StatusNotFound, "ProjectDoesNotExistWithNameException",
			fmt.Sprintf("TF200016: The following project does not exist: %s. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server.", p["project"]))
		return
	}
	writeJSON(w, http.StatusOK, e.projectInfo(org, pr))
}

func (e *Emulator) projectInfo(org *Org, pr *Project) projectInfo {
	return projectInfo{ID: pr.ID, Name: pr.Name, State: "wellFormed", Visibility: "private",
		URL: e.DevOpsURL() + "/" + org.Name + "/_apis/projects/" + pr.ID}
}

func (e *Emulator) handleConnectionData(w http.ResponseWriter, r *http.Request, p params) {
	org := e.lookupOrg(w, p["org"])
	if org == nil {
		return
	}
	c, ok := e.authDevOps(w, r, org, true)
	if !ok {
		return
	}
	id := api.Identity{ID: c.OID, SubjectDescriptor: subjectDescriptor(c.OID),
		Descriptor: "Microsoft.IdentityModel.Claims.ClaimsIdentity;" + c.TID + "\\" + c.name()}
	if c.User != nil {
		id.ProviderDisplayName = c.User.DisplayName
	} else {
		id.ProviderDisplayName = c.AppID
	}
	w.Header().Set("X-VSS-ResourceTenant", org.TenantID)
	writeJSON(w, http.StatusOK, api.ConnectionData{AuthenticatedUser: id, AuthorizedUser: id, InstanceID: org.ID})
}
