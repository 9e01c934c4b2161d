package devops

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/redact"
)

// AuthError says Azure DevOps did not accept the credential: a 401, or the
// sign-in page it serves instead (203, 3xx, HTML). Kind is errkind.Auth.
type AuthError struct {
	Op     string
	Method string
	URL    string
	Status int
	// Reason is what was observed ("401 Unauthorized", "sign-in page (203)" …).
	Reason string
	// Hint is what to do next.
	Hint string
	// ResourceTenant is the Entra tenant the organisation belongs to, from
	// X-VSS-ResourceTenant or WWW-Authenticate, if the server said.
	ResourceTenant string
	// TokenTenant is the tenant of the access token sent (from its tid claim).
	TokenTenant string
	// Message is the server's message, if it sent a VSS error body.
	Message string
	// Claims is the decoded claims request of a claims challenge (401 with
	// WWW-Authenticate Bearer error="insufficient_claims"), if any.
	Claims string
}

func (e *AuthError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: Azure DevOps refused the credential (%s) for %s %s", e.Op, e.Reason, e.Method, e.URL)
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "; %s", e.Hint)
	}
	return b.String()
}

// Kind is errkind.Auth.
func (e *AuthError) Kind() errkind.Kind { return errkind.Auth }

// APIError is any other non-success HTTP response. Its Kind follows the
// status: 400 Usage, 403 Permission, 404 NotFound, 409/412 Conflict,
// 429/5xx Transient.
type APIError struct {
	Op     string
	Method string
	URL    string
	Status int
	// Message, TypeKey and ErrorCode come from the VSS error body when present.
	Message   string
	TypeKey   string
	ErrorCode int
	// RetryAfter is the server's Retry-After, if any.
	RetryAfter time.Duration

	kind  errkind.Kind
	final bool   // do not retry even though transient
	hint  string // advice better than the kind's generic one
}

// ErrorHint implements errkind.Hinter.
func (e *APIError) ErrorHint() string { return e.hint }

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s returned %d %s", e.Op, e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.TypeKey != "" {
		fmt.Fprintf(&b, " (%s)", e.TypeKey)
	}
	if adv := e.advice(); adv != "" {
		fmt.Fprintf(&b, "; %s", adv)
	}
	return b.String()
}

func (e *APIError) advice() string {
	switch e.kind {
	case errkind.Permission:
		return "the signed-in identity lacks permission for this; grant it the needed role (Project Collection Administrator for tokenadmin, Administrator/User on the service connection or variable group) or use another identity"
	case errkind.NotFound:
		return "check the organisation, project and id"
	case errkind.Conflict:
		return "the object was changed concurrently; re-read it and retry"
	case errkind.Transient:
		if e.Status == http.StatusTooManyRequests {
			return "Azure DevOps is throttling this identity; retry later (see X-RateLimit-* headers in debug logs)"
		}
		return "Azure DevOps had a transient failure; retry later"
	}
	return ""
}

// Kind derives from the status.
func (e *APIError) Kind() errkind.Kind { return e.kind }

// NetworkError is a failure to get any response.
type NetworkError struct {
	Op  string
	URL string
	Err error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("%s: no response from %s: %v; check network, proxy (HTTPS_PROXY) and TLS trust (SSL_CERT_FILE / endpoints.caBundle)", e.Op, e.URL, e.Err)
}
func (e *NetworkError) Unwrap() error { return e.Err }

// Kind is errkind.Transient for a network failure (refused, reset, timeout),
// errkind.Usage when retrying cannot help: a host name that does not
// resolve (a misspelt PATROL_DEVOPS_URL), an untrusted server certificate.
func (e *NetworkError) Kind() errkind.Kind {
	if k, _ := errkind.Transport(e.Err); k == errkind.Usage {
		return errkind.Usage
	}
	return errkind.Transient
}

// ErrorHint implements errkind.Hinter for the non-transient cases.
func (e *NetworkError) ErrorHint() string {
	_, hint := errkind.Transport(e.Err)
	return hint
}

func statusKind(status int) errkind.Kind {
	switch {
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		return errkind.Usage
	case status == http.StatusForbidden:
		return errkind.Permission
	case status == http.StatusNotFound || status == http.StatusGone:
		return errkind.NotFound
	case status == http.StatusConflict || status == http.StatusPreconditionFailed:
		return errkind.Conflict
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		return errkind.Transient
	}
	return errkind.Unknown
}

// classify turns a non-success response into a typed error.
func (c *Client) classify(r request, resp *http.Response, body []byte, tok entra.Token) error {
	u := redactURL(r.url)
	status := resp.StatusCode
	var vss api.VSSError
	if !isHTML(resp.Header) && len(body) > 0 {
		_ = json.Unmarshal(body, &vss)
	}
	// The server's words are quoted redacted and capped: an echoing proxy
	// must not get the token (or anything else patrol holds) into an error.
	vss.Message = redact.Quote([]byte(vss.Message))
	signIn := status == http.StatusNonAuthoritativeInfo || (status >= 300 && status < 400) || isHTML(resp.Header)
	if signIn || status == http.StatusUnauthorized {
		ae := &AuthError{Op: r.op, Method: r.method, URL: u, Status: status, Message: vss.Message}
		ae.TokenTenant = tokenTenant(tok.AccessToken)
		ae.ResourceTenant = resourceTenant(resp.Header)
		if status == http.StatusUnauthorized {
			ae.Claims, _ = claimsChallenge(resp.Header)
		}
		switch {
		case signIn && status >= 300 && status < 400:
			ae.Reason = fmt.Sprintf("redirect %d to the sign-in page", status)
		case signIn:
			ae.Reason = fmt.Sprintf("sign-in page (%d, HTML)", status)
		default:
			ae.Reason = "401 Unauthorized"
		}
		ae.Hint = c.authHint(r, ae, tok)
		return ae
	}
	e := &APIError{Op: r.op, Method: r.method, URL: u, Status: status, Message: vss.Message, TypeKey: vss.TypeKey, ErrorCode: vss.ErrorCode, kind: statusKind(status)}
	if strings.EqualFold(vss.TypeKey, "AccountNotFoundException") {
		e.hint = fmt.Sprintf("there is no Azure DevOps organisation %q: check AZURE_DEVOPS_ORG / --org / organization (the name in https://dev.azure.com/<org>)", c.org)
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		e.RetryAfter = d
	}
	if e.Message == "" && len(body) > 0 && !isHTML(resp.Header) {
		e.Message = redact.Quote(body)
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (c *Client) authHint(r request, ae *AuthError, tok entra.Token) string {
	if r.auth == authBasicPAT {
		return "the PAT is invalid, expired, revoked, or not valid for organisation " + c.org + "; create a new one"
	}
	if ae.ResourceTenant != "" && ae.TokenTenant != "" && !strings.EqualFold(ae.ResourceTenant, ae.TokenTenant) {
		if ae.ResourceTenant == zeroGUID {
			return fmt.Sprintf("organisation %s is backed by Microsoft accounts (MSA), not Entra ID; patrol's unattended sign-in needs an Entra-backed organisation", c.org)
		}
		return fmt.Sprintf("the token is from tenant %s but organisation %s belongs to tenant %s: sign in to tenant %s: set AZURE_TENANT_ID=%s", ae.TokenTenant, c.org, ae.ResourceTenant, ae.ResourceTenant, ae.ResourceTenant)
	}
	if h := missingPermissionHint(r, tok); h != "" {
		return h
	}
	if r.patAPI && (tok.Kind == entra.IdentityServicePrincipal || tok.Kind == entra.IdentityManagedIdentity) {
		return fmt.Sprintf("the token belongs to a %s, but the PAT API accepts only user tokens (service principals and managed identities cannot own PATs); sign in as the technical user (ROPC or device code)", tok.Kind)
	}
	if ae.ResourceTenant != "" && ae.TokenTenant == "" {
		return fmt.Sprintf("organisation %s belongs to tenant %s; make sure the token is an Entra token for that tenant (AZURE_TENANT_ID=%s) and the user is a member of the organisation", c.org, ae.ResourceTenant, ae.ResourceTenant)
	}
	return "the Entra token is missing, expired, not for Azure DevOps (" + api.ResourceID + "), or its user is not a member of organisation " + c.org + "; sign in again and check the user has access"
}

const zeroGUID = "00000000-0000-0000-0000-000000000000"

var guidRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
})

// resourceTenant reads the organisation's tenant from X-VSS-ResourceTenant
// (first non-zero GUID; a lone zero GUID means MSA-backed) or from
// WWW-Authenticate's authorization_uri.
func resourceTenant(h http.Header) string {
	var zero bool
	for _, v := range h.Values("X-VSS-ResourceTenant") {
		for _, g := range guidRE().FindAllString(v, -1) {
			if g == zeroGUID {
				zero = true
				continue
			}
			return strings.ToLower(g)
		}
	}
	for _, v := range h.Values("WWW-Authenticate") {
		i := strings.Index(strings.ToLower(v), "authorization_uri=")
		if i < 0 {
			continue
		}
		rest := v[i+len("authorization_uri="):]
		if g := guidRE().FindString(rest); g != "" {
			return strings.ToLower(g)
		}
	}
	if zero {
		return zeroGUID
	}
	return ""
}

// tokenTenant reads the tid claim of a JWT without verifying it (the server
// already judged it; this is only for the hint).
func tokenTenant(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Tid string `json:"tid"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		return ""
	}
	return strings.ToLower(claims.Tid)
}
