package entra

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/errkind"
)

func TestHintsForEveryDocumentedAADSTS(t *testing.T) {
	// entra.md §4, each with a phrase the advice must contain.
	cases := []struct {
		code int
		want string
	}{
		{50126, "password"},
		{50034, "tenant"},
		{50053, "locked"},
		{50055, "expired"},
		{50144, "expired"},
		{50057, "disabled"},
		{50076, "exclude it from the Conditional Access MFA policy"},
		{50076, "--auth device-code"},
		{50079, "MFA"},
		{50072, "MFA"},
		{53003, "Conditional Access"},
		{530035, "security defaults"},
		{50020, "another identity provider"},
		{65001, "admin consent"},
		{700016, "AZURE_CLIENT_ID"},
		{7000215, "AZURE_CLIENT_SECRET"},
		{7000222, "expired"},
		{7000218, "set AZURE_CLIENT_SECRET, or enable 'Allow public client flows'"},
		{50173, "patrol login"},
		{700082, "patrol login"},
		{70043, "patrol login"},
		{50196, "loop"},
		{90002, "AZURE_TENANT_ID"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			body := fmt.Sprintf(`{"error":"invalid_grant","error_description":"AADSTS%d: something.\r\nTrace ID: x","error_codes":[%d]}`, c.code, c.code)
			e := newSignInError(MethodROPC, 400, []byte(body))
			if e.AADSTS != c.code {
				t.Fatalf("AADSTS = %d, want %d", e.AADSTS, c.code)
			}
			if !strings.Contains(e.Hint, c.want) {
				t.Fatalf("hint %q lacks %q", e.Hint, c.want)
			}
			if !strings.Contains(e.Error(), e.Hint) {
				t.Fatalf("Error() %q lacks the hint", e.Error())
			}
			if e.Kind() != errkind.Auth || e.Retryable() {
				t.Fatalf("kind %v retryable %v, want auth, false", e.Kind(), e.Retryable())
			}
			// Also without error_codes: parsed from the description.
			e2 := newSignInError(MethodROPC, 400, []byte(fmt.Sprintf(`{"error":"invalid_grant","error_description":"AADSTS%d: x"}`, c.code)))
			if e2.AADSTS != c.code || e2.Hint != e.Hint {
				t.Fatalf("from description: AADSTS=%d hint=%q", e2.AADSTS, e2.Hint)
			}
		})
	}
}

func TestSignInErrorParse(t *testing.T) {
	body := `{"error":"invalid_grant","error_description":"AADSTS50126: Error validating credentials due to invalid username or password.\r\nTrace ID: abc\r\nCorrelation ID: def","error_codes":[50126,12345],"trace_id":"abc","correlation_id":"def"}`
	e := newSignInError(MethodROPC, 400, []byte(body))
	if e.Code != "invalid_grant" || e.Status != 400 || e.TraceID != "abc" || e.CorrelationID != "def" {
		t.Fatalf("parsed %+v", e)
	}
	if len(e.Codes) != 2 || e.Codes[1] != 12345 {
		t.Fatalf("codes %v", e.Codes)
	}
	if strings.Contains(e.Description, "Trace ID") || strings.ContainsAny(e.Description, "\r\n") {
		t.Fatalf("description not reduced to its first line: %q", e.Description)
	}
	msg := e.Error()
	for _, want := range []string{"ropc", "HTTP 400", "invalid_grant", "AADSTS50126"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() %q lacks %q", msg, want)
		}
	}
	if strings.Count(msg, "AADSTS50126") != 1 {
		t.Errorf("AADSTS repeated: %q", msg)
	}
}

func TestSignInErrorRetryableKinds(t *testing.T) {
	for _, c := range []struct {
		status int
		cause  error
		want   errkind.Kind
	}{
		{500, nil, errkind.Transient},
		{503, nil, errkind.Transient},
		{429, nil, errkind.Transient},
		{0, errors.New("connection refused"), errkind.Transient},
		{400, nil, errkind.Auth},
		{401, nil, errkind.Auth},
		{0, nil, errkind.Auth},
	} {
		e := &SignInError{Status: c.status, cause: c.cause}
		if got := errkind.Of(fmt.Errorf("wrapped: %w", e)); got != c.want {
			t.Errorf("status %d cause %v: kind %v, want %v", c.status, c.cause, got, c.want)
		}
	}
}

func TestSignInErrorRedaction(t *testing.T) {
	const password = "Pa55w0rd!secret"
	const secret = "cl1ent~S3cret.value"
	jwt := fakeJWT(map[string]any{"upn": "x"})
	body := fmt.Sprintf(`{"error":"invalid_request","error_description":"AADSTS90014: password=%s client_secret=%s token %s"}`, password, secret, jwt)
	e := newSignInError(MethodROPC, 400, []byte(body), password, secret)
	for _, s := range []string{e.Error(), fmt.Sprintf("%v", e), fmt.Sprintf("%+v", e), e.Description} {
		for _, bad := range []string{password, secret, jwt} {
			if strings.Contains(s, bad) {
				t.Fatalf("secret leaked into %q", s)
			}
		}
	}
	if !strings.Contains(e.Description, "REDACTED") {
		t.Fatalf("expected REDACTED marker in %q", e.Description)
	}
	// Non-JSON bodies are bounded and redacted too.
	long := strings.Repeat("x", 2000) + password
	e = newSignInError(MethodROPC, 502, []byte(password+" "+long), password)
	if strings.Contains(e.Error(), password) || len(e.Description) > maxDescription+80 {
		t.Fatalf("non-JSON body not sanitised: %d chars", len(e.Description))
	}
}

func TestHintsByOAuthCode(t *testing.T) {
	e := newSignInError(MethodDeviceCode, 400, []byte(`{"error":"authorization_declined","error_description":"declined"}`))
	if !strings.Contains(e.Hint, "patrol login") {
		t.Fatalf("hint %q", e.Hint)
	}
}
