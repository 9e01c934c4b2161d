package emulator

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
)

// ---- Key Vault ----

var kvNameRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`) })

func kvError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

// kvAuth returns the vault (created on first use) or answers the challenge.
func (e *Emulator) kvAuth(w http.ResponseWriter, r *http.Request, p params) (*vaultRecord, bool) {
	name := strings.ToLower(p["vault"])
	e.mu.Lock()
	v := e.st.Vaults[name]
	tid := ""
	if v != nil {
		tid = v.TenantID
	} else if len(e.seed.Tenants) > 0 {
		tid = e.seed.Tenants[0].ID
	}
	e.mu.Unlock()
	challenge := func() {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`, e.url, tid, vaultResource))
		kvError(w, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
	}
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		challenge()
		return nil, false
	}
	c, err := e.verifyAccessToken(strings.TrimSpace(cred), vaultResource)
	if err != nil {
		challenge()
		return nil, false
	}
	if !strings.EqualFold(c.TID, tid) {
		kvError(w, http.StatusUnauthorized, "Unauthorized", fmt.Sprintf("AKV10032: Invalid issuer. Expected one of https://sts.windows.net/%s/, found https://sts.windows.net/%s/.", tid, c.TID))
		return nil, false
	}
	if r.URL.Query().Get("api-version") == "" {
		kvError(w, http.StatusBadRequest, "BadParameter", "The 'api-version' query parameter is required.")
		return nil, false
	}
	if !kvNameRe().MatchString(p["name"]) {
		kvError(w, http.StatusBadRequest, "BadParameter", fmt.Sprintf("The secret name %q is invalid: use 1-127 characters of 0-9, a-z, A-Z and -.", p["name"]))
		return nil, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if v = e.st.Vaults[name]; v == nil {
		v = &vaultRecord{TenantID: tid, Secrets: map[string][]*kvVersion{}, Names: map[string]string{}}
		e.st.Vaults[name] = v
	}
	return v, true
}

func (e *Emulator) kvBundle(vault, name string, v *kvVersion, withValue bool) map[string]any {
	attrs := map[string]any{"enabled": v.Enabled, "created": v.Created, "updated": v.Updated,
		"recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90}
	if v.NBF != nil {
		attrs["nbf"] = *v.NBF
	}
	if v.Exp != nil {
		attrs["exp"] = *v.Exp
	}
	// The id uses the real vault host form so azsecrets' ID.Name()/Version()
	// (which parse the first path segments) work; see docs/emulator.md.
	b := map[string]any{"id": "https://" + strings.ToLower(vault) + ".vault.azure.net/secrets/" + name + "/" + v.Version, "attributes": attrs}
	if withValue {
		b["value"] = v.Value
	}
	if v.ContentType != "" {
		b["contentType"] = v.ContentType
	}
	if v.Tags != nil {
		b["tags"] = v.Tags
	}
	return b
}

type kvAttrs struct {
	Enabled *bool  `json:"enabled"`
	NBF     *int64 `json:"nbf"`
	Exp     *int64 `json:"exp"`
}

func (e *Emulator) handleKVSet(w http.ResponseWriter, r *http.Request, p params) {
	v, ok := e.kvAuth(w, r, p)
	if !ok {
		return
	}
	var body struct {
		Value       *string           `json:"value"`
		ContentType string            `json:"contentType"`
		Tags        map[string]string `json:"tags"`
		Attributes  *kvAttrs          `json:"attributes"`
	}
	if err := readJSON(r, &body); err != nil || body.Value == nil {
		kvError(w, http.StatusBadRequest, "BadParameter", "The request body must be {\"value\": ...} (SetSecretParameters).")
		return
	}
	if len(*body.Value) > 25*1024 {
		kvError(w, http.StatusBadRequest, "BadParameter", "Secret value exceeds 25 KB.")
		return
	}
	now := e.now().Unix()
	ver := &kvVersion{Version: strings.ReplaceAll(newGUID(), "-", ""), Value: *body.Value, ContentType: body.ContentType,
		Tags: body.Tags, Enabled: true, Created: now, Updated: now}
	if a := body.Attributes; a != nil {
		if a.Enabled != nil {
			ver.Enabled = *a.Enabled
		}
		ver.NBF, ver.Exp = a.NBF, a.Exp
	}
	e.mu.Lock()
	key := strings.ToLower(p["name"])
	v.Secrets[key] = append(v.Secrets[key], ver)
	if v.Names[key] == "" {
		v.Names[key] = p["name"]
	}
	name := v.Names[key]
	e.saveLocked()
	b := e.kvBundle(p["vault"], name, ver, true)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, b)
}

func (e *Emulator) findKVLocked(v *vaultRecord, name, version string) (*kvVersion, string) {
	vs := v.Secrets[strings.ToLower(name)]
	if len(vs) == 0 {
		return nil, ""
	}
	if version == "" {
		return vs[len(vs)-1], v.Names[strings.ToLower(name)]
	}
	for _, x := range vs {
		if strings.EqualFold(x.Version, version) {
			return x, v.Names[strings.ToLower(name)]
		}
	}
	return nil, ""
}

func (e *Emulator) handleKVGet(w http.ResponseWriter, r *http.Request, p params) {
	v, ok := e.kvAuth(w, r, p)
	if !ok {
		return
	}
	e.mu.Lock()
	x, name := e.findKVLocked(v, p["name"], p["version"])
	var b map[string]any
	if x != nil {
		b = e.kvBundle(p["vault"], name, x, true)
	}
	e.mu.Unlock()
	if x == nil {
		kvError(w, http.StatusNotFound, "SecretNotFound", fmt.Sprintf("A secret with (name/id) %s was not found in this key vault.", p["name"]))
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (e *Emulator) handleKVVersions(w http.ResponseWriter, r *http.Request, p params) {
	v, ok := e.kvAuth(w, r, p)
	if !ok {
		return
	}
	e.mu.Lock()
	var out []map[string]any
	for _, x := range v.Secrets[strings.ToLower(p["name"])] {
		out = append(out, e.kvBundle(p["vault"], v.Names[strings.ToLower(p["name"])], x, false))
	}
	e.mu.Unlock()
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out, "nextLink": nil})
}

func (e *Emulator) handleKVPatch(w http.ResponseWriter, r *http.Request, p params) {
	v, ok := e.kvAuth(w, r, p)
	if !ok {
		return
	}
	var body struct {
		ContentType *string           `json:"contentType"`
		Tags        map[string]string `json:"tags"`
		Attributes  *kvAttrs          `json:"attributes"`
	}
	if err := readJSON(r, &body); err != nil {
		kvError(w, http.StatusBadRequest, "BadParameter", "The request body must be UpdateSecretPropertiesParameters: "+err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	x, name := e.findKVLocked(v, p["name"], p["version"])
	if x == nil {
		kvError(w, http.StatusNotFound, "SecretNotFound", fmt.Sprintf("A secret with (name/id) %s/%s was not found in this key vault.", p["name"], p["version"]))
		return
	}
	if body.ContentType != nil {
		x.ContentType = *body.ContentType
	}
	if body.Tags != nil {
		x.Tags = body.Tags
	}
	if a := body.Attributes; a != nil {
		if a.Enabled != nil {
			x.Enabled = *a.Enabled
		}
		if a.NBF != nil {
			x.NBF = a.NBF
		}
		if a.Exp != nil {
			x.Exp = a.Exp
		}
	}
	x.Updated = e.now().Unix()
	e.saveLocked()
	writeJSON(w, http.StatusOK, e.kvBundle(p["vault"], name, x, false))
}
