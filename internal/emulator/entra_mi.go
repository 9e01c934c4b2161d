// Managed identity (App Service style endpoint).

package emulator

import (
	"net/http"
	"strconv"
	"strings"
)

// ---- managed identity (App Service style) ----

func (e *Emulator) handleMSI(w http.ResponseWriter, r *http.Request, _ params) {
	q := r.URL.Query()
	e.mu.Lock()
	want := e.seed.IdentityHeader
	mis := e.idx.mis
	e.mu.Unlock()
	msiErr := func(status int, msg string) {
		writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "correlationId": newGUID()})
	}
	if want == "" || r.Header.Get("X-IDENTITY-HEADER") != want {
		msiErr(http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or wrong: send the IDENTITY_HEADER value.")
		return
	}
	if q.Get("api-version") == "" {
		msiErr(http.StatusBadRequest, "api-version is required (2019-08-01).")
		return
	}
	resource := strings.TrimSuffix(strings.TrimSuffix(q.Get("resource"), "/.default"), "/")
	if resource == "" {
		msiErr(http.StatusBadRequest, "resource is required.")
		return
	}
	var mi *ManagedIdentity
	id := q.Get("client_id")
	if id == "" {
		id = q.Get("principal_id")
	}
	if id == "" {
		id = q.Get("object_id")
	}
	for _, m := range mis {
		if id == "" && (m.System || mi == nil) {
			if mi == nil || m.System {
				mi = m
			}
		}
		if id != "" && (strings.EqualFold(m.ClientID, id) || strings.EqualFold(m.ObjectID, id)) {
			mi = m
		}
	}
	if mi == nil {
		msiErr(http.StatusBadRequest, "No managed identity found for specified ClientId/ResourceId/PrincipalId.")
		return
	}
	lt := e.lifetime()
	at, exp, err := e.issueAccessToken(principal{Kind: kindMI, OID: mi.ObjectID, TID: mi.TenantID, AppID: mi.ClientID, ACR: acrCertificate}, resource, "", lt)
	if err != nil {
		msiErr(http.StatusInternalServerError, "token signing failed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "expires_on": strconv.FormatInt(exp.Unix(), 10),
		"resource": resource, "token_type": "Bearer", "client_id": mi.ClientID})
}
