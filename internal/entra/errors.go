package entra

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/redact"
)

// SignInError is a failed Entra sign-in. It never contains credentials:
// Description is sanitised (first line only, control characters removed,
// known secrets replaced by REDACTED, length bounded).
type SignInError struct {
	Method Method
	// Status is the HTTP status; 0 when no response arrived (network error).
	Status int
	// Code is the OAuth error ("invalid_grant", "invalid_client", …).
	Code string
	// AADSTS is the primary AADSTS code (first of Codes, or parsed from Description).
	AADSTS int
	// Codes are all error_codes of the response.
	Codes []int
	// Description is Entra's error_description, sanitised.
	Description string
	// Hint says what to change, in Entra or in patrol's settings.
	Hint string
	// TraceID and CorrelationID help Microsoft support find the request.
	TraceID, CorrelationID string

	cause error // network error or library error (already sanitised by its producer)
}

// Error reads "entra: sign-in (ropc) failed: HTTP 400 invalid_grant AADSTS50126: … — hint".
func (e *SignInError) Error() string {
	var b strings.Builder
	b.WriteString("entra: sign-in")
	if e.Method != "" {
		b.WriteString(" (" + string(e.Method) + ")")
	}
	b.WriteString(" failed")
	head := ""
	if e.Status != 0 {
		head += fmt.Sprintf(" HTTP %d", e.Status)
	}
	if e.Code != "" {
		head += " " + e.Code
	}
	if e.AADSTS != 0 && !strings.HasPrefix(e.Description, "AADSTS"+strconv.Itoa(e.AADSTS)) {
		head += fmt.Sprintf(" AADSTS%d", e.AADSTS)
	}
	if head != "" {
		b.WriteString(":" + head)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	} else if e.cause != nil {
		b.WriteString(": " + e.cause.Error())
	}
	if e.Hint != "" {
		b.WriteString(" — " + e.Hint)
	}
	return b.String()
}

// Unwrap returns the underlying network or library error, if any.
func (e *SignInError) Unwrap() error { return e.cause }

// Retryable reports whether trying again later may succeed: 5xx, 429 or no
// response at all. 4xx answers are final.
func (e *SignInError) Retryable() bool {
	if e.cause != nil && httpx.Permanent(e.cause) {
		return false
	}
	if _, cert := e.certificate(); cert {
		return false
	}
	return e.Status == 0 && e.cause != nil || e.Status == 429 || e.Status >= 500
}

// Kind is errkind.Transient for retryable failures, errkind.Auth otherwise.
func (e *SignInError) Kind() errkind.Kind {
	if e.cause != nil && httpx.Permanent(e.cause) {
		return errkind.Of(e.cause) // a refused redirect or an oversized answer: the URL is wrong
	}
	if _, cert := e.certificate(); cert {
		return errkind.Usage // the authority's certificate: trust settings, not Entra
	}
	if e.Retryable() {
		return errkind.Transient
	}
	return errkind.Auth
}

// certificate reports a server certificate that failed verification, in
// the cause or (azidentity flattens its errors) in the description, with
// the hint that says how to fix it.
func (e *SignInError) certificate() (string, bool) {
	if h, ok := errkind.Certificate(e.cause); ok {
		return h, true
	}
	if e.Description != "" {
		return errkind.Certificate(errors.New(e.Description))
	}
	return "", false
}

// ErrorHint is the certificate advice for a TLS verification failure (the
// kind's generic advice otherwise).
func (e *SignInError) ErrorHint() string {
	h, _ := e.certificate()
	return h
}

const rebootstrap = "the stored refresh token is no longer valid: run `patrol login` again (device code) to store a new one"

const mfaHint = "the technical user must pass MFA: exclude it from the Conditional Access MFA policy, or bootstrap once with `patrol login` (device code) and run with --auth device-code"

// Hints maps AADSTS codes to advice about what to change.
var Hints = map[int]string{
	50126:   "the username or password is wrong: check AZURE_PASSWORD (rotated? stray whitespace or newline in the secret file?) and AZURE_USERNAME",
	50034:   "the user does not exist in this tenant: check AZURE_USERNAME (the UPN) and AZURE_TENANT_ID",
	50053:   "the account is locked (too many attempts or a suspicious IP): stop retrying, wait for the lockout to expire or ask an admin to unblock it, then fix the password",
	50055:   "the technical user's password has expired: reset it in Entra (and exempt the account from password expiry), then update AZURE_PASSWORD",
	50144:   "the technical user's on-premises AD password has expired: reset it (and exempt the account from expiry), then update AZURE_PASSWORD",
	50057:   "the user account is disabled: re-enable it in Entra (Users → the account → Account enabled)",
	50076:   mfaHint,
	50079:   "the technical user must enrol in MFA: " + mfaHint,
	50072:   "the technical user must enrol in MFA: " + mfaHint,
	53003:   "a Conditional Access policy blocks this sign-in: check the sign-in logs in Entra for the policy and exclude the technical user or app, or sign in from an allowed location/device",
	530035:  "security defaults block this legacy sign-in (ROPC): disable security defaults in favour of Conditional Access policies that exclude the technical user, or use --auth device-code",
	50020:   "the user comes from another identity provider (e.g. a personal Microsoft account invited as guest) and cannot use ROPC: use a member account of the tenant as the technical user",
	65001:   "no admin consent for the requested Azure DevOps permissions: an admin must grant consent for the app's delegated Azure DevOps permissions vso.pats and vso.pats_manage (least privilege for patrol; user_impersonation also works) — App registrations → API permissions → Add a permission → Azure DevOps → Delegated → Grant admin consent; with auth.scopes (PATROL_AUTH_SCOPES, --auth-scope) every listed permission must be consented",
	700016:  "the application was not found in the tenant: check AZURE_CLIENT_ID and AZURE_TENANT_ID (is the app registered in that tenant?)",
	7000215: "the client secret is wrong: check AZURE_CLIENT_SECRET is the secret's Value (not its ID), or create a new secret in the app registration",
	7000222: "the client secret has expired: create a new one in the app registration (Certificates & secrets) and update AZURE_CLIENT_SECRET",
	7000218: "the app is confidential: set AZURE_CLIENT_SECRET, or enable 'Allow public client flows' in the app registration (Authentication)",
	700025:  "the app is a public client and must not send a secret: unset AZURE_CLIENT_SECRET, or disable 'Allow public client flows'",
	50173:   rebootstrap + " (the grant was revoked, e.g. by a password change or an admin)",
	700082:  rebootstrap + " (it expired after 90 days without use)",
	70043:   rebootstrap + " (a Conditional Access sign-in frequency policy expired it)",
	70008:   rebootstrap + " (it has expired or was revoked)",
	50196:   "Entra detected a sign-in loop (the same request too often): patrol caches tokens per process — check that runs are not scheduled too often or restarted in a loop",
	90002:   "the tenant was not found: check AZURE_TENANT_ID (tenant GUID or a verified domain) and the authority host for sovereign clouds",
	700027:  "the client assertion's signature did not verify: upload the certificate's public part to the app registration (Certificates & secrets), or check AZURE_CLIENT_CERTIFICATE_PATH",
	700024:  "the client assertion is outside its validity window: check the clock, and that the federated token file is refreshed by the workload identity webhook",
	70021:   "no federated identity credential matches the token: add one to the app registration with this cluster's issuer and subject system:serviceaccount:<namespace>:<name>",
	700211:  "no federated identity credential matches the token issuer: check the issuer URL configured on the app registration's federated credential",
	7000112: "the application is disabled: enable it in Enterprise applications → Properties",
	50059:   "no tenant in the request: set AZURE_TENANT_ID",
	90014:   "the request is missing a field: this is a patrol bug — please report it",
	500011:  "the resource (Azure DevOps) is not available in the tenant: check AZURE_TENANT_ID is the tenant backing the Azure DevOps organisation",
	9002313: "the request was malformed: check the settings for stray characters; otherwise report a patrol bug",
}

// hintsByCode covers OAuth errors without a known AADSTS code.
var hintsByCode = map[string]string{
	"authorization_declined":  "the user declined the sign-in: run `patrol login` again and approve it",
	"expired_token":           "the device code expired before it was used: run `patrol login` again and finish within the time shown",
	"bad_verification_code":   "Entra did not recognise the device code: this is a patrol bug — please report it",
	"invalid_client":          "the client credentials were rejected: check AZURE_CLIENT_ID and the secret or certificate",
	"unauthorized_client":     "the app is not allowed to use this flow: enable 'Allow public client flows' for ropc/device-code, or check the app registration",
	"invalid_scope":           "the scope was rejected: check the app has the Azure DevOps permission and admin consent",
	"temporarily_unavailable": "Entra is temporarily unavailable: retry later",
}

// hintFor returns the advice for an error.
func hintFor(aadsts int, codes []int, code string) string {
	if h := Hints[aadsts]; h != "" {
		return h
	}
	for _, c := range codes {
		if h := Hints[c]; h != "" {
			return h
		}
	}
	return hintsByCode[code]
}

var aadstsRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`AADSTS(\d{4,9})`) })

// oauthError is Entra's error body.
type oauthError struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	Codes         []int  `json:"error_codes"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
}

// newSignInError builds a SignInError from a response body. secrets are
// values that must never appear in the description.
func newSignInError(m Method, status int, body []byte, secrets ...string) *SignInError {
	e := &SignInError{Method: m, Status: status}
	var oe oauthError
	if json.Unmarshal(body, &oe) == nil && (oe.Error != "" || oe.Description != "") {
		e.Code = oe.Error
		e.Codes = oe.Codes
		e.Description = sanitize(oe.Description, secrets...)
		e.TraceID = sanitize(oe.TraceID)
		e.CorrelationID = sanitize(oe.CorrelationID)
	} else if len(body) > 0 {
		e.Description = sanitize("unexpected response (not an OAuth error): "+string(body), secrets...)
	}
	e.fillAADSTS(oe.Description)
	return e
}

func (e *SignInError) fillAADSTS(text string) {
	if len(e.Codes) > 0 {
		e.AADSTS = e.Codes[0]
	} else if m := aadstsRE().FindStringSubmatch(text); m != nil {
		e.AADSTS, _ = strconv.Atoi(m[1])
		e.Codes = []int{e.AADSTS}
	}
	if e.Hint == "" {
		e.Hint = hintFor(e.AADSTS, e.Codes, e.Code)
	}
	if e.Hint == "" && e.Retryable() {
		e.Hint = "Entra or the network is unavailable: patrol retried; try again later"
	}
}

// maxDescription bounds Description.
const maxDescription = 300

// sanitize keeps the first line, drops control characters, redacts
// (internal/redact: secrets, given and registered, JWTs …) and bounds the
// length.
func sanitize(s string, secrets ...string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	redact.Register(secrets...)
	s = redact.String(s) // every secret of the process, JWTs, PATs, Basic/Bearer values
	s = strings.TrimSpace(s)
	if len(s) > maxDescription {
		cut := maxDescription
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
