// Token minting: the claims of the access and ID tokens the emulator issues,
// and their verification by the emulated services.

package emulator

import (
	"encoding/base64"
	"encoding/json"
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
	// AIO is opaque in Entra; the emulator stamps the issue time in it (sessions.go).
	AIO string `json:"aio,omitempty"`
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
		TID: p.TID, OID: p.OID, AppID: p.AppID, Ver: "2.0", Name: p.Name, AIO: issueStamp(now),
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
