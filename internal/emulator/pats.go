package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

const (
	// defaultPageSize is the List page size when $top is absent.
	defaultPageSize = 20
	// defaultMaxLifespan applies when the org has no lifespan policy (the UI maximum).
	defaultMaxLifespan = 365 * 24 * time.Hour
	maxDisplayName     = 256
)

func (p *patRecord) wire() api.PatToken {
	t := api.PatToken{AuthorizationID: p.AuthorizationID, DisplayName: p.DisplayName, Scope: p.Scope,
		ValidFrom: p.ValidFrom, ValidTo: p.ValidTo}
	if p.TargetAccounts != nil {
		t.TargetAccounts = append([]string{}, p.TargetAccounts...)
	}
	return t
}

func (p *patRecord) status(now time.Time) int {
	switch {
	case p.Revoked:
		return 2
	case !now.Before(p.ValidTo):
		return 1
	}
	return 0
}

func (p *patRecord) visibleIn(org *Org) bool {
	return p.TargetAccounts == nil || containsFold(p.TargetAccounts, org.ID)
}

func patResult(w http.ResponseWriter, code, msg string) {
	writeJSON(w, http.StatusOK, api.PatTokenResult{PatToken: nil, PatTokenError: code, PatTokenErrorMessage: msg})
}

// Delegated permissions the PAT API needs (tokens-7.2.json: vso.pats for
// get and list, vso.pats_manage — "read and manage" — for create, update and
// revoke; user_impersonation grants both).
var (
	patRead   = []string{permPATs, permPATsManage}
	patManage = []string{permPATsManage}
)

// patCaller runs the common checks of the PAT API: org, api-version, user
// token, and its delegated permissions (want).
func (e *Emulator) patCaller(w http.ResponseWriter, r *http.Request, p params, want []string) (*Org, *caller, bool) {
	org := e.lookupOrg(w, p["org"])
	if org == nil {
		return nil, nil, false
	}
	if !checkAPIVersion(w, r, patVersions, true) {
		return nil, nil, false
	}
	c, ok := e.authDevOps(w, r, org, false)
	if !ok {
		return nil, nil, false
	}
	if c.Kind != kindUser || c.User == nil {
		e.objectMoved(w, r, org)
		return nil, nil, false
	}
	if !e.requireScope(w, org, c, want...) {
		return nil, nil, false
	}
	return org, c, true
}

func maxLifespan(org *Org) time.Duration {
	if org.Policy.MaxLifespanDays > 0 {
		return time.Duration(org.Policy.MaxLifespanDays) * 24 * time.Hour
	}
	return defaultMaxLifespan
}

// globalPATsRetired reports whether global PATs are retired at now (the
// seed's globalPatRetirement, default 2026-12-01).
func (e *Emulator) globalPATsRetired(now time.Time) bool {
	return !now.Before(e.seed.GlobalPATRetirement)
}

// globalRetiredMessage is the patTokenErrorMessage of a refused global PAT
// after the retirement. The service's exact wording is unconfirmed.
func (e *Emulator) globalRetiredMessage() string {
	return fmt.Sprintf("Global personal access tokens were retired on %s and can no longer be created or modified. Create a personal access token for a specific organization (allOrgs false) instead.",
		e.seed.GlobalPATRetirement.UTC().Format("2006-01-02"))
}

// policyCheck applies scope and global-PAT policies; it returns a patTokenError or "".
func (e *Emulator) policyCheck(org *Org, scope string, global bool, now time.Time) (string, string) {
	if bad, ok := validScope(scope); !ok {
		if bad == "" {
			return api.ErrInvalidScope, "scope is empty: give space-separated scopes such as vso.code"
		}
		return api.ErrInvalidScope, fmt.Sprintf("scope %q is not a known PAT scope", bad)
	}
	if global && e.globalPATsRetired(now) {
		return api.ErrGlobalPATCreationBlocked, e.globalRetiredMessage()
	}
	if global && org.Policy.GlobalPATCreationBlocked {
		return api.ErrGlobalPATCreationBlocked, "creation of global (all organizations) PATs is blocked: create an organization-scoped PAT (allOrgs false)"
	}
	if global && org.Policy.BlockGlobal {
		return api.ErrGlobalPatPolicyViolation, "the tenant policy 'Restrict global personal access token creation' blocks allOrgs PATs"
	}
	if org.Policy.BlockFullScope && scopeGrants(scope) {
		return api.ErrFullScopePatPolicyViolation, "the tenant policy 'Restrict full-scoped personal access token creation' blocks app_token PATs: request specific scopes"
	}
	return "", ""
}

func (e *Emulator) handlePatsCreate(w http.ResponseWriter, r *http.Request, p params) {
	org, c, ok := e.patCaller(w, r, p, patManage)
	if !ok {
		return
	}
	var req api.PatTokenCreateRequest
	if err := readJSON(r, &req); err != nil {
		writeVSSError(w, http.StatusBadRequest, "VssPropertyValidationException", "TF400898: An Internal Error Occurred. The request body is not a PatTokenCreateRequest: "+err.Error())
		return
	}
	now := e.now().UTC()
	switch {
	case strings.TrimSpace(req.DisplayName) == "":
		patResult(w, api.ErrDisplayNameRequired, "displayName is required")
		return
	case len(req.DisplayName) > maxDisplayName:
		patResult(w, api.ErrInvalidDisplayName, fmt.Sprintf("displayName is longer than %d characters", maxDisplayName))
		return
	case org.Policy.RestrictCreation && !containsFold(org.Policy.CreationAllowlist, c.UPN):
		patResult(w, api.ErrDisablePatCreationPolicyViolation, fmt.Sprintf("the organization policy 'Restrict personal access token creation' allows only allowlisted users; %s is not on the list", c.UPN))
		return
	case req.ValidTo.IsZero() || !req.ValidTo.After(now):
		patResult(w, api.ErrInvalidValidTo, "validTo must be in the future")
		return
	}
	if code, msg := e.policyCheck(org, req.Scope, req.AllOrgs, now); code != "" {
		patResult(w, code, msg)
		return
	}
	validTo := req.ValidTo.UTC()
	if limit := now.Add(maxLifespan(org)); validTo.After(limit) {
		validTo = limit
	}
	secret := e.newPATSecret()
	rec := &patRecord{AuthorizationID: newGUID(), OwnerOID: c.OID, Org: org.Name, DisplayName: req.DisplayName,
		Scope: strings.Join(strings.Fields(req.Scope), " "), ValidFrom: now.Truncate(100 * time.Nanosecond),
		ValidTo: validTo.Round(10 * time.Millisecond), Hash: hashSecret(secret)}
	if !req.AllOrgs {
		rec.TargetAccounts = []string{org.ID}
	}
	e.mu.Lock()
	e.st.putPAT(rec)
	e.auditPATLocked(org, c, "PatCreateEvent", rec, fmt.Sprintf("Personal access token %q was created.", rec.DisplayName))
	e.saveLocked()
	e.mu.Unlock()
	t := rec.wire()
	t.Token = &secret
	writeJSON(w, http.StatusOK, api.PatTokenResult{PatToken: &t, PatTokenError: api.ErrNone})
}

// findPAT returns the caller's PAT visible in org (nil if none).
func (e *Emulator) findPATLocked(org *Org, c *caller, id string) *patRecord {
	rec := e.st.PATs[strings.ToLower(id)]
	if rec == nil || !strings.EqualFold(rec.OwnerOID, c.OID) || !rec.visibleIn(org) {
		return nil
	}
	return rec
}

func (e *Emulator) handlePatsGet(w http.ResponseWriter, r *http.Request, p params) {
	if !r.URL.Query().Has("authorizationId") {
		e.handlePatsList(w, r, p)
		return
	}
	org, c, ok := e.patCaller(w, r, p, patRead)
	if !ok {
		return
	}
	id := r.URL.Query().Get("authorizationId")
	if !isGUID(id) {
		patResult(w, api.ErrInvalidAuthorizationID, fmt.Sprintf("authorizationId %q is not a GUID", id))
		return
	}
	e.mu.RLock()
	rec := e.findPATLocked(org, c, id)
	var t api.PatToken
	if rec != nil {
		t = rec.wire()
	}
	e.mu.RUnlock()
	if rec == nil {
		patResult(w, api.ErrAuthorizationNotFound, fmt.Sprintf("no personal access token %s of %s in organization %s", id, c.UPN, org.Name))
		return
	}
	writeJSON(w, http.StatusOK, api.PatTokenResult{PatToken: &t, PatTokenError: api.ErrNone})
}

func (e *Emulator) handlePatsUpdate(w http.ResponseWriter, r *http.Request, p params) {
	org, c, ok := e.patCaller(w, r, p, patManage)
	if !ok {
		return
	}
	var req api.PatTokenUpdateRequest
	if err := readJSON(r, &req); err != nil {
		writeVSSError(w, http.StatusBadRequest, "VssPropertyValidationException", "TF400898: An Internal Error Occurred. The request body is not a PatTokenUpdateRequest: "+err.Error())
		return
	}
	if !isGUID(req.AuthorizationID) {
		patResult(w, api.ErrInvalidAuthorizationID, fmt.Sprintf("authorizationId %q is not a GUID", req.AuthorizationID))
		return
	}
	now := e.now().UTC()
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.findPATLocked(org, c, req.AuthorizationID)
	if rec == nil {
		patResult(w, api.ErrAuthorizationNotFound, fmt.Sprintf("no personal access token %s of %s in organization %s", req.AuthorizationID, c.UPN, org.Name))
		return
	}
	if rec.Revoked {
		patResult(w, api.ErrAuthorizationNotFound, fmt.Sprintf("personal access token %s is revoked; only valid tokens can be updated", rec.AuthorizationID))
		return
	}
	if org.Policy.RestrictCreation && !containsFold(org.Policy.CreationAllowlist, c.UPN) {
		patResult(w, api.ErrDisablePatCreationPolicyViolation, "the organization policy 'Restrict personal access token creation' allows only allowlisted users to update or regenerate PATs")
		return
	}
	next := *rec
	if req.DisplayName != nil {
		if strings.TrimSpace(*req.DisplayName) == "" {
			patResult(w, api.ErrDisplayNameRequired, "displayName must not be empty")
			return
		}
		if len(*req.DisplayName) > maxDisplayName {
			patResult(w, api.ErrInvalidDisplayName, fmt.Sprintf("displayName is longer than %d characters", maxDisplayName))
			return
		}
		next.DisplayName = *req.DisplayName
	}
	if req.Scope != nil {
		next.Scope = strings.Join(strings.Fields(*req.Scope), " ")
	}
	global := rec.TargetAccounts == nil
	if req.AllOrgs != nil {
		global = *req.AllOrgs
	}
	if req.Scope != nil || (req.AllOrgs != nil && *req.AllOrgs && rec.TargetAccounts != nil) {
		if code, msg := e.policyCheck(org, next.Scope, global && (req.AllOrgs != nil && *req.AllOrgs), now); code != "" {
			patResult(w, code, msg)
			return
		}
	}
	if global && e.globalPATsRetired(now) {
		// A surviving global PAT can only be revoked (or made
		// organisation-scoped with allOrgs false); unconfirmed, see docs.
		patResult(w, api.ErrGlobalPATCreationBlocked, e.globalRetiredMessage())
		return
	}
	if global {
		next.TargetAccounts = nil
	} else if rec.TargetAccounts == nil {
		next.TargetAccounts = []string{org.ID}
	}
	if req.ValidTo != nil {
		vt := req.ValidTo.UTC()
		if !vt.After(now) {
			patResult(w, api.ErrInvalidValidTo, "validTo must be in the future")
			return
		}
		if !now.Before(rec.ValidTo) && vt.After(rec.ValidTo) {
			patResult(w, api.ErrExpiredPatCannotBeExtended, fmt.Sprintf("personal access token %s expired at %s and cannot be extended: create a new one", rec.AuthorizationID, rec.ValidTo.Format(time.RFC3339)))
			return
		}
		if limit := rec.ValidFrom.Add(maxLifespan(org)); vt.After(limit) {
			vt = limit
		}
		next.ValidTo = vt.Round(10 * time.Millisecond)
	}
	*rec = next
	e.st.putPAT(rec)
	e.auditPATLocked(org, c, "PatUpdateEvent", rec, fmt.Sprintf("Personal access token %q was updated.", rec.DisplayName))
	e.saveLocked()
	t := rec.wire()
	writeJSON(w, http.StatusOK, api.PatTokenResult{PatToken: &t, PatTokenError: api.ErrNone})
}

func (e *Emulator) handlePatsRevoke(w http.ResponseWriter, r *http.Request, p params) {
	org, c, ok := e.patCaller(w, r, p, patManage)
	if !ok {
		return
	}
	id := r.URL.Query().Get("authorizationId")
	if !isGUID(id) {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", fmt.Sprintf("authorizationId %q is not a GUID: pass the authorizationId of the PAT to revoke.", id))
		return
	}
	e.mu.Lock()
	rec := e.findPATLocked(org, c, id)
	if rec != nil {
		if !rec.Revoked {
			e.auditPATLocked(org, c, "PatRevokeEvent", rec, fmt.Sprintf("Personal access token %q was revoked.", rec.DisplayName))
		}
		rec.Revoked = true
		e.st.putPAT(rec)
		e.saveLocked()
	}
	e.mu.Unlock()
	if rec == nil {
		writeVSSError(w, http.StatusNotFound, "SessionTokenNotFoundException", fmt.Sprintf("No personal access token %s of %s exists in organization %s.", id, c.UPN, org.Name))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- List and paging ----

// listOptions are the "filtering options" a continuation token is bound to.
type listOptions struct {
	Filter string `json:"f"`
	Sort   string `json:"s"`
	Asc    bool   `json:"a"`
	Top    int    `json:"t"`
}

// sortKey is the position of a PAT in a listing.
type sortKey struct {
	Name string    `json:"n"`
	Date time.Time `json:"d"`
	Rank int       `json:"r"`
	ID   string    `json:"i"`
}

type contToken struct {
	O listOptions `json:"o"`
	K sortKey     `json:"k"`
}

func keyOf(p *patRecord, now time.Time) sortKey {
	return sortKey{Name: strings.ToLower(p.DisplayName), Date: p.ValidTo, Rank: p.status(now), ID: p.AuthorizationID}
}

// less orders keys for sortBy ascending.
func less(sortBy string, a, b sortKey) bool {
	switch sortBy {
	case api.SortDisplayDate:
		if !a.Date.Equal(b.Date) {
			return a.Date.Before(b.Date)
		}
	case api.SortStatus:
		if a.Rank != b.Rank {
			return a.Rank < b.Rank
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
	default:
		if a.Name != b.Name {
			return a.Name < b.Name
		}
	}
	return a.ID < b.ID
}

func (e *Emulator) handlePatsList(w http.ResponseWriter, r *http.Request, p params) {
	org, c, ok := e.patCaller(w, r, p, patRead)
	if !ok {
		return
	}
	q := r.URL.Query()
	opt := listOptions{Filter: q.Get("displayFilterOption"), Sort: q.Get("sortByOption"), Asc: true, Top: defaultPageSize}
	if opt.Filter == "" {
		opt.Filter = api.FilterActive
	}
	if opt.Sort == "" {
		opt.Sort = api.SortDisplayName
	}
	bad := func(msg string) { writeVSSError(w, http.StatusBadRequest, "ArgumentException", msg) }
	switch strings.ToLower(opt.Filter) {
	case "active", "revoked", "expired", "all":
		opt.Filter = strings.ToLower(opt.Filter)
	default:
		bad(fmt.Sprintf("displayFilterOption %q is not valid: use active, revoked, expired or all.", opt.Filter))
		return
	}
	switch strings.ToLower(opt.Sort) {
	case "displayname":
		opt.Sort = api.SortDisplayName
	case "displaydate":
		opt.Sort = api.SortDisplayDate
	case "status":
		opt.Sort = api.SortStatus
	default:
		bad(fmt.Sprintf("sortByOption %q is not valid: use displayName, displayDate or status.", opt.Sort))
		return
	}
	if v := q.Get("isSortAscending"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(fmt.Sprintf("isSortAscending %q is not a boolean.", v))
			return
		}
		opt.Asc = b
	}
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > api.MaxPageSize {
			bad(fmt.Sprintf("$top %q is not valid: use 1 to %d.", v, api.MaxPageSize))
			return
		}
		opt.Top = n
	}
	var after *sortKey
	if ct := q.Get("continuationToken"); ct != "" {
		var tok contToken
		raw, err := base64.RawURLEncoding.DecodeString(ct)
		if err == nil {
			err = json.Unmarshal(raw, &tok)
		}
		if err != nil {
			bad("continuationToken is not a token this server issued: restart listing without it.")
			return
		}
		if tok.O != opt {
			bad(fmt.Sprintf("continuationToken was issued for different filtering options (displayFilterOption=%s, sortByOption=%s, isSortAscending=%t, $top=%d): send the same options with every continuationToken.",
				tok.O.Filter, tok.O.Sort, tok.O.Asc, tok.O.Top))
			return
		}
		after = &tok.K
	}
	now := e.now()
	owner := strings.ToLower(c.OID)
	// A page is a seek in the owner's indexes (patindex.go), under the read
	// lock; only when PATs expired (or, with a clock set back, came back)
	// since the last listing does it take the write lock to move them.
	e.mu.RLock()
	unlock := e.mu.RUnlock
	groups := e.st.pats.listGroups(owner, org.ID)
	if slices.ContainsFunc(groups, func(g *patGroup) bool { return g.stale(now) }) {
		e.mu.RUnlock()
		e.mu.Lock()
		unlock = e.mu.Unlock
		groups = e.st.pats.listGroups(owner, org.ID)
		for _, g := range groups {
			g.resplit(now)
		}
	}
	items := patPage(groups, opt, after, opt.Top, now)
	end := min(opt.Top, len(items))
	page := api.PagedPatTokens{PatTokens: make([]api.PatToken, 0, end)}
	for _, it := range items[:end] {
		page.PatTokens = append(page.PatTokens, it.rec.wire())
	}
	if end < len(items) {
		last := items[end-1]
		b, _ := json.Marshal(contToken{O: opt, K: sortKey{Name: last.name, Date: last.to, Rank: last.rec.status(now), ID: last.id}})
		page.ContinuationToken = base64.RawURLEncoding.EncodeToString(b)
	}
	unlock()
	writeJSON(w, http.StatusOK, page)
}

// IssuePAT creates an organisation-scoped PAT for upn directly (a test hook
// that skips sign-in) and returns its authorizationId and secret.
func (e *Emulator) IssuePAT(upn, org, displayName, scope string, validTo time.Time) (id, secret string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.idx.users[strings.ToLower(upn)]
	o := e.idx.orgs[strings.ToLower(org)]
	if u == nil || o == nil {
		return "", "", fmt.Errorf("emulator: IssuePAT: unknown user %q or org %q", upn, org)
	}
	secret = e.newPATSecret()
	rec := &patRecord{AuthorizationID: newGUID(), OwnerOID: u.ObjectID, Org: o.Name, DisplayName: displayName, Scope: scope,
		TargetAccounts: []string{o.ID}, ValidFrom: e.now().UTC(), ValidTo: validTo.UTC().Round(10 * time.Millisecond), Hash: hashSecret(secret)}
	e.st.putPAT(rec)
	e.auditPATLocked(o, &caller{Kind: kindUser, OID: u.ObjectID, TID: u.TenantID, UPN: u.UPN, User: u}, "PatCreateEvent", rec, fmt.Sprintf("Personal access token %q was created.", rec.DisplayName))
	e.saveLocked()
	return rec.AuthorizationID, secret, nil
}

// PAT returns the stored PAT (without secret) and whether it exists.
func (e *Emulator) PAT(authorizationID string) (api.PatToken, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	rec := e.st.PATs[strings.ToLower(authorizationID)]
	if rec == nil {
		return api.PatToken{}, false
	}
	return rec.wire(), true
}

// PATIsRevoked reports whether the PAT exists and is revoked.
func (e *Emulator) PATIsRevoked(authorizationID string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	rec := e.st.PATs[strings.ToLower(authorizationID)]
	return rec != nil && rec.Revoked
}

// ---- TokenAdmin ----

func (e *Emulator) tokenAdminCaller(w http.ResponseWriter, r *http.Request, p params) (*Org, *caller, bool) {
	org := e.lookupOrg(w, p["org"])
	if org == nil {
		return nil, nil, false
	}
	if !checkAPIVersion(w, r, generalVersions, false) {
		return nil, nil, false
	}
	c, ok := e.authDevOps(w, r, org, false)
	if !ok {
		return nil, nil, false
	}
	if c.Kind != kindUser || !containsFold(org.Admins, c.UPN) {
		writeVSSError(w, http.StatusUnauthorized, "UnauthorizedRequestException",
			fmt.Sprintf("TF400813: %s is not a Project Collection Administrator of organization '%s': TokenAdmin needs an organization administrator.", c.name(), org.Name))
		return nil, nil, false
	}
	if !e.requireScope(w, org, c, "vso.tokenadministration") { // tokenAdmin-7.2.json security
		return nil, nil, false
	}
	return org, c, true
}

func (e *Emulator) handleTokenAdminList(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.tokenAdminCaller(w, r, p)
	if !ok {
		return
	}
	desc := p["descriptor"]
	prefix, enc, _ := strings.Cut(desc, ".")
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		raw, err = base64.RawURLEncoding.DecodeString(enc)
	}
	if !strings.EqualFold(prefix, "aad") || err != nil || !isGUID(string(raw)) {
		writeVSSError(w, http.StatusBadRequest, "InvalidSubjectDescriptorException",
			fmt.Sprintf("The subject descriptor %q is not valid: expected aad.<base64 of the user's object id>.", desc))
		return
	}
	oid := strings.ToLower(string(raw))
	q := r.URL.Query()
	size := defaultPageSize
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > api.MaxPageSize {
			writeVSSError(w, http.StatusBadRequest, "ArgumentException", fmt.Sprintf("pageSize %q is not valid: use 1 to %d.", v, api.MaxPageSize))
			return
		}
		size = n
	}
	cont := q.Get("continuationToken")
	if cont != "" && !isGUID(cont) {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "continuationToken is not valid: pass the value of the previous page.")
		return
	}
	now := e.now()
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.idx.usersByOID[oid] == nil {
		writeVSSError(w, http.StatusNotFound, "IdentityNotFoundException", fmt.Sprintf("No user with subject descriptor %s exists.", desc))
		return
	}
	var items []*patEntry
	if v, _ := strconv.ParseBool(q.Get("isPublic")); !v {
		items = tokenAdminPage(e.st.pats.listGroups(oid, org.ID), strings.ToLower(cont), size)
	}
	end := min(size, len(items))
	out := api.PagedSessionTokens{Value: make([]api.SessionToken, 0, end)}
	for _, it := range items[:end] {
		rec := it.rec
		out.Value = append(out.Value, api.SessionToken{AuthorizationID: rec.AuthorizationID, AccessID: zeroGUID, ClientID: zeroGUID,
			HostAuthorizationID: zeroGUID, UserID: rec.OwnerOID, DisplayName: rec.DisplayName, Scope: rec.Scope,
			TargetAccounts: rec.wire().TargetAccounts, ValidFrom: rec.ValidFrom, ValidTo: rec.ValidTo,
			IsValid: rec.status(now) == 0})
	}
	if end < len(items) {
		last := items[end-1].id
		out.ContinuationToken = &last
	}
	writeJSON(w, http.StatusOK, out)
}

const zeroGUID = "00000000-0000-0000-0000-000000000000"

func (e *Emulator) handleTokenAdminRevocations(w http.ResponseWriter, r *http.Request, p params) {
	org, c, ok := e.tokenAdminCaller(w, r, p)
	if !ok {
		return
	}
	var body []api.TokenAdminRevocation
	if err := readJSON(r, &body); err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "body must be [{\"authorizationId\":\"<guid>\"},...]: "+err.Error())
		return
	}
	for _, rv := range body {
		if !isGUID(rv.AuthorizationID) {
			writeVSSError(w, http.StatusBadRequest, "ArgumentException", fmt.Sprintf("authorizationId %q is not a GUID.", rv.AuthorizationID))
			return
		}
	}
	e.mu.Lock()
	for _, rv := range body {
		if rec := e.st.PATs[strings.ToLower(rv.AuthorizationID)]; rec != nil && rec.visibleIn(org) {
			if !rec.Revoked {
				e.auditPATLocked(org, c, "PatRevokeEvent", rec, fmt.Sprintf("Personal access token %q was revoked by an administrator.", rec.DisplayName))
			}
			rec.Revoked = true
			e.st.putPAT(rec)
		}
	}
	e.saveLocked()
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) handleTokenAdminRules(w http.ResponseWriter, r *http.Request, p params) {
	org, c, ok := e.tokenAdminCaller(w, r, p)
	if !ok {
		return
	}
	var body struct {
		Scopes        string     `json:"scopes"`
		CreatedBefore *time.Time `json:"createdBefore"`
	}
	if err := readJSON(r, &body); err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "body must be {\"scopes\":\"...\",\"createdBefore\":\"...\"}: "+err.Error())
		return
	}
	if strings.TrimSpace(body.Scopes) == "" {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "scopes is required: name the scopes whose tokens the rule revokes.")
		return
	}
	before := e.now()
	if body.CreatedBefore != nil {
		before = *body.CreatedBefore
	}
	want := strings.Fields(body.Scopes)
	e.mu.Lock()
	for _, rec := range e.st.PATs {
		if rec.visibleIn(org) && rec.ValidFrom.Before(before) && scopeGrants(rec.Scope, want...) {
			if !rec.Revoked {
				e.auditPATLocked(org, c, "PatRevokeEvent", rec, fmt.Sprintf("Personal access token %q was revoked by a revocation rule.", rec.DisplayName))
			}
			rec.Revoked = true
		}
	}
	e.st.pats = buildPATIndex(e.st.PATs) // a rule may revoke any number of PATs: one rebuild
	e.saveLocked()
	e.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}
