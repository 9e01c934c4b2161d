package devops

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
)

// tokenAdminPageSize is the pageSize sent to the tokenadmin list.
const tokenAdminPageSize = 100

// ListUserPATs yields every PAT (isPublic false) or SSH key (isPublic true) of
// the user with the given graph subject descriptor (aad.…, msa.…), following
// every continuation token. The caller must be a Project Collection
// Administrator.
func (c *Client) ListUserPATs(ctx context.Context, subjectDescriptor string, isPublic bool) iter.Seq2[api.SessionToken, error] {
	return func(yield func(api.SessionToken, error) bool) {
		if strings.TrimSpace(subjectDescriptor) == "" || strings.ContainsAny(subjectDescriptor, "/?#") {
			yield(api.SessionToken{}, errkind.New(errkind.Usage, fmt.Errorf("list user PATs: subject descriptor %q is not a graph descriptor; use the user's descriptor (e.g. aad.…) from the Graph API or 'az devops user show'", subjectDescriptor)))
			return
		}
		cont := ""
		seen := map[string]bool{}
		for page := 1; ; page++ {
			q := url.Values{"api-version": {api.TokenAdminAPIVersion}, "pageSize": {strconv.Itoa(tokenAdminPageSize)}, "isPublic": {strconv.FormatBool(isPublic)}}
			if cont != "" {
				q.Set("continuationToken", cont)
			}
			var pg pagedSessionTokens
			r := request{op: "list user PATs", method: http.MethodGet, url: c.vsspsURL("/_apis/tokenadmin/personalaccesstokens/"+url.PathEscape(subjectDescriptor), q), retry: true}
			if err := c.do(ctx, r, &pg); err != nil {
				yield(api.SessionToken{}, err)
				return
			}
			for _, t := range pg.Value {
				if !yield(t.toAPI(), nil) {
					return
				}
			}
			if pg.ContinuationToken == nil || *pg.ContinuationToken == "" {
				return
			}
			if err := c.nextPage("list user PATs", r, page, seen, *pg.ContinuationToken); err != nil {
				yield(api.SessionToken{}, err)
				return
			}
			cont = *pg.ContinuationToken
		}
	}
}

// RevokeAuthorizations revokes PATs of any user by authorizationId
// (tokenadmin/revocations, isPublic=false). It is idempotent and retried.
func (c *Client) RevokeAuthorizations(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	body := make([]api.TokenAdminRevocation, 0, len(ids))
	for _, id := range ids {
		if err := checkID("revoke authorizations", "authorizationId", id); err != nil {
			return err
		}
		body = append(body, api.TokenAdminRevocation{AuthorizationID: id})
	}
	q := url.Values{"api-version": {api.TokenAdminAPIVersion}, "isPublic": {"false"}}
	r := request{op: "revoke authorizations", method: http.MethodPost, url: c.vsspsURL("/_apis/tokenadmin/revocations", q), body: body, retry: true, accept2: true}
	return c.do(ctx, r, nil)
}

// pagedSessionTokens mirrors api.PagedSessionTokens with lenient dates: the
// recorded tokenadmin responses carry "2018-07-19T00:00:00" without a zone,
// which time.Time's JSON decoding rejects.
type pagedSessionTokens struct {
	Value             []sessionToken `json:"value"`
	ContinuationToken *string        `json:"continuationToken"`
}

type sessionToken struct {
	AuthorizationID     string   `json:"authorizationId"`
	AccessID            string   `json:"accessId"`
	ClientID            string   `json:"clientId"`
	HostAuthorizationID string   `json:"hostAuthorizationId"`
	UserID              string   `json:"userId"`
	DisplayName         *string  `json:"displayName"`
	Scope               string   `json:"scope"`
	TargetAccounts      []string `json:"targetAccounts"`
	ValidFrom           vssTime  `json:"validFrom"`
	ValidTo             vssTime  `json:"validTo"`
	IsValid             bool     `json:"isValid"`
	IsPublic            bool     `json:"isPublic"`
	PublicData          *string  `json:"publicData"`
	Source              *string  `json:"source"`
	Token               *string  `json:"token"`
}

func (t sessionToken) toAPI() api.SessionToken {
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return api.SessionToken{
		AuthorizationID: t.AuthorizationID, AccessID: t.AccessID, ClientID: t.ClientID,
		HostAuthorizationID: t.HostAuthorizationID, UserID: t.UserID, DisplayName: deref(t.DisplayName),
		Scope: t.Scope, TargetAccounts: t.TargetAccounts, ValidFrom: time.Time(t.ValidFrom), ValidTo: time.Time(t.ValidTo),
		IsValid: t.IsValid, IsPublic: t.IsPublic, PublicData: deref(t.PublicData), Source: deref(t.Source), Token: t.Token,
	}
}

// vssTime decodes RFC 3339 times and the zone-less form VSS sometimes
// sends (read as UTC).
type vssTime time.Time

func (v *vssTime) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == nil || *s == "" {
		*v = vssTime{}
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, *s); err == nil {
			*v = vssTime(t.UTC())
			return nil
		}
	}
	return fmt.Errorf("time %q is not ISO-8601", *s)
}
