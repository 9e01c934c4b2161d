package emulator

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The audit log (auditservice.dev.azure.com, here /auditservice):
//
//	GET /auditservice/{org}/_apis/audit/auditlog?startTime&endTime&batchSize&continuationToken
//	    → {decoratedAuditLogEntries: [...], continuationToken, hasMore}
//
// newest entry first, as the service answers. The emulator records the Token
// area's events for PATs: PatCreateEvent, PatUpdateEvent and PatRevokeEvent
// as the PAT API and TokenAdmin change PATs, PatExpiredEvent for each PAT
// whose validTo passed (derived when queried), and PatPublicDiscoveryEvent +
// PatSystemRevokeEvent when a test reports a PAT as publicly discovered
// (POST /_emulator/pats/{authorizationId}/discovered, which also revokes it,
// as the service's secret scanning does). The names of the Token events are
// the service's; the keys of their data object (DisplayName, Scope, ValidTo,
// AuthorizationId, TargetAccounts) are the emulator's choice: the service
// does not document them. The caller needs the organization's "View audit
// log" permission (Project Collection Administrators here) and, for Entra
// tokens, the vso.auditlog permission (audit-7.1 security).

// auditRecord is one stored audit event.
type auditRecord struct {
	ID            string         `json:"id"`
	Org           string         `json:"org"`
	Time          time.Time      `json:"time"`
	ActionID      string         `json:"actionId"`
	Category      string         `json:"category"`
	ActorOID      string         `json:"actorOid"`
	ActorUPN      string         `json:"actorUpn,omitempty"`
	ActorName     string         `json:"actorName"`
	Details       string         `json:"details"`
	CorrelationID string         `json:"correlationId"`
	Data          map[string]any `json:"data"`
}

// systemActor is the identity the service writes its own actions under.
const (
	systemActorID   = "00000002-0000-8888-8000-000000000000"
	systemActorName = "Azure DevOps Service"
)

// auditMaxBatch bounds batchSize (the service documents no maximum; the
// emulator's choice). auditRetention is how far back the log goes.
const (
	auditDefaultBatch = 200
	auditMaxBatch     = 2000
	auditRetention    = 90 * 24 * time.Hour
)

// auditID orders entries newest first by plain string comparison: the
// first part is the reversed time in 100 ns ticks, zero-padded.
func auditID(t time.Time, actor, correlation string) string {
	return fmt.Sprintf("%019d;%s;%s", math.MaxInt64-t.UnixNano()/100, actor, correlation)
}

// auditPATLocked records a Token event for rec done by c (nil: the service).
func (e *Emulator) auditPATLocked(org *Org, c *caller, action string, rec *patRecord, details string) {
	now := e.now().UTC()
	// Entries are ordered by time in 100 ns ticks: two events of one tick
	// (a frozen test clock) get successive ticks, in the order they happened.
	if n := len(e.st.Audit); n > 0 && !now.After(e.st.Audit[n-1].Time) {
		now = e.st.Audit[n-1].Time.Add(100 * time.Nanosecond)
	}
	actorOID, actorUPN, actorName := systemActorID, "", systemActorName
	if c != nil {
		actorOID, actorUPN, actorName = c.OID, c.UPN, c.name()
		if c.User != nil && c.User.DisplayName != "" {
			actorName = c.User.DisplayName
		}
	}
	category := map[string]string{"PatCreateEvent": "create", "PatUpdateEvent": "modify", "PatRevokeEvent": "remove",
		"PatSystemRevokeEvent": "remove", "PatExpiredEvent": "remove", "PatPublicDiscoveryEvent": "access"}[action]
	corr := newGUID()
	e.st.Audit = append(e.st.Audit, &auditRecord{
		ID: auditID(now, actorOID, corr), Org: org.Name, Time: now, ActionID: "Token." + action, Category: category,
		ActorOID: actorOID, ActorUPN: actorUPN, ActorName: actorName, Details: details, CorrelationID: corr,
		Data: patAuditData(rec),
	})
	e.trimAuditLocked(now)
}

func patAuditData(rec *patRecord) map[string]any {
	return map[string]any{"AuthorizationId": rec.AuthorizationID, "DisplayName": rec.DisplayName, "Scope": rec.Scope,
		"ValidTo": rec.ValidTo.UTC().Format(time.RFC3339), "TargetAccounts": rec.TargetAccounts, "OwnerId": rec.OwnerOID}
}

// trimAuditLocked drops entries older than the retention, so the log stays
// bounded in a long-running emulator.
func (e *Emulator) trimAuditLocked(now time.Time) {
	cut := 0
	for cut < len(e.st.Audit) && now.Sub(e.st.Audit[cut].Time) > auditRetention {
		cut++
	}
	if cut > 0 {
		e.st.Audit = append([]*auditRecord(nil), e.st.Audit[cut:]...)
	}
}

// decoratedAuditLogEntry is the wire shape (audit-7.1 DecoratedAuditLogEntry).
type decoratedAuditLogEntry struct {
	ID                      string         `json:"id"`
	CorrelationID           string         `json:"correlationId"`
	ActivityID              string         `json:"activityId"`
	ActorCUID               string         `json:"actorCUID"`
	ActorUserID             string         `json:"actorUserId"`
	ActorClientID           string         `json:"actorClientId"`
	ActorUPN                string         `json:"actorUPN"`
	AuthenticationMechanism string         `json:"authenticationMechanism"`
	Timestamp               time.Time      `json:"timestamp"`
	ScopeType               string         `json:"scopeType"`
	ScopeDisplayName        string         `json:"scopeDisplayName"`
	ScopeID                 string         `json:"scopeId"`
	ProjectID               string         `json:"projectId"`
	ProjectName             string         `json:"projectName"`
	IPAddress               *string        `json:"ipAddress"`
	UserAgent               string         `json:"userAgent"`
	ActionID                string         `json:"actionId"`
	Data                    map[string]any `json:"data"`
	Details                 string         `json:"details"`
	Area                    string         `json:"area"`
	Category                string         `json:"category"`
	CategoryDisplayName     string         `json:"categoryDisplayName"`
	ActorDisplayName        string         `json:"actorDisplayName"`
	ActorImageURL           *string        `json:"actorImageUrl"`
}

func (e *Emulator) registerAudit() {
	e.handle(http.MethodGet, "/auditservice/{org}/_apis/audit/auditlog", "ado", e.handleAuditLog)
	e.handle(http.MethodPost, "/_emulator/pats/{authorizationId}/discovered", "admin", e.handlePATDiscovered)
}

// AuditURL is the base of auditservice.dev.azure.com routes (append /{org}/...).
func (e *Emulator) AuditURL() string { return e.url + "/auditservice" }

func (e *Emulator) handleAuditLog(w http.ResponseWriter, r *http.Request, p params) {
	org := e.lookupOrg(w, p["org"])
	if org == nil {
		return
	}
	if !checkAPIVersion(w, r, generalVersions, false) {
		return
	}
	c, ok := e.authDevOps(w, r, org, true)
	if !ok {
		return
	}
	if c.Kind != kindUser || !containsFold(org.Admins, c.UPN) {
		writeVSSError(w, http.StatusForbidden, "UnauthorizedRequestException",
			fmt.Sprintf("VS403365: %s does not have the 'View audit log' permission in organization '%s' (Project Collection Administrators have it).", c.name(), org.Name))
		return
	}
	if !e.requireScope(w, org, c, "vso.auditlog") {
		return
	}
	q := r.URL.Query()
	now := e.now().UTC()
	start, end := now.Add(-auditRetention), now
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"startTime", &start}, {"endTime", &end}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeVSSError(w, http.StatusBadRequest, "ArgumentException", fmt.Sprintf("%s %q is not a date-time: use ISO 8601, e.g. 2026-12-01T00:00:00Z.", f.name, v))
				return
			}
			*f.dst = t
		}
	}
	batch := auditDefaultBatch
	if v := q.Get("batchSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > auditMaxBatch {
			writeVSSError(w, http.StatusBadRequest, "ArgumentException", fmt.Sprintf("batchSize %q is not valid: use 1 to %d.", v, auditMaxBatch))
			return
		}
		batch = n
	}
	cont := q.Get("continuationToken")

	e.mu.Lock()
	var entries []decoratedAuditLogEntry
	add := func(a *auditRecord) {
		if a.Org != org.Name || a.Time.Before(start) || a.Time.After(end) || (cont != "" && a.ID <= cont) {
			return
		}
		entries = append(entries, a.wire(org))
	}
	for _, a := range e.st.Audit {
		add(a)
	}
	// PatExpiredEvent: every PAT of the organization whose validTo passed
	// while it was still valid.
	for _, rec := range e.st.PATs {
		if rec.Revoked || !rec.ValidTo.Before(now) || rec.Org != org.Name {
			continue
		}
		add(&auditRecord{ID: auditID(rec.ValidTo, systemActorID, rec.AuthorizationID), Org: org.Name, Time: rec.ValidTo.UTC(),
			ActionID: "Token.PatExpiredEvent", Category: "remove", ActorOID: systemActorID, ActorName: systemActorName,
			Details: fmt.Sprintf("Personal access token %q expired.", rec.DisplayName), CorrelationID: rec.AuthorizationID, Data: patAuditData(rec)})
	}
	e.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].ID < entries[j].ID })
	out := struct {
		Entries           []decoratedAuditLogEntry `json:"decoratedAuditLogEntries"`
		ContinuationToken string                   `json:"continuationToken"`
		HasMore           bool                     `json:"hasMore"`
	}{Entries: []decoratedAuditLogEntry{}}
	if len(entries) > batch {
		out.Entries, out.HasMore = entries[:batch], true
	} else {
		out.Entries = entries
	}
	if n := len(out.Entries); n > 0 {
		out.ContinuationToken = out.Entries[n-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *auditRecord) wire(org *Org) decoratedAuditLogEntry {
	area, _, _ := strings.Cut(a.ActionID, ".")
	mech := "AAD_Cookie"
	if a.ActorOID == systemActorID {
		mech = ""
	}
	return decoratedAuditLogEntry{
		ID: a.ID, CorrelationID: a.CorrelationID, ActivityID: a.CorrelationID, ActorCUID: a.ActorOID, ActorUserID: a.ActorOID,
		ActorClientID: zeroGUID, ActorUPN: a.ActorUPN, AuthenticationMechanism: mech, Timestamp: a.Time,
		ScopeType: "organization", ScopeDisplayName: org.Name + " (Organization)", ScopeID: org.ID, ProjectID: zeroGUID,
		ActionID: a.ActionID, Data: a.Data, Details: a.Details, Area: area, Category: a.Category,
		CategoryDisplayName: strings.ToUpper(a.Category[:1]) + a.Category[1:], ActorDisplayName: a.ActorName,
	}
}

// handlePATDiscovered stands for the service's secret scanning finding a PAT
// in public: the PAT is revoked, with a PatPublicDiscoveryEvent and a
// PatSystemRevokeEvent in the audit log.
func (e *Emulator) handlePATDiscovered(w http.ResponseWriter, r *http.Request, p params) {
	id := strings.ToLower(p["authorizationId"])
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.st.PATs[id]
	if rec == nil {
		writeVSSError(w, http.StatusNotFound, "SessionTokenNotFoundException", fmt.Sprintf("No personal access token %s exists.", id))
		return
	}
	org := e.idx.orgs[strings.ToLower(rec.Org)]
	if org == nil {
		writeVSSError(w, http.StatusNotFound, "OrganizationNotFoundException", "the PAT's organization is not in the seed")
		return
	}
	rec.Revoked = true
	e.st.putPAT(rec)
	e.auditPATLocked(org, nil, "PatPublicDiscoveryEvent", rec, fmt.Sprintf("Personal access token %q was found in a public repository.", rec.DisplayName))
	e.auditPATLocked(org, nil, "PatSystemRevokeEvent", rec, fmt.Sprintf("Personal access token %q was revoked by the system after public discovery.", rec.DisplayName))
	e.saveLocked()
	w.WriteHeader(http.StatusNoContent)
}
