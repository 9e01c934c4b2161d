// Microsoft Graph: the subset patrol calls to manage the credentials of an
// Entra application (graph.microsoft.com/v1.0): the application by object
// id or by appId, addPassword / removePassword, federatedIdentityCredentials
// and the service principal lookup. Callers present an emulator access token
// for https://graph.microsoft.com; who may do what follows Graph's
// permissions (graph_auth.go). The passwords and federated credentials live
// in the state (appCreds) and are what the token endpoint accepts.

package emulator

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Graph's identifiers.
const (
	graphResource = "https://graph.microsoft.com"
	graphAppID    = "00000003-0000-0000-c000-000000000000"
	// defaultPasswordLifetime is Graph's endDateTime when addPassword gives none.
	defaultPasswordLifetime = 2 * 365 * 24 * time.Hour
	// maxFederatedCredentials is Graph's limit per application.
	maxFederatedCredentials = 20
)

// appCreds are an application's credentials managed through Graph.
type appCreds struct {
	Passwords []*passwordRecord `json:"passwords"`
	Federated []*ficRecord      `json:"federatedIdentityCredentials"`
}

// passwordRecord is a client secret; only its hash is kept.
type passwordRecord struct {
	KeyID       string    `json:"keyId"`
	DisplayName string    `json:"displayName,omitempty"`
	Hint        string    `json:"hint"`
	Start       time.Time `json:"startDateTime"`
	End         time.Time `json:"endDateTime"`
	Hash        string    `json:"hash"`
	// UsableFrom is when the password signs in (replication delay).
	UsableFrom time.Time `json:"usableFrom,omitzero"`
}

// ficRecord is a federated identity credential.
type ficRecord struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Issuer      string   `json:"issuer"`
	Subject     string   `json:"subject"`
	Description string   `json:"description,omitempty"`
	Audiences   []string `json:"audiences"`
	// IssuerKeyPEM (seed only) verifies the assertion's signature, or
	// IssuerDiscovery (seed only) the issuer's JWKS.
	IssuerKeyPEM    string `json:"issuerKeyPem,omitempty"`
	IssuerDiscovery bool   `json:"issuerDiscovery,omitempty"`
}

// seedAppCreds fills st.AppCreds from the seed's secrets and federated
// credentials for every app that has none yet (a state file written before
// Graph existed gets them too).
func (e *Emulator) seedAppCreds(st *state) {
	if st.AppCreds == nil {
		st.AppCreds = map[string]*appCreds{}
	}
	now := e.now().UTC()
	for i := range e.seed.Apps {
		a := &e.seed.Apps[i]
		key := strings.ToLower(a.ClientID)
		if st.AppCreds[key] != nil {
			continue
		}
		c := &appCreds{}
		for j, s := range a.Secrets {
			end := now.Add(defaultPasswordLifetime)
			if j < len(a.SecretEnds) && !a.SecretEnds[j].IsZero() {
				end = a.SecretEnds[j].UTC()
			}
			start := now
			if !end.After(now) {
				start = end.Add(-24 * time.Hour) // an expired one started before it ended
			}
			c.Passwords = append(c.Passwords, &passwordRecord{KeyID: newGUID(), DisplayName: fmt.Sprintf("seed-%d", j),
				Hint: secretHint(s), Start: start, End: end, Hash: hashSecret(s)})
		}
		for j, f := range a.FederatedCredentials {
			aud := f.Audience
			if aud == "" {
				aud = federatedAudience
			}
			c.Federated = append(c.Federated, &ficRecord{ID: newGUID(), Name: fmt.Sprintf("seed-%d", j), Issuer: f.Issuer,
				Subject: f.Subject, Audiences: []string{aud}, IssuerKeyPEM: f.IssuerKeyPEM, IssuerDiscovery: f.IssuerDiscovery})
		}
		st.AppCreds[key] = c
	}
}

func secretHint(s string) string {
	if len(s) < 3 {
		return s
	}
	return s[:3]
}

// credsLocked returns the app's credentials (never nil).
func (e *Emulator) credsLocked(app *App) *appCreds {
	key := strings.ToLower(app.ClientID)
	c := e.st.AppCreds[key]
	if c == nil {
		c = &appCreds{}
		e.st.AppCreds[key] = c
	}
	return c
}

// secretCheck is the outcome of checking a client secret.
type secretCheck int

const (
	secretWrong secretCheck = iota
	secretOK
	secretExpired
)

// checkSecretLocked checks a client secret against the app's current
// passwords: a password still replicating (before UsableFrom) does not sign
// in yet, as a new Entra password may not for a while.
func (e *Emulator) checkSecretLocked(app *App, secret string) secretCheck {
	h := hashSecret(secret)
	now := e.now()
	for _, p := range e.credsLocked(app).Passwords {
		if p.Hash != h || now.Before(p.UsableFrom) {
			continue
		}
		if !now.Before(p.End) {
			return secretExpired
		}
		return secretOK
	}
	return secretWrong
}

// ---- routes ----

// graphAppRefs are the two ways Graph addresses an application.
var graphAppRefs = []string{"/v1.0/applications/{id}", "/v1.0/applications(appId='{appId}')"}

func (e *Emulator) registerGraph() {
	for _, ref := range graphAppRefs {
		e.handle(http.MethodGet, ref, "graph", e.handleGraphApplication)
		e.handle(http.MethodPost, ref+"/addPassword", "graph", e.handleAddPassword)
		e.handle(http.MethodPost, ref+"/removePassword", "graph", e.handleRemovePassword)
		e.handle(http.MethodGet, ref+"/federatedIdentityCredentials", "graph", e.handleFICList)
		e.handle(http.MethodPost, ref+"/federatedIdentityCredentials", "graph", e.handleFICCreate)
		e.handle(http.MethodGet, ref+"/federatedIdentityCredentials/{fic}", "graph", e.handleFICGet)
		e.handle(http.MethodDelete, ref+"/federatedIdentityCredentials/{fic}", "graph", e.handleFICDelete)
	}
	e.handle(http.MethodGet, "/v1.0/servicePrincipals(appId='{appId}')", "graph", e.handleServicePrincipal)
}

// GraphURL is the base of graph.microsoft.com routes (append /v1.0/...).
func (e *Emulator) GraphURL() string { return e.url }

func (e *Emulator) graphContext(what string) string {
	return e.url + "/v1.0/$metadata#" + what
}

func graphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.9999999Z") }

func (p *passwordRecord) wire() map[string]any {
	return map[string]any{"customKeyIdentifier": nil, "displayName": nilIfEmpty(p.DisplayName), "endDateTime": graphTime(p.End),
		"hint": p.Hint, "keyId": p.KeyID, "secretText": nil, "startDateTime": graphTime(p.Start)}
}

func (f *ficRecord) wire() map[string]any {
	return map[string]any{"id": f.ID, "name": f.Name, "issuer": f.Issuer, "subject": f.Subject,
		"description": nilIfEmpty(f.Description), "audiences": f.Audiences}
}

// wireAll is the wire shape of every record of xs.
func wireAll[T interface{ wire() map[string]any }](xs []T) []map[string]any {
	out := make([]map[string]any, 0, len(xs))
	for _, x := range xs {
		out = append(out, x.wire())
	}
	return out
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (e *Emulator) handleGraphApplication(w http.ResponseWriter, r *http.Request, p params) {
	app, ok := e.graphApp(w, r, p, accessRead)
	if !ok {
		return
	}
	e.mu.Lock()
	pw := wireAll(e.credsLocked(app).Passwords)
	e.mu.Unlock()
	keys := make([]map[string]any, 0, len(app.Certificates))
	for _, pemText := range app.Certificates {
		if cert, err := parseCertPEM(pemText); err == nil {
			keys = append(keys, map[string]any{"customKeyIdentifier": fmt.Sprintf("%X", cert.SerialNumber.Bytes()), "displayName": cert.Subject.CommonName,
				"endDateTime": graphTime(cert.NotAfter), "keyId": newGUIDFrom(cert.Raw), "startDateTime": graphTime(cert.NotBefore),
				"type": "AsymmetricX509Cert", "usage": "Verify", "key": nil})
		}
	}
	writeGraphJSON(w, http.StatusOK, map[string]any{
		"@odata.context": e.graphContext("applications/$entity"),
		"id":             app.AppObjectID, "appId": app.ClientID, "displayName": app.DisplayName,
		"signInAudience": "AzureADMyOrg", "publisherDomain": e.tenantDomain(app.TenantID),
		"passwordCredentials": pw, "keyCredentials": keys,
	})
}

func (e *Emulator) tenantDomain(tid string) string {
	if t := e.idx.tenants[strings.ToLower(tid)]; t != nil && len(t.Domains) > 0 {
		return t.Domains[0]
	}
	return tid
}

func (e *Emulator) handleAddPassword(w http.ResponseWriter, r *http.Request, p params) {
	app, ok := e.graphApp(w, r, p, accessWrite)
	if !ok {
		return
	}
	var body struct {
		PasswordCredential *struct {
			DisplayName   string     `json:"displayName"`
			StartDateTime *time.Time `json:"startDateTime"`
			EndDateTime   *time.Time `json:"endDateTime"`
		} `json:"passwordCredential"`
	}
	if err := readJSON(r, &body); err != nil {
		writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid request body: "+err.Error())
		return
	}
	now := e.now().UTC()
	rec := &passwordRecord{KeyID: newGUID(), Start: now, End: now.Add(defaultPasswordLifetime)}
	if pc := body.PasswordCredential; pc != nil {
		rec.DisplayName = pc.DisplayName
		if pc.StartDateTime != nil {
			rec.Start = pc.StartDateTime.UTC()
		}
		if pc.EndDateTime != nil {
			rec.End = pc.EndDateTime.UTC()
		}
	}
	if !rec.End.After(rec.Start) || !rec.End.After(now) {
		writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'endDateTime' of resource 'PasswordCredential': it must be later than startDateTime and the current time.")
		return
	}
	secret := newClientSecret()
	rec.Hint, rec.Hash = secretHint(secret), hashSecret(secret)
	e.mu.Lock()
	rec.UsableFrom = now.Add(time.Duration(e.seed.PasswordReplicationDelay))
	c := e.credsLocked(app)
	c.Passwords = append(c.Passwords, rec)
	e.saveLocked()
	e.mu.Unlock()
	out := rec.wire()
	out["@odata.context"] = e.graphContext("microsoft.graph.passwordCredential")
	out["secretText"] = secret
	writeGraphJSON(w, http.StatusOK, out)
}

func (e *Emulator) handleRemovePassword(w http.ResponseWriter, r *http.Request, p params) {
	app, ok := e.graphApp(w, r, p, accessWrite)
	if !ok {
		return
	}
	var body struct {
		KeyID string `json:"keyId"`
	}
	if err := readJSON(r, &body); err != nil || body.KeyID == "" {
		writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid request body: give {\"keyId\": \"<guid>\"}.")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.credsLocked(app)
	for i, rec := range c.Passwords {
		if strings.EqualFold(rec.KeyID, body.KeyID) {
			c.Passwords = append(c.Passwords[:i], c.Passwords[i+1:]...)
			e.saveLocked()
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeGraphError(w, http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("No password credential with keyId '%s' exists on application '%s'.", body.KeyID, app.AppObjectID))
}

func (e *Emulator) handleFICList(w http.ResponseWriter, r *http.Request, p params) {
	app, ok := e.graphApp(w, r, p, accessRead)
	if !ok {
		return
	}
	e.mu.Lock()
	out := wireAll(e.credsLocked(app).Federated)
	e.mu.Unlock()
	writeGraphJSON(w, http.StatusOK, map[string]any{
		"@odata.context": e.graphContext("applications('" + app.AppObjectID + "')/federatedIdentityCredentials"), "value": out})
}

// ficNameRe is Graph's rule for federated credential names.
var ficNameRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$`) })

func (e *Emulator) handleFICCreate(w http.ResponseWriter, r *http.Request, p params) {
	app, ok := e.graphApp(w, r, p, accessWrite)
	if !ok {
		return
	}
	var in ficRecord
	if err := readJSON(r, &in); err != nil {
		writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid request body: "+err.Error())
		return
	}
	switch {
	case !ficNameRe().MatchString(in.Name):
		writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'name' of resource 'FederatedIdentityCredential': 3-120 characters, letters, digits, '-' and '_'.")
		return
	case in.Issuer == "" || in.Subject == "":
		writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "Properties 'issuer' and 'subject' of resource 'FederatedIdentityCredential' are required.")
		return
	case len(in.Audiences) != 1:
		writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "Property 'audiences' of resource 'FederatedIdentityCredential' must contain exactly one value (api://AzureADTokenExchange).")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.credsLocked(app)
	if len(c.Federated) >= maxFederatedCredentials {
		writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("An application can have at most %d federated identity credentials.", maxFederatedCredentials))
		return
	}
	for _, f := range c.Federated {
		if strings.EqualFold(f.Name, in.Name) || (f.Issuer == in.Issuer && f.Subject == in.Subject) {
			writeGraphError(w, http.StatusConflict, "Request_MultipleObjectsWithSameKeyValue",
				"FederatedIdentityCredential with the same name, or the same issuer and subject, already exists.")
			return
		}
	}
	rec := &ficRecord{ID: newGUID(), Name: in.Name, Issuer: in.Issuer, Subject: in.Subject, Description: in.Description, Audiences: in.Audiences}
	c.Federated = append(c.Federated, rec)
	e.saveLocked()
	out := rec.wire()
	out["@odata.context"] = e.graphContext("applications('" + app.AppObjectID + "')/federatedIdentityCredentials/$entity")
	writeGraphJSON(w, http.StatusCreated, out)
}

// findFIC finds a federated credential by id or name (Graph accepts both).
func findFIC(c *appCreds, ref string) int {
	for i, f := range c.Federated {
		if strings.EqualFold(f.ID, ref) || strings.EqualFold(f.Name, ref) {
			return i
		}
	}
	return -1
}

func (e *Emulator) handleFICGet(w http.ResponseWriter, r *http.Request, p params) {
	app, ok := e.graphApp(w, r, p, accessRead)
	if !ok {
		return
	}
	e.mu.Lock()
	c := e.credsLocked(app)
	i := findFIC(c, p["fic"])
	var out map[string]any
	if i >= 0 {
		out = c.Federated[i].wire()
	}
	e.mu.Unlock()
	if out == nil {
		writeGraphNotFound(w, p["fic"])
		return
	}
	out["@odata.context"] = e.graphContext("applications('" + app.AppObjectID + "')/federatedIdentityCredentials/$entity")
	writeGraphJSON(w, http.StatusOK, out)
}

func (e *Emulator) handleFICDelete(w http.ResponseWriter, r *http.Request, p params) {
	app, ok := e.graphApp(w, r, p, accessWrite)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.credsLocked(app)
	i := findFIC(c, p["fic"])
	if i < 0 {
		writeGraphNotFound(w, p["fic"])
		return
	}
	c.Federated = append(c.Federated[:i], c.Federated[i+1:]...)
	e.saveLocked()
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) handleServicePrincipal(w http.ResponseWriter, r *http.Request, p params) {
	c, ok := e.graphCaller(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	app := e.idx.apps[strings.ToLower(p["appId"])]
	e.mu.Unlock()
	if app == nil || !strings.EqualFold(app.TenantID, c.TID) {
		writeGraphNotFound(w, p["appId"])
		return
	}
	if !e.mayAccess(c, app, accessRead) {
		writeGraphDenied(w)
		return
	}
	writeGraphJSON(w, http.StatusOK, map[string]any{
		"@odata.context": e.graphContext("servicePrincipals/$entity"),
		"id":             app.ObjectID, "appId": app.ClientID, "displayName": app.DisplayName,
		"accountEnabled": true, "appOwnerOrganizationId": app.TenantID, "servicePrincipalType": "Application",
		"servicePrincipalNames": []string{app.ClientID},
	})
}

// newClientSecret returns a secret in Entra's shape: 40 characters, three
// random ones, a version marker "8Q~", then 34 random ones of [A-Za-z0-9_~].
func newClientSecret() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~"
	var b strings.Builder
	buf := make([]byte, 64)
	for b.Len() < 40 {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			if b.Len() == 3 {
				b.WriteString("8Q~")
			}
			if b.Len() < 40 {
				b.WriteByte(alphabet[int(c)%len(alphabet)]) // 256 = 4*64: no modulo bias
			}
		}
	}
	return b.String()
}
