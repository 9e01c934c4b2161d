// The device code flow (RFC 8628).

package emulator

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"
)

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
	app, _, aerr := e.authClient(r, tenant, false)
	if aerr != nil {
		e.writeAADError(w, aerr)
		return
	}
	if !app.PublicClient {
		e.writeAADError(w, &aadErr{401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'. (The device code flow needs an app that allows public client flows.)", ""})
		return
	}
	scope := r.PostForm.Get("scope")
	if _, err := parseScope(scope); err != nil {
		e.writeAADError(w, errInvalidScope(err))
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
	if u == nil || u.Deleted {
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
	app, acr, aerr := e.authClient(r, tenant, false)
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
	req, _ := parseScope(d.Scope) // validated when the flow started
	// The user signed in interactively: MFA is considered satisfied.
	e.issueUserTokens(w, r, userGrant{User: u, App: app, ACR: acr, AMR: []string{"pwd", "mfa"}, Req: req, Scope: d.Scope})
}
