package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/redact"
)

// Retry limits for sign-in POSTs (5xx, 429 and network errors only).
const (
	maxTries       = 4
	maxRetryElapse = time.Minute
	maxBody        = 1 << 20
)

// tokenResponse is Entra's token endpoint success body.
type tokenResponse struct {
	TokenType    string    `json:"token_type"`
	Scope        string    `json:"scope"`
	ExpiresIn    flexInt64 `json:"expires_in"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	IDToken      string    `json:"id_token"`
}

// flexInt64 accepts 3599 and "3599".
type flexInt64 int64

func (f *flexInt64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("expires_in %q is not a number", s)
	}
	*f = flexInt64(v)
	return nil
}

// MaxResponseLifetime bounds a lifetime in an Entra answer (expires_in of
// a token or device code). Entra's access tokens live 60–90 minutes
// (configurable up to a day, CAE tokens up to 28 hours); a longer one, or a
// negative one, is not Entra's answer.
const MaxResponseLifetime = 7 * 24 * time.Hour

// lifetime turns the seconds of field into a duration: missing or zero is
// def, negative or past MaxResponseLifetime (which also keeps the
// multiplication from overflowing) is an error naming the field.
func lifetime(field string, secs flexInt64, def time.Duration) (time.Duration, error) {
	switch {
	case secs == 0:
		return def, nil
	case secs < 0:
		return 0, fmt.Errorf("%s is %d: a lifetime cannot be negative; is AZURE_AUTHORITY_HOST an Entra authority?", field, secs)
	case secs > flexInt64(MaxResponseLifetime/time.Second):
		return 0, fmt.Errorf("%s is %d seconds, more than the %s patrol accepts; is AZURE_AUTHORITY_HOST an Entra authority?", field, secs, MaxResponseLifetime)
	}
	return time.Duration(secs) * time.Second, nil
}

// endpoint returns {authority}{tenant}/oauth2/v2.0/{what}.
func (o Options) endpoint(what string) string {
	return o.AuthorityHost + url.PathEscape(o.TenantID) + "/oauth2/v2.0/" + what
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

// statusError marks a retryable HTTP status inside the retry loop.
type statusError struct{ res httpResult }

func (e *statusError) Error() string { return "HTTP " + strconv.Itoa(e.res.status) }

// post sends a form, retrying 5xx/429/network failures with bounded
// exponential backoff. Any 1xx-4xx answer is returned as is (err == nil).
// After the last retry a *SignInError describes the failure. The form and
// the response body are never logged.
func (o Options) post(ctx context.Context, m Method, endpoint string, form url.Values, secrets []string) (httpResult, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = o.retryBase
	b.MaxInterval = 20 * o.retryBase
	encoded := form.Encode()
	op := func() (httpResult, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(encoded))
		if err != nil {
			return httpResult{}, backoff.Permanent(&SignInError{Method: m, cause: fmt.Errorf("bad authority URL %q: %w (check AZURE_AUTHORITY_HOST and AZURE_TENANT_ID)", redactURL(endpoint), err)})
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := o.HTTPClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return httpResult{}, backoff.Permanent(ctx.Err())
			}
			if _, cert := errkind.Certificate(err); cert || httpx.Permanent(err) {
				// An untrusted certificate does not become trusted by retrying.
				return httpResult{}, backoff.Permanent(&SignInError{Method: m, cause: err})
			}
			return httpResult{}, err
		}
		body, err := httpx.ReadBody(resp, maxBody, "Entra "+what(endpoint))
		if err != nil {
			if httpx.Permanent(err) {
				return httpResult{}, backoff.Permanent(&SignInError{Method: m, cause: err})
			}
			return httpResult{}, err
		}
		res := httpResult{status: resp.StatusCode, header: resp.Header, body: body}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			var serr error = &statusError{res}
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				serr = errors.Join(serr, backoff.RetryAfter(s))
			}
			return res, serr
		}
		return res, nil
	}
	res, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(b),
		backoff.WithMaxTries(maxTries),
		backoff.WithMaxElapsedTime(maxRetryElapse),
		backoff.WithNotify(func(err error, d time.Duration) {
			if o.waitHook != nil {
				o.waitHook(d)
			}
			o.Logger.DebugContext(ctx, "entra: sign-in request failed, retrying", "method", string(m), "error", describeRetry(err), "in", d)
		}))
	if err == nil {
		return res, nil
	}
	var se *statusError
	if errors.As(err, &se) {
		return httpResult{}, newSignInError(m, se.res.status, se.res.body, secrets...)
	}
	var sie *SignInError
	if errors.As(err, &sie) {
		return httpResult{}, sie
	}
	if ctx.Err() != nil {
		return httpResult{}, fmt.Errorf("entra: sign-in (%s) cancelled: %w", m, err)
	}
	e := &SignInError{Method: m, cause: err}
	e.fillAADSTS("")
	return httpResult{}, e
}

// what names the endpoint's last path segment (token, devicecode).
func what(endpoint string) string {
	return endpoint[strings.LastIndexByte(endpoint, '/')+1:] + " endpoint"
}

func describeRetry(err error) string {
	var se *statusError
	if errors.As(err, &se) {
		return se.Error()
	}
	return err.Error()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

// tokenFromResponse turns a 200 body into a token, or a non-200 body into a *SignInError.
func (o Options) tokenFromResponse(m Method, res httpResult, kind IdentityKind, secrets []string) (Token, *tokenResponse, error) {
	if res.status != http.StatusOK {
		return Token{}, nil, newSignInError(m, res.status, res.body, secrets...)
	}
	var tr tokenResponse
	if err := json.Unmarshal(res.body, &tr); err != nil || tr.AccessToken == "" {
		e := &SignInError{Method: m, Status: res.status, Code: "invalid_response",
			Description: "the token endpoint answered 200 without an access_token (is AZURE_AUTHORITY_HOST an Entra authority, or a proxy's sign-in page?)"}
		return Token{}, nil, e
	}
	if !strings.EqualFold(tr.TokenType, "bearer") && tr.TokenType != "" {
		return Token{}, nil, &SignInError{Method: m, Status: res.status, Code: "invalid_response",
			Description: fmt.Sprintf("unsupported token_type %q (want Bearer)", sanitize(tr.TokenType))}
	}
	redact.Register(tr.AccessToken, tr.RefreshToken, tr.IDToken)
	life, err := lifetime("expires_in", tr.ExpiresIn, time.Hour)
	if err != nil {
		return Token{}, nil, &SignInError{Method: m, Status: res.status, Code: "invalid_response", Description: err.Error()}
	}
	return Token{AccessToken: tr.AccessToken, ExpiresOn: o.Now().Add(life), Kind: kind}, &tr, nil
}
