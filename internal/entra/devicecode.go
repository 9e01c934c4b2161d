package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/redact"
)

// DeviceCode is what the user must do to finish a device-code sign-in.
type DeviceCode struct {
	UserCode        string
	VerificationURI string
	// Message is Entra's ready-made instruction text.
	Message   string
	ExpiresOn time.Time
	Interval  time.Duration
}

type deviceCodeResponse struct {
	DeviceCode      string    `json:"device_code"`
	UserCode        string    `json:"user_code"`
	VerificationURI string    `json:"verification_uri"`
	ExpiresIn       flexInt64 `json:"expires_in"`
	Interval        flexInt64 `json:"interval"`
	Message         string    `json:"message"`
}

const grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// offlineScope adds offline_access so Entra issues a refresh token.
func offlineScope(scope string) string {
	for _, f := range strings.Fields(scope) {
		if f == "offline_access" {
			return scope
		}
	}
	return scope + " offline_access"
}

// DeviceCodeLogin runs the device-code flow (RFC 8628): it asks Entra for a
// code, passes the instruction message to prompt, polls until the user
// signs in (honouring authorization_pending and slow_down) and stores the
// refresh token in opts.Cache (or the FileTokenCache at opts.CachePath).
// Later runs use --auth device-code, which redeems the stored token.
func DeviceCodeLogin(ctx context.Context, opts Options, prompt func(message string)) (Token, error) {
	return DeviceCodeFlow(ctx, opts, func(dc DeviceCode) {
		if prompt != nil {
			prompt(dc.Message)
		}
	})
}

// DeviceCodeFlow is DeviceCodeLogin with the structured code passed to prompt.
func DeviceCodeFlow(ctx context.Context, opts Options, prompt func(DeviceCode)) (Token, error) {
	o := opts.withDefaults()
	o.Method = MethodDeviceCode
	reqs := requiredIDs(o)
	if o.Cache == nil && o.CachePath == "" {
		// fail before the user signs in, not after
		reqs = append(reqs, requirement{"PATROL_TOKEN_CACHE", "--token-cache", "where the refresh token will be kept"})
	}
	if err := missing(MethodDeviceCode, reqs...); err != nil {
		return Token{}, err
	}
	scope := offlineScope(o.Scope)
	res, err := o.post(ctx, MethodDeviceCode, o.endpoint("devicecode"), url.Values{"client_id": {o.ClientID}, "scope": {scope}}, nil)
	if err != nil {
		return Token{}, err
	}
	if res.status != http.StatusOK {
		return Token{}, newSignInError(MethodDeviceCode, res.status, res.body)
	}
	var dr deviceCodeResponse
	if err := json.Unmarshal(res.body, &dr); err != nil || dr.DeviceCode == "" || dr.UserCode == "" {
		return Token{}, &SignInError{Method: MethodDeviceCode, Status: res.status, Code: "invalid_response",
			Description: "the device-code endpoint answered without device_code/user_code (is AZURE_AUTHORITY_HOST an Entra authority?)"}
	}
	life, err := lifetime("expires_in", dr.ExpiresIn, 15*time.Minute)
	if err == nil && (dr.Interval < 0 || dr.Interval > flexInt64(life/time.Second)) {
		err = fmt.Errorf("interval is %d seconds: it must be between 0 and the code's lifetime (%s)", dr.Interval, life)
	}
	if err != nil {
		return Token{}, &SignInError{Method: MethodDeviceCode, Status: res.status, Code: "invalid_response", Description: "device-code answer: " + err.Error()}
	}
	interval := time.Duration(dr.Interval) // in o.pollUnit (seconds)
	if interval == 0 {
		interval = 5
	}
	dc := DeviceCode{UserCode: dr.UserCode, VerificationURI: dr.VerificationURI, Message: dr.Message,
		ExpiresOn: o.Now().Add(life), Interval: interval * time.Second}
	if dc.Message == "" {
		dc.Message = fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", dr.VerificationURI, dr.UserCode)
	}
	if prompt != nil {
		prompt(dc)
	}
	deadline := time.Now().Add(life)
	form := url.Values{"grant_type": {grantDeviceCode}, "client_id": {o.ClientID}, "device_code": {dr.DeviceCode}}
	redact.Register(dr.DeviceCode)
	secrets := []string{dr.DeviceCode}
	for {
		if err := o.sleep(ctx, interval*o.pollUnit); err != nil {
			return Token{}, fmt.Errorf("entra: device-code sign-in cancelled while waiting for the user: %w", err)
		}
		res, err := o.post(ctx, MethodDeviceCode, o.endpoint("token"), form, secrets)
		if err != nil {
			return Token{}, err
		}
		if res.status != http.StatusOK {
			e := newSignInError(MethodDeviceCode, res.status, res.body, secrets...)
			switch e.Code {
			case "authorization_pending":
				if time.Now().After(deadline) {
					e.Code = "expired_token"
					e.Hint = hintsByCode["expired_token"]
					return Token{}, e
				}
				continue
			case "slow_down":
				interval += 5
				continue
			}
			return Token{}, e
		}
		tok, tr, err := o.tokenFromResponse(MethodDeviceCode, res, IdentityUser, secrets)
		if err != nil {
			return Token{}, err
		}
		if tr.RefreshToken == "" {
			return tok, &SignInError{Method: MethodDeviceCode, Status: res.status, Code: "no_refresh_token",
				Description: "signed in, but Entra returned no refresh token",
				Hint:        "the scope must include offline_access and the tenant must allow refresh tokens for this app"}
		}
		store := o.Cache
		if store == nil {
			store = &FileTokenCache{Path: o.CachePath, TenantID: o.TenantID, ClientID: o.ClientID, Username: claimString(tok.AccessToken, "upn"), Now: o.Now}
		}
		if err := store.Save(ctx, tr.RefreshToken); err != nil {
			return tok, fmt.Errorf("entra: signed in, but could not store the refresh token: %w", err)
		}
		o.Logger.DebugContext(ctx, "entra: device-code sign-in complete, refresh token stored", "tenant", o.TenantID, "client", o.ClientID, "expires", tok.ExpiresOn)
		return tok, nil
	}
}

func requiredIDs(o Options) []requirement {
	var reqs []requirement
	if o.TenantID == "" {
		reqs = append(reqs, reqTenant)
	}
	if o.ClientID == "" {
		reqs = append(reqs, reqClient)
	}
	return reqs
}

// refreshSource redeems the stored refresh token (method device-code) and
// re-saves every rotated refresh token.
type refreshSource struct {
	o     Options
	store RefreshTokenStore

	mu sync.Mutex
	rt string // last known refresh token
}

func (s *refreshSource) Token(ctx context.Context) (Token, error) { return s.token(ctx, "") }

// token redeems the refresh token; claims (decoded JSON) is sent as the
// claims parameter.
func (s *refreshSource) token(ctx context.Context, claims string) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.o
	if s.rt == "" {
		rt, err := s.store.Load(ctx)
		if err != nil {
			if errors.Is(err, ErrNoRefreshToken) {
				var ce *CacheError
				if !errors.As(err, &ce) {
					err = &CacheError{kind: errkind.Auth, err: err, Msg: "no refresh token stored: run `patrol login` (device code) once"}
				}
			}
			return Token{}, err
		}
		s.rt = rt
		redact.Register(rt)
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {o.ClientID},
		"refresh_token": {s.rt},
		"scope":         {offlineScope(o.Scope)},
	}
	if o.ClientSecret != "" {
		form.Set("client_secret", o.ClientSecret)
	}
	if claims != "" {
		form.Set("claims", claims)
	}
	secrets := []string{s.rt, o.ClientSecret}
	res, err := o.post(ctx, MethodDeviceCode, o.endpoint("token"), form, secrets)
	if err != nil {
		return Token{}, err
	}
	tok, tr, err := o.tokenFromResponse(MethodDeviceCode, res, IdentityUser, secrets)
	if err != nil {
		var se *SignInError
		if errors.As(err, &se) && se.Code == "invalid_grant" && se.Hint == "" {
			se.Hint = rebootstrap
		}
		return Token{}, err
	}
	if tr.RefreshToken != "" && tr.RefreshToken != s.rt {
		s.rt = tr.RefreshToken
		if err := s.store.Save(ctx, tr.RefreshToken); err != nil {
			return Token{}, fmt.Errorf("entra: signed in, but could not save the rotated refresh token (the next run may need `patrol login`): %w", err)
		}
		o.Logger.DebugContext(ctx, "entra: rotated refresh token saved")
	}
	return tok, nil
}

// sleep waits d or until ctx ends.
func (o Options) sleep(ctx context.Context, d time.Duration) error {
	if o.waitHook != nil {
		o.waitHook(d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
