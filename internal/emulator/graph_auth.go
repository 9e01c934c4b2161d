// Microsoft Graph: who may call it (tokens for https://graph.microsoft.com)
// and what they may do with an application, and Graph's error bodies.

package emulator

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// Graph application permissions (the roles claim of app-only tokens).
const (
	graphRoleReadWriteOwnedBy = "Application.ReadWrite.OwnedBy"
	graphRoleReadWriteAll     = "Application.ReadWrite.All"
	graphRoleReadAll          = "Application.Read.All"
)

type graphAccess int

const (
	accessRead graphAccess = iota
	accessWrite
)

func isGraphResource(res string) bool {
	r := canonicalResource(res)
	return r == graphResource || r == graphAppID
}

// graphCaller checks the bearer token; on failure it has answered 401 as Graph does.
func (e *Emulator) graphCaller(w http.ResponseWriter, r *http.Request) (*tokenClaims, bool) {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		writeGraphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return nil, false
	}
	c, err := e.verifyAccessToken(strings.TrimSpace(raw), graphResource, graphAppID)
	if err != nil {
		writeGraphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience, signature or lifetime.")
		return nil, false
	}
	return c, true
}

// graphApp resolves the application of the route ({id} = object id or
// {appId}) for a caller allowed the access; otherwise it has answered.
func (e *Emulator) graphApp(w http.ResponseWriter, r *http.Request, p params, access graphAccess) (*App, bool) {
	c, ok := e.graphCaller(w, r)
	if !ok {
		return nil, false
	}
	ref := p["id"]
	e.mu.Lock()
	var app *App
	if ref == "" {
		ref = p["appId"]
		app = e.idx.apps[strings.ToLower(ref)]
	} else {
		app = e.idx.appsByObjectID[strings.ToLower(ref)]
	}
	e.mu.Unlock()
	if app == nil || !strings.EqualFold(app.TenantID, c.TID) {
		writeGraphNotFound(w, ref)
		return nil, false
	}
	if !e.mayAccess(c, app, access) {
		writeGraphDenied(w)
		return nil, false
	}
	return app, true
}

// mayAccess applies Graph's rules for application credentials: an app-only
// caller needs Application.ReadWrite.All, or Application.ReadWrite.OwnedBy
// and to be an owner (Application.Read.All reads); a delegated caller must
// be an owner of the application, or read it with a scp of
// Application.Read.All (graphAppReadScp).
func (e *Emulator) mayAccess(c *tokenClaims, app *App, access graphAccess) bool {
	owner := e.isOwner(c, app)
	if c.kind() == kindUser {
		return owner || (access == accessRead && delegatedAppReader(c))
	}
	for _, role := range c.Roles {
		switch {
		case strings.EqualFold(role, graphRoleReadWriteAll):
			return true
		case strings.EqualFold(role, graphRoleReadWriteOwnedBy) && owner:
			return true
		case strings.EqualFold(role, graphRoleReadAll) && access == accessRead:
			return true
		}
	}
	return false
}

// isOwner: the caller (user by UPN or object id, app by client id or
// service principal object id) is listed in app.Owners.
func (e *Emulator) isOwner(c *tokenClaims, app *App) bool {
	for _, o := range app.Owners {
		if strings.EqualFold(o, c.OID) || (c.UPN != "" && strings.EqualFold(o, c.UPN)) || (c.kind() != kindUser && strings.EqualFold(o, c.AppID)) {
			return true
		}
	}
	return false
}

// ---- Graph responses ----

func writeGraphJSON(w http.ResponseWriter, status int, v any) {
	id := newGUID()
	w.Header().Set("request-id", id)
	w.Header().Set("client-request-id", id)
	w.Header().Set("OData-Version", "4.0")
	writeJSON(w, status, v)
}

// writeGraphError writes Graph's error body {"error":{"code","message","innerError"}}.
func writeGraphError(w http.ResponseWriter, status int, code, msg string) {
	id := newGUID()
	w.Header().Set("request-id", id)
	w.Header().Set("client-request-id", id)
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]any{"request-id": id, "client-request-id": id}}})
}

func writeGraphDenied(w http.ResponseWriter) {
	writeGraphError(w, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
}

func writeGraphNotFound(w http.ResponseWriter, ref string) {
	writeGraphError(w, http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", ref))
}

// newGUIDFrom derives a stable GUID-shaped id from b.
func newGUIDFrom(b []byte) string {
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:16])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}
