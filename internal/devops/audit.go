package devops

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// GraphAPIVersion and AuditAPIVersion are the api-versions patrol sends to
// the Graph users and audit log APIs (both preview-only).
const (
	GraphAPIVersion = "7.1-preview.1"
	AuditAPIVersion = "7.1-preview.1"
	auditBatchSize  = 200
)

// GraphUser is the subset of a GraphUser patrol reads.
type GraphUser struct {
	SubjectKind   string `json:"subjectKind"`
	PrincipalName string `json:"principalName"`
	MailAddress   string `json:"mailAddress"`
	Origin        string `json:"origin"`
	OriginID      string `json:"originId"`
	DisplayName   string `json:"displayName"`
	Descriptor    string `json:"descriptor"`
	// MetaType is the user's kind in Entra: member, guest, …
	MetaType string `json:"metaType,omitempty"`
	// IsDeletedInOrigin: Azure DevOps knows the user was deleted in Entra ID.
	IsDeletedInOrigin bool `json:"isDeletedInOrigin,omitempty"`
}

// ListUsers yields every Entra (aad) user of the organisation (vssps Graph
// users), following the X-MS-ContinuationToken header.
func (c *Client) ListUsers(ctx context.Context) iter.Seq2[GraphUser, error] {
	return func(yield func(GraphUser, error) bool) {
		cont := ""
		seen := map[string]bool{}
		for page := 1; ; page++ {
			q := url.Values{"api-version": {GraphAPIVersion}, "subjectTypes": {"aad"}}
			if cont != "" {
				q.Set("continuationToken", cont)
			}
			var body struct {
				Value []GraphUser `json:"value"`
			}
			r := request{op: "list users", method: http.MethodGet, url: c.vsspsURL("/_apis/graph/users", q), retry: true}
			h, err := c.doHeader(ctx, r, &body)
			if err != nil {
				yield(GraphUser{}, err)
				return
			}
			for _, u := range body.Value {
				if !yield(u, nil) {
					return
				}
			}
			next := h.Get("X-MS-ContinuationToken")
			if next == "" {
				return
			}
			if err := c.nextPage("list users", r, page, seen, next); err != nil {
				yield(GraphUser{}, err)
				return
			}
			cont = next
		}
	}
}

// AuditEntry is the subset of a DecoratedAuditLogEntry patrol reads.
type AuditEntry struct {
	ID               string          `json:"id"`
	Timestamp        time.Time       `json:"timestamp"`
	ActionID         string          `json:"actionId"`
	Area             string          `json:"area"`
	Category         string          `json:"category"`
	ActorUPN         string          `json:"actorUPN"`
	ActorDisplayName string          `json:"actorDisplayName"`
	ActorUserID      string          `json:"actorUserId"`
	Details          string          `json:"details"`
	Data             json.RawMessage `json:"data"`
}

// QueryAuditLog yields the organisation's audit entries between start and
// end (zero: the service's defaults), newest first, following every
// continuation token. It needs the "View audit log" permission.
func (c *Client) QueryAuditLog(ctx context.Context, start, end time.Time) iter.Seq2[AuditEntry, error] {
	return func(yield func(AuditEntry, error) bool) {
		cont := ""
		seen := map[string]bool{}
		for page := 1; ; page++ {
			q := url.Values{"api-version": {AuditAPIVersion}, "batchSize": {strconv.Itoa(auditBatchSize)}}
			if !start.IsZero() {
				q.Set("startTime", start.UTC().Format(time.RFC3339Nano))
			}
			if !end.IsZero() {
				q.Set("endTime", end.UTC().Format(time.RFC3339Nano))
			}
			if cont != "" {
				q.Set("continuationToken", cont)
			}
			var body struct {
				Entries           []AuditEntry `json:"decoratedAuditLogEntries"`
				ContinuationToken string       `json:"continuationToken"`
				HasMore           bool         `json:"hasMore"`
			}
			r := request{op: "query audit log", method: http.MethodGet, url: c.audit + "/" + url.PathEscape(c.org) + "/_apis/audit/auditlog?" + q.Encode(), retry: true}
			if err := c.do(ctx, r, &body); err != nil {
				yield(AuditEntry{}, err)
				return
			}
			for _, en := range body.Entries {
				if !yield(en, nil) {
					return
				}
			}
			if !body.HasMore || body.ContinuationToken == "" {
				return
			}
			if err := c.nextPage("query audit log", r, page, seen, body.ContinuationToken); err != nil {
				yield(AuditEntry{}, err)
				return
			}
			cont = body.ContinuationToken
		}
	}
}

// nextPage refuses a repeated continuation token and a listing past
// maxPages, and records tok as seen.
func (c *Client) nextPage(op string, r request, page int, seen map[string]bool, tok string) error {
	if seen[tok] {
		return &APIError{Op: op, Method: r.method, URL: redactURL(r.url), Status: http.StatusOK,
			Message: "the server repeated a continuation token; stopping to avoid an endless loop", kind: errkind.Transient}
	}
	if page >= c.maxPages {
		return c.pageCapError(op, r.url)
	}
	seen[tok] = true
	return nil
}

// Project is the subset of a TeamProjectReference patrol reads.
type Project struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ListProjects yields every project of the organisation ($top 100, next page
// in the X-MS-ContinuationToken header).
func (c *Client) ListProjects(ctx context.Context) iter.Seq2[Project, error] {
	return func(yield func(Project, error) bool) {
		cont := ""
		seen := map[string]bool{}
		for page := 1; ; page++ {
			q := url.Values{"api-version": {"7.1"}, "$top": {"100"}}
			if cont != "" {
				q.Set("continuationToken", cont)
			}
			var body struct {
				Value []Project `json:"value"`
			}
			r := request{op: "list projects", method: http.MethodGet, url: c.devopsOrgURL("/_apis/projects", q), retry: true}
			h, err := c.doHeader(ctx, r, &body)
			if err != nil {
				yield(Project{}, err)
				return
			}
			for _, p := range body.Value {
				if !yield(p, nil) {
					return
				}
			}
			next := h.Get("X-MS-ContinuationToken")
			if next == "" {
				return
			}
			if err := c.nextPage("list projects", r, page, seen, next); err != nil {
				yield(Project{}, err)
				return
			}
			cont = next
		}
	}
}
