// Entra ID: constants, error bodies, tenants and discovery documents. The
// token endpoint is in entra_grants.go, client authentication in
// entra_client.go, token minting in entra_tokens.go.

package emulator

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"
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
