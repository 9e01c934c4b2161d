// The token endpoint and its grants: password (ROPC), client credentials,
// refresh token.

package emulator

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ---- token endpoint ----

// tenantForm parses the form body of a token or device-code request and
// resolves its {tenant}; on failure it has written the AADSTS answer. tenant
// is nil for an alias (common, organizations) that names no tenant.
func (e *Emulator) tenantForm(w http.ResponseWriter, r *http.Request, p params) (tenant *Tenant, ok bool) {
	if err := r.ParseForm(); err != nil {
		e.writeAADError(w, &aadErr{400, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded.", ""})
		return nil, false
	}
	tenant, alias := e.resolveTenant(p["tenant"])
	if tenant == nil && !alias {
		e.writeAADError(w, errUnknownTenant(p["tenant"]))
		return nil, false
	}
	return tenant, true
}

func (e *Emulator) handleToken(w http.ResponseWriter, r *http.Request, p params) {
	tenant, ok := e.tenantForm(w, r, p)
	if !ok {
		return
	}
	switch g := r.PostForm.Get("grant_type"); g {
	case grantPassword:
		e.grantPassword(w, r, tenant, strings.ToLower(p["tenant"]))
	case grantClientCreds:
		e.grantClientCredentials(w, r, tenant)
	case grantRefresh:
		e.grantRefreshToken(w, r, tenant)
	case grantDeviceCode, "device_code": // MSAL sends the short form
		e.grantDeviceCode(w, r, tenant)
	case "":
		e.writeAADError(w, &aadErr{400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.", ""})
	default:
		e.writeAADError(w, &aadErr{400, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", g), ""})
	}
}

func (e *Emulator) grantPassword(w http.ResponseWriter, r *http.Request, tenant *Tenant, seg string) {
	if seg == "common" || seg == "consumers" {
		e.writeAADError(w, &aadErr{400, "invalid_request", 90002, fmt.Sprintf("The resource owner password grant cannot use the '%s' authority: use the tenant id or domain.", seg), ""})
		return
	}
	app, acr, aerr := e.authClient(r, tenant, false)
	if aerr != nil {
		e.writeAADError(w, aerr)
		return
	}
	scope := r.PostForm.Get("scope")
	req, err := parseScope(scope)
	if err != nil {
		e.writeAADError(w, errInvalidScope(err))
		return
	}
	upn := r.PostForm.Get("username")
	e.mu.Lock()
	u := e.idx.users[strings.ToLower(upn)]
	e.mu.Unlock()
	tname := seg
	if tenant != nil {
		tname = tenant.ID
	}
	if u == nil || u.Deleted || (tenant != nil && !strings.EqualFold(u.TenantID, tenant.ID)) {
		e.writeAADError(w, &aadErr{400, "invalid_grant", 50034, fmt.Sprintf("The user account {EUII Hidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", tname), ""})
		return
	}
	if u.Password == "" || r.PostForm.Get("password") != u.Password {
		e.writeAADError(w, &aadErr{400, "invalid_grant", 50126, "Error validating credentials due to invalid username or password.", ""})
		return
	}
	if u.Disabled {
		e.writeAADError(w, &aadErr{400, "invalid_grant", 50057, "The user account is disabled.", "user_account_disabled"})
		return
	}
	if u.MFARequired {
		e.writeAADError(w, &aadErr{400, "invalid_grant", 50076, fmt.Sprintf("Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '%s'.", req.Resource), "basic_action"})
		return
	}
	e.issueUserTokens(w, r, userGrant{User: u, App: app, ACR: acr, AMR: []string{"pwd"}, Req: req, Scope: scope})
}

func (e *Emulator) grantClientCredentials(w http.ResponseWriter, r *http.Request, tenant *Tenant) {
	if tenant == nil {
		e.writeAADError(w, &aadErr{400, "invalid_request", 90002, "Client credentials need a tenant-specific authority: use the tenant id or domain, not common/organizations.", ""})
		return
	}
	app, acr, aerr := e.authClient(r, tenant, true)
	if aerr != nil {
		e.writeAADError(w, aerr)
		return
	}
	scope := r.PostForm.Get("scope")
	req, err := parseScope(scope)
	if err != nil || !req.isDefault() {
		e.writeAADError(w, &aadErr{400, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope), ""})
		return
	}
	lt := e.lifetime()
	var roles []string
	if isGraphResource(req.Resource) {
		roles = app.GraphRoles
	}
	at, _, err := e.issueAccessToken(principal{Kind: kindApp, OID: app.ObjectID, TID: app.TenantID, AppID: app.ClientID, Name: app.DisplayName, ACR: acr, Roles: roles}, req.Resource, "", lt)
	if err != nil {
		e.writeAADError(w, &aadErr{500, "server_error", 90033, "A transient error has occurred. Please try again.", ""})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "access_token": at, "scope": req.Resource + "/.default",
		"expires_in": int(lt / time.Second), "ext_expires_in": int(lt / time.Second)})
}

func (e *Emulator) grantRefreshToken(w http.ResponseWriter, r *http.Request, tenant *Tenant) {
	app, acr, aerr := e.authClient(r, tenant, false)
	if aerr != nil {
		e.writeAADError(w, aerr)
		return
	}
	rt := r.PostForm.Get("refresh_token")
	h := hashSecret(rt)
	now := e.now().UTC()
	e.mu.Lock()
	rec := e.st.Refresh[h]
	var fail *aadErr
	switch {
	case rt == "" || rec == nil:
		fail = &aadErr{400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid: the refresh token is unknown.", ""}
	case !strings.EqualFold(rec.ClientID, app.ClientID):
		fail = &aadErr{400, "invalid_grant", 70000, "Provided grant is invalid or malformed: the refresh token was issued to a different client.", ""}
	case rec.Revoked || rec.Rotated:
		fail = &aadErr{400, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.", ""}
	case now.Sub(rec.LastUsed) > time.Duration(e.seed.RefreshTokenLifetime):
		fail = &aadErr{400, "invalid_grant", 700082, fmt.Sprintf("The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.", rec.IssuedAt.Format(time.RFC3339), time.Duration(e.seed.RefreshTokenLifetime)), ""}
	case tenant != nil && !strings.EqualFold(rec.TenantID, tenant.ID):
		fail = &aadErr{400, "invalid_grant", 9002313, "Invalid request: the refresh token belongs to another tenant.", ""}
	}
	var u *User
	if fail == nil {
		u = e.idx.usersByOID[strings.ToLower(rec.SubjectOID)]
		switch {
		case u == nil || u.Deleted:
			fail = &aadErr{400, "invalid_grant", 50034, "The user account does not exist in the directory.", ""}
		case u.Disabled:
			fail = &aadErr{400, "invalid_grant", 50057, "The user account is disabled.", "user_account_disabled"}
		default:
			rec.Rotated = true // the old token is invalidated; a new one is issued below
			e.saveLocked()
		}
	}
	e.mu.Unlock()
	if fail != nil {
		e.writeAADError(w, fail)
		return
	}
	scope := r.PostForm.Get("scope")
	if strings.TrimSpace(scope) == "" {
		scope = rec.Scope
	}
	req, err := parseScope(scope)
	if err != nil {
		e.writeAADError(w, errInvalidScope(err))
		return
	}
	req.Offline = true // a refresh token is always renewed
	e.issueUserTokens(w, r, userGrant{User: u, App: app, ACR: acr, AMR: rec.AMR, Req: req, Scope: scope})
}

// RevokeRefreshTokens revokes every refresh token of a user (like "revoke
// sessions" or a password reset); later use fails with AADSTS50173.
func (e *Emulator) RevokeRefreshTokens(upn string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.idx.users[strings.ToLower(upn)]
	if u == nil {
		return 0
	}
	n := 0
	for _, rec := range e.st.Refresh {
		if strings.EqualFold(rec.SubjectOID, u.ObjectID) && !rec.Revoked && !rec.Rotated {
			rec.Revoked = true
			n++
		}
	}
	e.saveLocked()
	return n
}
