package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	grantPassword     = "password"
	grantClientCreds  = "client_credentials"
	grantRefresh      = "refresh_token"
	grantDeviceCode   = "urn:ietf:params:oauth:grant-type:device_code"
	assertionTypeJWT  = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	defaultLifetime   = 3599 * time.Second
	deviceCodeTTL     = 900 * time.Second
	vaultResource     = "https://vault.azure.net"
	federatedAudience = "api://AzureADTokenExchange"
)

// identity kinds of the idtyp claim and principals.
const (
	kindUser = "user"
	kindApp  = "app"
	kindMI   = "mi"
)

// principal is who a token is issued to.
type principal struct {
	Kind  string // user | app | mi
	OID   string
	TID   string
	UPN   string
	AppID string
	Name  string
}

// tokenClaims is what the emulator reads back from its own access tokens.
type tokenClaims struct {
	jwt.RegisteredClaims
	TID   string   `json:"tid"`
	OID   string   `json:"oid"`
	IDTyp string   `json:"idtyp"`
	UPN   string   `json:"upn,omitempty"`
	AppID string   `json:"appid"`
	Scp   string   `json:"scp,omitempty"`
	MIRID string   `json:"xms_mirid,omitempty"`
	Ver   string   `json:"ver"`
	Name  string   `json:"name,omitempty"`
	Roles []string `json:"roles,omitempty"`
}

func (c *tokenClaims) kind() string {
	switch {
	case c.IDTyp == "user":
		return kindUser
	case c.MIRID != "":
		return kindMI
	default:
		return kindApp
	}
}

func (e *Emulator) lifetime() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.faults.TokenLifetime > 0 {
		return time.Duration(e.faults.TokenLifetime)
	}
	return defaultLifetime
}

// issueAccessToken signs an RS256 access token.
func (e *Emulator) issueAccessToken(p principal, aud, scp string, lifetime time.Duration) (string, time.Time, error) {
	now := e.now().UTC()
	exp := now.Add(lifetime)
	c := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Audience:  jwt.ClaimStrings{aud},
			Issuer:    e.url + "/" + p.TID + "/v2.0",
			Subject:   p.OID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        newGUID(),
		},
		TID: p.TID, OID: p.OID, AppID: p.AppID, Ver: "2.0", Name: p.Name,
	}
	if p.Kind == kindUser {
		c.IDTyp, c.UPN, c.Scp = "user", p.UPN, scp
	} else {
		c.IDTyp = "app"
		if p.Kind == kindMI {
			c.MIRID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + p.AppID
		}
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = e.pki.kid
	s, err := t.SignedString(e.pki.signKey)
	return s, exp, err
}

// verifyAccessToken checks signature, expiry and audience of an emulator token.
func (e *Emulator) verifyAccessToken(raw, aud string) (*tokenClaims, error) {
	var c tokenClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return &e.pki.signKey.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(e.now), jwt.WithAudience(aud), jwt.WithExpirationRequired())
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// ---- Entra error bodies ----

type aadErr struct {
	status   int
	err      string
	code     int
	desc     string
	suberror string
}

func (a *aadErr) Error() string { return fmt.Sprintf("AADSTS%d: %s", a.code, a.desc) }

func (e *Emulator) writeAADError(w http.ResponseWriter, a *aadErr) {
	trace, corr := newGUID(), newGUID()
	ts := e.now().UTC().Format("2006-01-02 15:04:05Z")
	body := map[string]any{
		"error": a.err,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			a.code, a.desc, trace, corr, ts),
		"error_codes":    []int{a.code},
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      e.url + "/error?code=" + strconv.Itoa(a.code),
	}
	if a.suberror != "" {
		body["suberror"] = a.suberror
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, a.status, body)
}

func errUnknownTenant(t string) *aadErr {
	return &aadErr{400, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", t), ""}
}

// resolveTenant maps a tenant path segment; alias reports common/organizations/consumers.
func (e *Emulator) resolveTenant(seg string) (t *Tenant, alias bool) {
	switch strings.ToLower(seg) {
	case "common", "organizations", "consumers":
		return nil, true
	}
	return e.idx.tenants[strings.ToLower(seg)], false
}

// ---- discovery ----

func (e *Emulator) registerEntra() {
	e.handle(http.MethodGet, "/common/userrealm/{user}", "entra", e.handleUserRealm)
	e.handle(http.MethodGet, "/msi/token", "entra", e.handleMSI)
	e.handle(http.MethodGet, "/devicelogin", "entra", func(w http.ResponseWriter, r *http.Request, _ params) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<html><body><p>patrol emulator: approve device codes with Emulator.ApproveDeviceCode or POST /_emulator/devicecode/approve.</p></body></html>")
	})
	e.handle(http.MethodGet, "/{tenant}/v2.0/.well-known/openid-configuration", "entra", e.handleOpenIDConfig)
	e.handle(http.MethodGet, "/{tenant}/discovery/v2.0/keys", "entra", e.handleJWKS)
	e.handle(http.MethodPost, "/{tenant}/oauth2/v2.0/token", "entra", e.handleToken).grant = true
	e.handle(http.MethodPost, "/{tenant}/oauth2/v2.0/devicecode", "entra", e.handleDeviceCode)
}

func (e *Emulator) handleOpenIDConfig(w http.ResponseWriter, r *http.Request, p params) {
	seg := p["tenant"]
	t, alias := e.resolveTenant(seg)
	if t == nil && !alias {
		e.writeAADError(w, errUnknownTenant(seg))
		return
	}
	issuerTenant := "{tenantid}"
	if t != nil {
		issuerTenant = t.ID
	}
	base := e.url + "/" + seg
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                e.url + "/" + issuerTenant + "/v2.0",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          "graph.microsoft.com",
	})
}

func (e *Emulator) handleJWKS(w http.ResponseWriter, r *http.Request, _ params) {
	pub := &e.pki.signKey.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "kid": e.pki.kid, "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

func (e *Emulator) handleUserRealm(w http.ResponseWriter, r *http.Request, p params) {
	user := p["user"]
	_, domain, _ := strings.Cut(user, "@")
	e.mu.Lock()
	t := e.idx.tenants[strings.ToLower(domain)]
	e.mu.Unlock()
	body := map[string]any{"ver": "1.0", "NameSpaceType": "Managed", "account_type": "Managed",
		"domain_name": domain, "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline"}
	if t == nil {
		body["account_type"], body["NameSpaceType"] = "Unknown", "Unknown"
	}
	writeJSON(w, http.StatusOK, body)
}

// ---- scopes ----

// resourceOf splits a requested scope into resource (aud), delegated scp and
// whether offline_access/openid were asked for.
func resourceOf(scope string) (resource, scp string, offline, openid bool, err error) {
	for _, s := range strings.Fields(scope) {
		switch strings.ToLower(s) {
		case "offline_access":
			offline = true
			continue
		case "openid":
			openid = true
			continue
		case "profile", "email":
			continue
		}
		if resource != "" {
			continue // one resource per request; extra scopes of the same resource are folded
		}
		i := strings.LastIndex(s, "/")
		if i <= 0 {
			return "", "", false, false, fmt.Errorf("scope %q has no resource: use <resource>/.default", s)
		}
		resource, scp = s[:i], s[i+1:]
		if scp == ".default" {
			scp = "user_impersonation"
		}
	}
	if resource == "" {
		return "", "", offline, openid, errors.New("no resource scope was requested: add e.g. 499b84ac-1321-427f-aa17-267ca6975798/.default")
	}
	return resource, scp, offline, openid, nil
}

// ---- client authentication ----

// authClient authenticates the calling app. needSecret: the grant is
// confidential-only (client_credentials).
func (e *Emulator) authClient(r *http.Request, tenant *Tenant, needSecret bool) (*App, *aadErr) {
	f := r.PostForm
	clientID := f.Get("client_id")
	secret := f.Get("client_secret")
	if secret == "" {
		if u, pw, ok := r.BasicAuth(); ok {
			clientID, secret = u, pw
		}
	}
	e.mu.Lock()
	app := e.idx.apps[strings.ToLower(clientID)]
	e.mu.Unlock()
	tname := "common"
	if tenant != nil {
		tname = tenant.ID
	}
	if clientID == "" {
		return nil, &aadErr{400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.", ""}
	}
	if app == nil || (tenant != nil && !strings.EqualFold(app.TenantID, tenant.ID)) {
		return nil, &aadErr{400, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", clientID, tname), ""}
	}
	if secret != "" {
		for _, s := range app.Secrets {
			if s == secret {
				return app, nil
			}
		}
		return nil, &aadErr{401, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.ClientID), ""}
	}
	if a := f.Get("client_assertion"); a != "" {
		if f.Get("client_assertion_type") != assertionTypeJWT {
			return nil, &aadErr{400, "invalid_request", 700025, "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.", ""}
		}
		if aerr := e.verifyAssertion(app, a); aerr != nil {
			return nil, aerr
		}
		return app, nil
	}
	if needSecret || !app.PublicClient {
		return nil, &aadErr{401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", ""}
	}
	return app, nil
}

// verifyAssertion accepts a certificate-signed client assertion (RS256/PS256,
// iss=sub=client id, aud = an emulator token endpoint) or a federated
// (workload identity) assertion matching one of the app's federated credentials.
func (e *Emulator) verifyAssertion(app *App, assertion string) *aadErr {
	var mc jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(assertion, &mc); err != nil {
		return &aadErr{401, "invalid_client", 50027, "JWT token is invalid or malformed.", ""}
	}
	iss, _ := mc.GetIssuer()
	sub, _ := mc.GetSubject()
	auds, _ := mc.GetAudience()
	methods := jwt.WithValidMethods([]string{"RS256", "PS256", "RS384", "RS512", "PS384", "PS512", "ES256", "ES384"})
	if iss == app.ClientID && sub == app.ClientID {
		if len(app.Certificates) == 0 {
			return &aadErr{401, "invalid_client", 700027, fmt.Sprintf("Client assertion failed signature validation: app '%s' has no certificate registered.", app.ClientID), ""}
		}
		for _, pemText := range app.Certificates {
			cert, err := parseCertPEM(pemText)
			if err != nil {
				continue
			}
			_, err = jwt.Parse(assertion, func(*jwt.Token) (any, error) { return cert.PublicKey, nil }, methods,
				jwt.WithTimeFunc(e.now), jwt.WithExpirationRequired())
			if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) {
				return &aadErr{401, "invalid_client", 700024, "Client assertion is not within its valid time range.", ""}
			}
			if err != nil {
				continue
			}
			okAud := false
			for _, a := range auds {
				if strings.HasPrefix(a, e.url+"/") && (strings.HasSuffix(a, "/oauth2/v2.0/token") || strings.HasSuffix(a, "/oauth2/token")) {
					okAud = true
				}
			}
			if !okAud {
				return &aadErr{401, "invalid_client", 700021, fmt.Sprintf("Client assertion audience claim does not match Realm issuer: %v must be this authority's token endpoint.", []string(auds)), ""}
			}
			return nil
		}
		return &aadErr{401, "invalid_client", 700027, "Client assertion failed signature validation.", ""}
	}
	for _, fc := range app.FederatedCredentials {
		if fc.Issuer != iss || fc.Subject != sub {
			continue
		}
		want := fc.Audience
		if want == "" {
			want = federatedAudience
		}
		if !containsFold(auds, want) {
			continue
		}
		var err error
		if fc.IssuerKeyPEM != "" {
			key, kerr := parsePublicKeyPEM(fc.IssuerKeyPEM)
			if kerr != nil {
				return &aadErr{401, "invalid_client", 700027, "Client assertion failed signature validation: the federated credential's issuer key is unusable.", ""}
			}
			_, err = jwt.Parse(assertion, func(*jwt.Token) (any, error) { return key, nil }, methods,
				jwt.WithTimeFunc(e.now), jwt.WithExpirationRequired())
		} else {
			exp, _ := mc.GetExpirationTime()
			if exp == nil || !exp.After(e.now()) {
				err = jwt.ErrTokenExpired
			}
		}
		if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) {
			return &aadErr{400, "invalid_client", 700024, "Client assertion is not within its valid time range.", ""}
		}
		if err != nil {
			return &aadErr{401, "invalid_client", 700027, "Client assertion failed signature validation.", ""}
		}
		return nil
	}
	return &aadErr{400, "invalid_client", 70021, fmt.Sprintf("No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.", iss, sub, strings.Join(auds, ",")), ""}
}

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
	app, aerr := e.authClient(r, tenant, false)
	if aerr != nil {
		e.writeAADError(w, aerr)
		return
	}
	scope := r.PostForm.Get("scope")
	resource, scp, offline, openid, err := resourceOf(scope)
	if err != nil {
		e.writeAADError(w, &aadErr{400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. " + err.Error(), ""})
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
	if u == nil || (tenant != nil && !strings.EqualFold(u.TenantID, tenant.ID)) {
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
		e.writeAADError(w, &aadErr{400, "invalid_grant", 50076, fmt.Sprintf("Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '%s'.", resource), "basic_action"})
		return
	}
	if !app.ConsentGranted {
		e.writeAADError(w, &aadErr{400, "invalid_grant", 65001, fmt.Sprintf("The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", app.ClientID, app.DisplayName), "consent_required"})
		return
	}
	e.issueUserTokens(w, r, u, app, resource, scp, scope, offline, openid)
}

func (e *Emulator) userPrincipal(u *User, app *App) principal {
	return principal{Kind: kindUser, OID: u.ObjectID, TID: u.TenantID, UPN: u.UPN, AppID: app.ClientID, Name: u.DisplayName}
}

// issueUserTokens writes a delegated token response (refresh token with offline_access).
func (e *Emulator) issueUserTokens(w http.ResponseWriter, r *http.Request, u *User, app *App, resource, scp, scope string, offline, openid bool) {
	lt := e.lifetime()
	at, _, err := e.issueAccessToken(e.userPrincipal(u, app), resource, scp, lt)
	if err != nil {
		e.writeAADError(w, &aadErr{500, "server_error", 90033, "A transient error has occurred. Please try again.", ""})
		return
	}
	granted := resource + "/" + scp
	for _, s := range strings.Fields(scope) {
		if strings.HasSuffix(s, "/.default") {
			granted = s // echo what was asked, as MSAL checks for declined scopes
		}
	}
	resp := map[string]any{"token_type": "Bearer", "access_token": at,
		"expires_in": int(lt / time.Second), "ext_expires_in": int(lt / time.Second)}
	if openid {
		granted += " openid profile"
		now := e.now().UTC()
		idt := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"aud": app.ClientID, "iss": e.url + "/" + u.TenantID + "/v2.0", "iat": now.Unix(), "nbf": now.Unix(),
			"exp": now.Add(time.Hour).Unix(), "sub": u.ObjectID, "oid": u.ObjectID, "tid": u.TenantID,
			"preferred_username": u.UPN, "name": u.DisplayName, "ver": "2.0",
		})
		idt.Header["kid"] = e.pki.kid
		if s, err := idt.SignedString(e.pki.signKey); err == nil {
			resp["id_token"] = s
		}
	}
	if r.PostForm.Get("client_info") == "1" || openid {
		ci, _ := json.Marshal(map[string]string{"uid": u.ObjectID, "utid": u.TenantID})
		resp["client_info"] = base64.RawURLEncoding.EncodeToString(ci)
	}
	if offline {
		granted += " offline_access"
		rt := "1.emulator." + randomToken(48)
		now := e.now().UTC()
		e.mu.Lock()
		e.st.Refresh[hashSecret(rt)] = &refreshRecord{SubjectOID: u.ObjectID, ClientID: app.ClientID, TenantID: u.TenantID,
			Scope: scope, IssuedAt: now, LastUsed: now}
		e.saveLocked()
		e.mu.Unlock()
		resp["refresh_token"] = rt
	}
	resp["scope"] = granted
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

func (e *Emulator) grantClientCredentials(w http.ResponseWriter, r *http.Request, tenant *Tenant) {
	if tenant == nil {
		e.writeAADError(w, &aadErr{400, "invalid_request", 90002, "Client credentials need a tenant-specific authority: use the tenant id or domain, not common/organizations.", ""})
		return
	}
	app, aerr := e.authClient(r, tenant, true)
	if aerr != nil {
		e.writeAADError(w, aerr)
		return
	}
	scope := r.PostForm.Get("scope")
	resource, scp, _, _, err := resourceOf(scope)
	if err != nil || scp != "user_impersonation" || !strings.Contains(scope, "/.default") {
		e.writeAADError(w, &aadErr{400, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope), ""})
		return
	}
	lt := e.lifetime()
	at, _, err := e.issueAccessToken(principal{Kind: kindApp, OID: app.ObjectID, TID: app.TenantID, AppID: app.ClientID, Name: app.DisplayName}, resource, "", lt)
	if err != nil {
		e.writeAADError(w, &aadErr{500, "server_error", 90033, "A transient error has occurred. Please try again.", ""})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "access_token": at, "scope": resource + "/.default",
		"expires_in": int(lt / time.Second), "ext_expires_in": int(lt / time.Second)})
}

func (e *Emulator) grantRefreshToken(w http.ResponseWriter, r *http.Request, tenant *Tenant) {
	app, aerr := e.authClient(r, tenant, false)
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
		case u == nil:
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
	resource, scp, _, openid, err := resourceOf(scope)
	if err != nil {
		e.writeAADError(w, &aadErr{400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. " + err.Error(), ""})
		return
	}
	e.issueUserTokens(w, r, u, app, resource, scp, scope, true, openid)
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

// ---- device code ----

type deviceCode struct {
	UserCode string
	ClientID string
	TenantID string // "" for common/organizations
	Scope    string
	Expires  time.Time
	Interval time.Duration
	LastPoll time.Time // wall clock
	Approved string    // user object id
	Declined bool
	Consumed bool
}

const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ23456789"

func newUserCode() string {
	b := make([]byte, 9)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(userCodeAlphabet))))
		b[i] = userCodeAlphabet[n.Int64()]
	}
	return string(b)
}

func (e *Emulator) handleDeviceCode(w http.ResponseWriter, r *http.Request, p params) {
	tenant, ok := e.tenantForm(w, r, p)
	if !ok {
		return
	}
	app, aerr := e.authClient(r, tenant, false)
	if aerr != nil {
		e.writeAADError(w, aerr)
		return
	}
	if !app.PublicClient {
		e.writeAADError(w, &aadErr{401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'. (The device code flow needs an app that allows public client flows.)", ""})
		return
	}
	scope := r.PostForm.Get("scope")
	if _, _, _, _, err := resourceOf(scope); err != nil {
		e.writeAADError(w, &aadErr{400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. " + err.Error(), ""})
		return
	}
	dc := "DAQABAAEAAAD." + randomToken(48)
	tid := ""
	if tenant != nil {
		tid = tenant.ID
	}
	e.mu.Lock()
	interval := time.Duration(e.seed.DeviceCodeInterval) * time.Second
	uc := newUserCode()
	for e.byUser[uc] != "" {
		uc = newUserCode()
	}
	e.devices[hashSecret(dc)] = &deviceCode{UserCode: uc, ClientID: app.ClientID, TenantID: tid, Scope: scope,
		Expires: e.now().Add(deviceCodeTTL), Interval: interval}
	e.byUser[uc] = hashSecret(dc)
	e.mu.Unlock()
	verify := e.url + "/devicelogin"
	writeJSON(w, http.StatusOK, map[string]any{
		"user_code": uc, "device_code": dc, "verification_uri": verify,
		"expires_in": int(deviceCodeTTL / time.Second), "interval": int(interval / time.Second),
		"message": fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", verify, uc),
	})
}

// ApproveDeviceCode stands in for the human: it signs upn in for the
// pending device code userCode (MFA is considered satisfied).
func (e *Emulator) ApproveDeviceCode(userCode, upn string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devices[e.byUser[strings.ToUpper(strings.TrimSpace(userCode))]]
	if d == nil {
		return fmt.Errorf("emulator: no pending device code with user code %q: start the device code flow first", userCode)
	}
	if !e.now().Before(d.Expires) {
		return fmt.Errorf("emulator: device code %q has expired: start the flow again", userCode)
	}
	u := e.idx.users[strings.ToLower(upn)]
	if u == nil {
		return fmt.Errorf("emulator: user %q is not in the seed", upn)
	}
	if u.Disabled {
		return fmt.Errorf("emulator: user %q is disabled", upn)
	}
	if d.TenantID != "" && !strings.EqualFold(d.TenantID, u.TenantID) {
		return fmt.Errorf("emulator: user %q is not in tenant %s the device code was started for", upn, d.TenantID)
	}
	d.Approved = u.ObjectID
	return nil
}

// DeclineDeviceCode makes the pending flow end with authorization_declined.
func (e *Emulator) DeclineDeviceCode(userCode string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devices[e.byUser[strings.ToUpper(strings.TrimSpace(userCode))]]
	if d == nil {
		return fmt.Errorf("emulator: no pending device code with user code %q", userCode)
	}
	d.Declined = true
	return nil
}

func (e *Emulator) grantDeviceCode(w http.ResponseWriter, r *http.Request, tenant *Tenant) {
	app, aerr := e.authClient(r, tenant, false)
	if aerr != nil {
		e.writeAADError(w, aerr)
		return
	}
	code := r.PostForm.Get("device_code")
	wall := time.Now()
	e.mu.Lock()
	d := e.devices[hashSecret(code)]
	var fail *aadErr
	var u *User
	switch {
	case d == nil || !strings.EqualFold(d.ClientID, app.ClientID):
		fail = &aadErr{400, "bad_verification_code", 70000, "The device code is unknown or was issued to another client.", ""}
	case d.Consumed:
		fail = &aadErr{400, "invalid_grant", 70000, "Provided grant is invalid or malformed: the device code was already redeemed.", ""}
	case !e.now().Before(d.Expires):
		fail = &aadErr{400, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.", ""}
	case d.Declined:
		fail = &aadErr{400, "authorization_declined", 70016, "The end user declined the authorization request.", ""}
	case !d.LastPoll.IsZero() && wall.Sub(d.LastPoll) < d.Interval*8/10:
		d.LastPoll = wall
		fail = &aadErr{400, "slow_down", 70016, "Polling faster than the announced interval: slow down.", ""}
	case d.Approved == "":
		d.LastPoll = wall
		fail = &aadErr{400, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.", ""}
	default:
		d.Consumed = true
		u = e.idx.usersByOID[strings.ToLower(d.Approved)]
	}
	e.mu.Unlock()
	if fail != nil {
		e.writeAADError(w, fail)
		return
	}
	if !app.ConsentGranted {
		e.writeAADError(w, &aadErr{400, "invalid_grant", 65001, fmt.Sprintf("The user or administrator has not consented to use the application with ID '%s' named '%s'.", app.ClientID, app.DisplayName), "consent_required"})
		return
	}
	resource, scp, offline, openid, _ := resourceOf(d.Scope)
	e.issueUserTokens(w, r, u, app, resource, scp, d.Scope, offline, openid)
}

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
	at, exp, err := e.issueAccessToken(principal{Kind: kindMI, OID: mi.ObjectID, TID: mi.TenantID, AppID: mi.ClientID}, resource, "", lt)
	if err != nil {
		msiErr(http.StatusInternalServerError, "token signing failed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "expires_on": strconv.FormatInt(exp.Unix(), 10),
		"resource": resource, "token_type": "Bearer", "client_id": mi.ClientID})
}
