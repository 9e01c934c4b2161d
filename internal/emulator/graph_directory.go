// Microsoft Graph: the users of the directory and JSON batching, the subset
// `patrol audit` calls to know whether the owners of PATs are still there:
//
//	GET  /v1.0/users/{id | userPrincipalName}[?$select=…]
//	POST /v1.0/$batch   {"requests":[{"id","method","url"[,"headers"][,"body"]}]} (at most 20)
//
// A user deleted in Entra ID (seed users[].deleted) is 404
// Request_ResourceNotFound, as Graph answers for a deleted user; a disabled
// one has accountEnabled false. Reading another user needs User.Read.All (or
// User.ReadWrite.All, Directory.Read.All, Directory.ReadWrite.All): the
// roles of an app-only token or the scp of a delegated one (delegated also
// Directory.AccessAsUser.All); a user may always read itself.

package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
)

// Graph permissions that read other users' accountEnabled.
var graphUserReadPerms = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}

// graphAppReadScp are the delegated permissions with which a user reads any
// application of its tenant (Graph's default user permissions let members
// read application registrations).
var graphAppReadScp = []string{graphRoleReadAll, graphRoleReadWriteAll, "Directory.Read.All", "Directory.ReadWrite.All"}

// maxBatchRequests is Graph's limit of requests per JSON batch.
const maxBatchRequests = 20

// userProps are the user properties the emulator knows, in Graph's
// spelling; userDefaultProps those Graph returns without $select.
var (
	userProps        = []string{"id", "accountEnabled", "userPrincipalName", "displayName", "mail", "deletedDateTime", "userType", "givenName", "surname", "jobTitle", "businessPhones", "mobilePhone", "officeLocation", "preferredLanguage"}
	userDefaultProps = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}
)

func (e *Emulator) registerGraphDirectory() {
	e.handle(http.MethodGet, "/v1.0/users/{id}", "graph", e.handleGraphUser)
	e.handle(http.MethodPost, "/v1.0/$batch", "graph", e.handleGraphBatch)
}

// mayReadUsers: the caller may read other users' accountEnabled.
func mayReadUsers(c *tokenClaims) bool {
	if c.kind() == kindUser {
		for _, p := range strings.Fields(c.Scp) {
			if containsFold(graphUserReadPerms, p) || strings.EqualFold(p, "Directory.AccessAsUser.All") {
				return true
			}
		}
		return false
	}
	for _, r := range c.Roles {
		if containsFold(graphUserReadPerms, r) {
			return true
		}
	}
	return false
}

// delegatedAppReader: a user token whose scp reads every application.
func delegatedAppReader(c *tokenClaims) bool {
	if c.kind() != kindUser {
		return false
	}
	for _, p := range strings.Fields(c.Scp) {
		if containsFold(graphAppReadScp, p) {
			return true
		}
	}
	return false
}

func (u *User) graphProp(name string) any {
	switch name {
	case "id":
		return u.ObjectID
	case "accountEnabled":
		return !u.Disabled
	case "userPrincipalName":
		return u.UPN
	case "displayName":
		return nilIfEmpty(u.DisplayName)
	case "mail":
		return u.UPN
	case "userType":
		return "Member"
	case "businessPhones":
		return []string{}
	}
	return nil // deletedDateTime (null for a user that exists), names, phones
}

func (e *Emulator) handleGraphUser(w http.ResponseWriter, r *http.Request, p params) {
	c, ok := e.graphCaller(w, r)
	if !ok {
		return
	}
	props := userDefaultProps
	if sel := r.URL.Query().Get("$select"); sel != "" {
		props = nil
		for _, s := range strings.Split(sel, ",") {
			s = strings.TrimSpace(s)
			i := indexFold(userProps, s)
			if i < 0 {
				writeGraphError(w, http.StatusBadRequest, "BadRequest",
					fmt.Sprintf("Parsing OData Select and Expand failed: Could not find a property named '%s' on type 'microsoft.graph.user'.", s))
				return
			}
			props = append(props, userProps[i])
		}
	}
	ref := p["id"]
	e.mu.Lock()
	u := e.idx.usersByOID[strings.ToLower(ref)]
	if u == nil {
		u = e.idx.users[strings.ToLower(ref)]
	}
	e.mu.Unlock()
	self := u != nil && strings.EqualFold(u.ObjectID, c.OID) && c.kind() == kindUser
	if !self && !mayReadUsers(c) {
		writeGraphDenied(w)
		return
	}
	if u == nil || u.Deleted || !strings.EqualFold(u.TenantID, c.TID) {
		writeGraphNotFound(w, ref)
		return
	}
	out := map[string]any{}
	for _, name := range props {
		out[name] = u.graphProp(name)
	}
	ctx := "users/$entity"
	if r.URL.Query().Get("$select") != "" {
		ctx = "users(" + strings.Join(props, ",") + ")/$entity"
	}
	out["@odata.context"] = e.graphContext(ctx)
	writeGraphJSON(w, http.StatusOK, out)
}

func indexFold(list []string, v string) int {
	for i, s := range list {
		if strings.EqualFold(s, v) {
			return i
		}
	}
	return -1
}

// batchRequest and batchResponse are JSON batching's shapes.
type batchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// handleGraphBatch runs each request of a JSON batch against the emulator's
// Graph routes with the batch's Authorization, in order, and answers 200
// with every response (a failed request is a response with its status, not
// a failed batch). Sub-requests are not HTTP requests: Counters counts the
// batch only.
func (e *Emulator) handleGraphBatch(w http.ResponseWriter, r *http.Request, _ params) {
	if _, ok := e.graphCaller(w, r); !ok {
		return
	}
	var in struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := readJSON(r, &in); err != nil || len(in.Requests) == 0 {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	if len(in.Requests) > maxBatchRequests {
		writeGraphError(w, http.StatusBadRequest, "BadRequest", "Number of requests inside batch exceeds the limit.")
		return
	}
	seen := map[string]bool{}
	for _, br := range in.Requests {
		if br.ID == "" || seen[br.ID] || br.Method == "" || !strings.HasPrefix(br.URL, "/") {
			writeGraphError(w, http.StatusBadRequest, "BadRequest", "Invalid batch payload format: every request needs a unique id, a method and a relative url (/users/…).")
			return
		}
		seen[br.ID] = true
	}
	out := make([]batchResponse, 0, len(in.Requests))
	for _, br := range in.Requests {
		out = append(out, e.runBatchRequest(r, br))
	}
	writeGraphJSON(w, http.StatusOK, map[string]any{"responses": out})
}

func (e *Emulator) runBatchRequest(outer *http.Request, br batchRequest) batchResponse {
	// Relative to the batch's version; Microsoft's SDKs also send the
	// version ("/v1.0/users/…") when given a full URL.
	rel := br.URL
	if len(rel) > 5 && strings.EqualFold(rel[:6], "/v1.0/") {
		rel = rel[5:]
	}
	u, err := url.Parse("/v1.0" + rel)
	if err != nil {
		return batchError(br.ID, http.StatusBadRequest, "BadRequest", "Invalid request URL: "+br.URL)
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	var found *route
	var p params
	for _, rt := range e.routes {
		if rt.area != "graph" || rt.tmpl == "/v1.0/$batch" || !strings.EqualFold(rt.method, br.Method) {
			continue
		}
		if pp, ok := rt.match(segs); ok {
			found, p = rt, pp
			break
		}
	}
	if found == nil {
		return batchError(br.ID, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", segs[len(segs)-1]))
	}
	var body *bytes.Reader
	if len(br.Body) > 0 {
		body = bytes.NewReader(br.Body)
	} else {
		body = bytes.NewReader(nil)
	}
	req := httptest.NewRequestWithContext(outer.Context(), strings.ToUpper(br.Method), u.String(), body)
	req.Header.Set("Authorization", outer.Header.Get("Authorization"))
	for k, v := range br.Headers {
		if !strings.EqualFold(k, "Authorization") {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	found.h(rec, req, p)
	res := batchResponse{ID: br.ID, Status: rec.Code, Headers: map[string]string{}}
	if ct := rec.Header().Get("Content-Type"); ct != "" {
		res.Headers["Content-Type"] = ct
	}
	if b := bytes.TrimSpace(rec.Body.Bytes()); len(b) > 0 && json.Valid(b) {
		res.Body = b
	}
	return res
}

func batchError(id string, status int, code, msg string) batchResponse {
	rec := httptest.NewRecorder()
	writeGraphError(rec, status, code, msg)
	return batchResponse{ID: id, Status: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: bytes.TrimSpace(rec.Body.Bytes())}
}
