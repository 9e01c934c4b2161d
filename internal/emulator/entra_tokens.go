// Token minting: the claims of the access and ID tokens the emulator issues,
// and their verification by the emulated services.

package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// principal is who a token is issued to.
type principal struct {
	Kind  string // user | app | mi
	OID   string
	TID   string
	UPN   string
	AppID string
	Name  string
	// ACR is how the client authenticated (appidacr): "0" public client,
	// "1" client secret, "2" certificate, federated assertion or managed identity.
	ACR string
	// AMR lists how the user authenticated (users only): pwd, mfa.
	AMR []string
	// Roles are the application permissions of an app-only token.
	Roles []string
}

// Client authentication methods (the appidacr claim).
const (
	acrPublic      = "0"
	acrSecret      = "1"
	acrCertificate = "2"
)

// clockSkew is what Entra tolerates on the nbf/exp of client assertions and
// federated tokens, and what the emulated services (like .NET's token
// validators by default) tolerate on access tokens. Entra also issues
// access tokens with nbf five minutes before issuance.
const clockSkew = 5 * time.Minute

// tokenClaims are the claims of the access tokens the emulator issues, in
// the v1 shape in which Entra issues tokens for Azure DevOps, Key Vault and
// Microsoft Graph (resources that do not ask for v2 tokens): aud is a single
// string, the resource as the client named it.
type tokenClaims struct {
	Aud        string           `json:"aud"`
	Iss        string           `json:"iss"`
	IAT        *jwt.NumericDate `json:"iat"`
	NBF        *jwt.NumericDate `json:"nbf"`
	Exp        *jwt.NumericDate `json:"exp"`
	AMR        []string         `json:"amr,omitempty"`
	AppID      string           `json:"appid"`
	AppIDACR   string           `json:"appidacr"`
	IDTyp      string           `json:"idtyp"`
	Name       string           `json:"name,omitempty"`
	OID        string           `json:"oid"`
	Roles      []string         `json:"roles,omitempty"`
	Scp        string           `json:"scp,omitempty"`
	Sub        string           `json:"sub"`
	TID        string           `json:"tid"`
	UniqueName string           `json:"unique_name,omitempty"`
	UPN        string           `json:"upn,omitempty"`
	UTI        string           `json:"uti"`
	Ver        string           `json:"ver"`
	MIRID      string           `json:"xms_mirid,omitempty"`
	// AIO is opaque in Entra; the emulator stamps the issue time in it (sessions.go).
	AIO string `json:"aio,omitempty"`
}

// jwt.Claims, so golang-jwt validates exp/nbf/aud of tokenClaims.
func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.Exp, nil }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IAT, nil }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NBF, nil }
func (c *tokenClaims) GetIssuer() (string, error)                   { return c.Iss, nil }
func (c *tokenClaims) GetSubject() (string, error)                  { return c.Sub, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error)       { return jwt.ClaimStrings{c.Aud}, nil }

// v1Issuer is the iss of v1 access tokens.
func v1Issuer(tenantID string) string { return "https://sts.windows.net/" + tenantID + "/" }

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

// issueAccessToken signs an RS256 access token for resource aud (as the
// client named it) in the v1 shape. It is the one place access tokens are made.
func (e *Emulator) issueAccessToken(p principal, aud, scp string, lifetime time.Duration) (string, time.Time, error) {
	now := e.now().UTC()
	exp := now.Add(lifetime)
	c := tokenClaims{
		Aud: aud, Iss: v1Issuer(p.TID),
		// Entra back-dates iat and nbf by five minutes; the exact issue time
		// is in aio (sessions.go).
		IAT: jwt.NewNumericDate(now.Add(-clockSkew)), NBF: jwt.NewNumericDate(now.Add(-clockSkew)), Exp: jwt.NewNumericDate(exp),
		AppID: p.AppID, AppIDACR: p.ACR, OID: p.OID, Sub: p.OID, TID: p.TID, UTI: randomToken(16), Ver: "1.0", Name: p.Name,
		AIO: issueStamp(now),
	}
	if p.Kind == kindUser {
		c.IDTyp, c.UPN, c.UniqueName, c.Scp, c.AMR = "user", p.UPN, p.UPN, scp, p.AMR
	} else {
		c.IDTyp, c.Roles = "app", p.Roles
		if p.Kind == kindMI {
			c.AppIDACR = acrCertificate
			c.MIRID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + p.AppID
		}
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, &c)
	t.Header["kid"] = e.pki.kid
	s, err := t.SignedString(e.pki.signKey)
	return s, exp, err
}

// verifyAccessToken checks signature, expiry (with clockSkew) and audience
// of an emulator token; auds are the identifiers of the resource (any matches).
func (e *Emulator) verifyAccessToken(raw string, auds ...string) (*tokenClaims, error) {
	var c tokenClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return &e.pki.signKey.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(e.now), jwt.WithLeeway(clockSkew), jwt.WithExpirationRequired())
	if err != nil {
		return nil, err
	}
	for _, a := range auds {
		if strings.EqualFold(strings.TrimSuffix(c.Aud, "/"), strings.TrimSuffix(a, "/")) {
			return &c, nil
		}
	}
	return nil, fmt.Errorf("token audience %q is not this resource (%s)", c.Aud, strings.Join(auds, " or "))
}

// userGrant is a delegated token request that passed client and user
// authentication.
type userGrant struct {
	User *User
	App  *App
	ACR  string   // how the client authenticated (appidacr)
	AMR  []string // how the user authenticated
	Req  scopeRequest
	// Scope is the raw scope parameter, kept with a refresh token.
	Scope string
}

// issueUserTokens checks the app's consent and writes a delegated token
// response (refresh token with offline_access, id_token with openid).
func (e *Emulator) issueUserTokens(w http.ResponseWriter, r *http.Request, g userGrant) {
	u, app := g.User, g.App
	scp, aerr := delegatedScp(app, g.Req)
	if aerr != nil {
		e.writeAADError(w, aerr)
		return
	}
	lt := e.lifetime()
	p := principal{Kind: kindUser, OID: u.ObjectID, TID: u.TenantID, UPN: u.UPN, AppID: app.ClientID, Name: u.DisplayName, ACR: g.ACR, AMR: g.AMR}
	at, _, err := e.issueAccessToken(p, g.Req.Resource, scp, lt)
	if err != nil {
		e.writeAADError(w, &aadErr{500, "server_error", 90033, "A transient error has occurred. Please try again.", ""})
		return
	}
	openid, offline, scope := g.Req.OpenID, g.Req.Offline, g.Scope
	resp := map[string]any{"token_type": "Bearer", "access_token": at,
		"expires_in": int(lt / time.Second), "ext_expires_in": int(lt / time.Second)}
	if openid {
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
		rt := "1.emulator." + randomToken(48)
		now := e.now().UTC()
		e.mu.Lock()
		e.st.Refresh[hashSecret(rt)] = &refreshRecord{SubjectOID: u.ObjectID, ClientID: app.ClientID, TenantID: u.TenantID,
			Scope: scope, AMR: g.AMR, IssuedAt: now, LastUsed: now}
		e.saveLocked()
		e.mu.Unlock()
		resp["refresh_token"] = rt
	}
	resp["scope"] = grantedScope(g.Req, scp)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}
