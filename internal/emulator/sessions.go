// Session revocation (Microsoft Graph's revokeSignInSessions) and the
// continuous-access-evaluation answer of the Azure DevOps routes: a user's
// access tokens issued before the revocation get 401 with a claims
// challenge, refresh tokens issued before it AADSTS50173.

package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// issueStamp is the emulator's opaque "aio" claim: the issue time in
// nanoseconds, so that a revocation and a sign-in within the same second
// (iat has whole seconds) are ordered exactly. Entra's aio is opaque too.
func issueStamp(t time.Time) string {
	return "emu." + strconv.FormatInt(t.UnixNano(), 36)
}

// issuedAt is when c was issued: the aio stamp, else iat (whole seconds).
func (c *tokenClaims) issuedAt() time.Time {
	if rest, ok := strings.CutPrefix(c.AIO, "emu."); ok {
		if ns, err := strconv.ParseInt(rest, 36, 64); err == nil {
			return time.Unix(0, ns)
		}
	}
	if c.IAT != nil {
		return c.IAT.Time
	}
	return time.Time{}
}

// sessionRevokedAt returns when the sessions of the token's subject were
// revoked, if the token was issued at or before that time.
func (e *Emulator) sessionRevokedAt(c *tokenClaims) (time.Time, bool) {
	e.mu.RLock()
	at, ok := e.st.SessionsRevoked[strings.ToLower(c.OID)]
	e.mu.RUnlock()
	if !ok {
		return time.Time{}, false
	}
	return at, !c.issuedAt().After(at)
}

// RevokeSignInSessions stands in for Microsoft Graph's
// POST /users/{id}/revokeSignInSessions: every refresh token of upn is
// revoked (later use: AADSTS50173) and every access token issued until now
// is refused by the Azure DevOps routes with 401 and a claims challenge
// (continuous access evaluation). Sign-ins after the call work. It returns
// the revocation time.
func (e *Emulator) RevokeSignInSessions(upn string) (time.Time, error) {
	e.mu.Lock()
	u := e.idx.users[strings.ToLower(upn)]
	e.mu.Unlock()
	if u == nil {
		return time.Time{}, fmt.Errorf("emulator: user %q is not in the seed: use a seeded UPN", upn)
	}
	e.RevokeRefreshTokens(upn)
	now := e.now()
	e.mu.Lock()
	e.st.SessionsRevoked[strings.ToLower(u.ObjectID)] = now
	e.saveLocked()
	e.mu.Unlock()
	return now, nil
}

// caeClaims is the claims request of a revoked session's challenge: a token
// whose nbf is not before the revocation (as Microsoft Graph and other CAE
// resources send it).
func caeClaims(revoked time.Time) string {
	b, _ := json.Marshal(map[string]any{"access_token": map[string]any{
		"nbf": map[string]any{"essential": true, "value": strconv.FormatInt(revoked.Unix(), 10)}}})
	return string(b)
}

// claimsChallenge answers 401 with the CAE challenge: WWW-Authenticate
// Bearer realm, authorization_uri, error="insufficient_claims" and
// claims=base64(claims request), plus Azure DevOps' usual headers.
func (e *Emulator) claimsChallenge(w http.ResponseWriter, org *Org, who string, revoked time.Time) {
	h := w.Header()
	h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s", authorization_uri="%s/%s/oauth2/authorize", error="insufficient_claims", claims="%s"`,
		org.TenantID, e.url, org.TenantID, base64.StdEncoding.EncodeToString([]byte(caeClaims(revoked)))))
	h.Add("WWW-Authenticate", fmt.Sprintf(`Basic realm="%s/"`, e.DevOpsURL()))
	h.Set("X-VSS-ResourceTenant", org.TenantID)
	writeVSSError(w, http.StatusUnauthorized, "UnauthorizedRequestException",
		fmt.Sprintf("TF400813: The user '%s' is not authorized to access this resource. The access token was issued before the user's sessions were revoked at %s: sign in again (the WWW-Authenticate claims challenge says what the new token needs).",
			who, revoked.UTC().Format(time.RFC3339)))
}

func (e *Emulator) registerSessionAdmin() {
	e.handle(http.MethodPost, "/_emulator/users/{upn}/revokesigninsessions", "admin", func(w http.ResponseWriter, r *http.Request, p params) {
		upn, err := url.PathUnescape(p["upn"])
		if err != nil {
			upn = p["upn"]
		}
		if _, err := e.RevokeSignInSessions(upn); err != nil {
			writeVSSError(w, http.StatusNotFound, "ArgumentException", err.Error())
			return
		}
		// Microsoft Graph answers {"value": true}.
		writeJSON(w, http.StatusOK, map[string]any{"value": true})
	})
}
