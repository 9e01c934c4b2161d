package devops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/patsecret"
	"github.com/patrol-dev/patrol/internal/redact"
)

const patsPath = "/_apis/tokens/pats"

// ListOptions select PATs for ListPATs. The same Filter, Sort, Ascending and
// PageSize are sent with every page, as the API requires.
type ListOptions struct {
	// Filter is api.FilterActive (default), FilterRevoked, FilterExpired or FilterAll.
	Filter string
	// Sort is api.SortDisplayName, SortDisplayDate, SortStatus or empty (server default).
	Sort string
	// Ascending sorts ascending (only sent with Sort).
	Ascending bool
	// PageSize is $top, 1..100 (default api.MaxPageSize).
	PageSize int
	// NamePrefix keeps only PATs whose displayName starts with it (client side).
	NamePrefix string
}

func (o ListOptions) query(version string) (url.Values, error) {
	q := url.Values{}
	q.Set("api-version", version)
	switch o.Filter {
	case "":
		q.Set("displayFilterOption", api.FilterActive)
	case api.FilterActive, api.FilterRevoked, api.FilterExpired, api.FilterAll:
		q.Set("displayFilterOption", o.Filter)
	default:
		return nil, errkind.New(errkind.Usage, fmt.Errorf("list PATs: filter %q is not one of active, revoked, expired, all", o.Filter))
	}
	switch o.Sort {
	case "":
	case api.SortDisplayName, api.SortDisplayDate, api.SortStatus:
		q.Set("sortByOption", o.Sort)
		q.Set("isSortAscending", strconv.FormatBool(o.Ascending))
	default:
		return nil, errkind.New(errkind.Usage, fmt.Errorf("list PATs: sort %q is not one of displayName, displayDate, status", o.Sort))
	}
	switch {
	case o.PageSize == 0:
		q.Set("$top", strconv.Itoa(api.MaxPageSize))
	case o.PageSize < 0 || o.PageSize > api.MaxPageSize:
		return nil, errkind.New(errkind.Usage, fmt.Errorf("list PATs: page size %d is outside 1..%d", o.PageSize, api.MaxPageSize))
	default:
		q.Set("$top", strconv.Itoa(o.PageSize))
	}
	return q, nil
}

// ListPATs yields every PAT of the signed-in user matching opts, following
// every continuationToken. Only one page is held in memory. Iteration stops
// after the first error, which is yielded with a zero PatToken.
func (c *Client) ListPATs(ctx context.Context, opts ListOptions) iter.Seq2[api.PatToken, error] {
	return func(yield func(api.PatToken, error) bool) {
		q, err := opts.query(c.patVersion)
		if err != nil {
			yield(api.PatToken{}, err)
			return
		}
		cont := ""
		seen := map[string]bool{}
		var pg api.PagedPatTokens
		var buf bytes.Buffer // every page's body, decoded by decodeJSON
		for page := 1; ; page++ {
			pq := cloneValues(q)
			if cont != "" {
				pq.Set("continuationToken", cont)
			}
			// Every page decodes into the previous page's array (zeroed, so
			// no field of an earlier PAT survives): one page's worth of
			// PatTokens is allocated once, not grown again for each page.
			clear(pg.PatTokens[:cap(pg.PatTokens)])
			pg = api.PagedPatTokens{PatTokens: pg.PatTokens[:0]}
			r := request{op: "list PATs", method: http.MethodGet, url: c.vsspsURL(patsPath, pq), retry: true, patAPI: true, buf: &buf}
			if err := c.do(ctx, r, &pg); err != nil {
				yield(api.PatToken{}, err)
				return
			}
			for _, p := range pg.PatTokens {
				if opts.NamePrefix != "" && !strings.HasPrefix(p.DisplayName, opts.NamePrefix) {
					continue
				}
				if !yield(p, nil) {
					return
				}
			}
			if pg.ContinuationToken == "" {
				return
			}
			if seen[pg.ContinuationToken] {
				yield(api.PatToken{}, &APIError{Op: "list PATs", Method: http.MethodGet, URL: redactURL(r.url), Status: http.StatusOK,
					Message: fmt.Sprintf("the server repeated continuation token on page %d; stopping to avoid an endless loop", page), kind: errkind.Transient})
				return
			}
			if page >= c.maxPages {
				yield(api.PatToken{}, c.pageCapError("list PATs", r.url))
				return
			}
			seen[pg.ContinuationToken] = true
			cont = pg.ContinuationToken
		}
	}
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q)+1)
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// GetPAT returns one PAT (its Token is nil).
func (c *Client) GetPAT(ctx context.Context, authorizationID string) (api.PatToken, error) {
	if err := checkID("get PAT", "authorizationId", authorizationID); err != nil {
		return api.PatToken{}, err
	}
	q := url.Values{"api-version": {c.patVersion}, "authorizationId": {authorizationID}}
	var res api.PatTokenResult
	r := request{op: "get PAT", method: http.MethodGet, url: c.vsspsURL(patsPath, q), retry: true, patAPI: true}
	if err := c.do(ctx, r, &res); err != nil {
		return api.PatToken{}, err
	}
	return patResult("get PAT", authorizationID, res)
}

func patResult(op, subject string, res api.PatTokenResult) (api.PatToken, error) {
	if err := patError(op, subject, res.PatTokenError, res.PatTokenErrorMessage); err != nil {
		return api.PatToken{}, err
	}
	if res.PatToken == nil {
		return api.PatToken{}, &APIError{Op: op, Status: http.StatusOK, Message: "the response has patTokenError none but no patToken", kind: errkind.Transient, final: true}
	}
	if res.PatToken.Token != nil {
		redact.Register(*res.PatToken.Token) // a new PAT's secret: never in an error or log
	}
	return *res.PatToken, nil
}

func checkID(op, field, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return errkind.New(errkind.Usage, fmt.Errorf("%s: %s %q is not a GUID; take it from 'patrol pat list'", op, field, id))
	}
	return nil
}

// UpdatePAT changes a PAT's displayName, scope, validTo or allOrgs. The
// server clamps validTo to creation + the tenant's maximum lifespan; compare
// with Clamped.
func (c *Client) UpdatePAT(ctx context.Context, req api.PatTokenUpdateRequest) (api.PatToken, error) {
	if err := checkID("update PAT", "authorizationId", req.AuthorizationID); err != nil {
		return api.PatToken{}, err
	}
	if req.ValidTo != nil {
		t := req.ValidTo.UTC()
		req.ValidTo = &t
	}
	q := url.Values{"api-version": {c.patVersion}}
	var res api.PatTokenResult
	r := request{op: "update PAT", method: http.MethodPut, url: c.vsspsURL(patsPath, q), body: req, retry: true, patAPI: true}
	if err := c.do(ctx, r, &res); err != nil {
		return api.PatToken{}, err
	}
	return patResult("update PAT", req.AuthorizationID, res)
}

// RevokePAT revokes a PAT. Any 2xx is success.
func (c *Client) RevokePAT(ctx context.Context, authorizationID string) error {
	if err := checkID("revoke PAT", "authorizationId", authorizationID); err != nil {
		return err
	}
	q := url.Values{"api-version": {c.patVersion}, "authorizationId": {authorizationID}}
	r := request{op: "revoke PAT", method: http.MethodDelete, url: c.vsspsURL(patsPath, q), retry: true, patAPI: true, accept2: true}
	return c.do(ctx, r, nil)
}

// CreateUnknownError says a create request failed in a way that leaves its
// outcome open (network error, 5xx, 429 after the request was sent).
//
// If AuthorizationID is set, patrol found a PAT with the same display name and
// scope created during the attempt: it exists but its secret was lost with
// the response. Revoke it (RevokePAT) and create again.
// If AuthorizationID is empty, patrol could not check; list PATs named
// DisplayName and revoke any created after Since.
type CreateUnknownError struct {
	DisplayName     string
	AuthorizationID string
	Since           time.Time
	Cause           error
}

func (e *CreateUnknownError) Error() string {
	if e.AuthorizationID != "" {
		return fmt.Sprintf("create PAT %q: the PAT was created (authorizationId %s) but the response carrying its secret was lost (%v); revoke it ('patrol pat revoke %s') and create again",
			e.DisplayName, e.AuthorizationID, e.Cause, e.AuthorizationID)
	}
	return fmt.Sprintf("create PAT %q: the request failed (%v) and whether the PAT was created could not be checked; list PATs named %q ('patrol pat list') and revoke any created after %s, then create again",
		e.DisplayName, e.Cause, e.DisplayName, e.Since.UTC().Format(time.RFC3339))
}

func (e *CreateUnknownError) Unwrap() error { return e.Cause }

// Kind is errkind.Transient: after the orphan is revoked a retry succeeds.
func (e *CreateUnknownError) Kind() errkind.Kind { return errkind.Transient }

// orphanWindow is how far before the first attempt a PAT's validFrom may lie
// and still count as created by it (client/server clock skew).
const orphanWindow = 2 * time.Minute

// CreatePAT creates a PAT; the returned PatToken's Token holds the secret.
//
// A create is never retried blindly. When an attempt fails transiently
// (network error, 5xx, 429, failedToIssueAccessToken …), CreatePAT lists the
// active PATs and looks for one with the same displayName and scope whose
// validFrom is no earlier than the first attempt (minus 2 minutes of clock
// skew). If one exists the create committed and its secret is lost:
// CreatePAT returns *CreateUnknownError with its AuthorizationID. If none
// exists it retries, within MaxAttempts and MaxElapsed. If the check itself
// fails, it returns *CreateUnknownError without an AuthorizationID.
func (c *Client) CreatePAT(ctx context.Context, req api.PatTokenCreateRequest) (api.PatToken, error) {
	if strings.TrimSpace(req.DisplayName) == "" {
		return api.PatToken{}, &PATError{Op: "create PAT", Code: api.ErrDisplayNameRequired, Advice: PATErrorInfo(api.ErrDisplayNameRequired).Advice}
	}
	if req.Scope == "" {
		return api.PatToken{}, errkind.New(errkind.Usage, fmt.Errorf("create PAT %q: scope is empty; give at least one scope (see 'patrol pat scopes')", req.DisplayName))
	}
	req.ValidTo = req.ValidTo.UTC()
	since := c.now()
	q := url.Values{"api-version": {c.patVersion}}
	r := request{op: "create PAT", method: http.MethodPost, url: c.vsspsURL(patsPath, q), body: req, retry: false, patAPI: true}
	attempt := 0
	var last error
	tok, err := backoff.Retry(ctx, func() (api.PatToken, error) {
		attempt++
		if attempt > 1 {
			c.retries.Add(1)
		}
		var res api.PatTokenResult
		err := c.do(ctx, r, &res)
		if err == nil {
			var p api.PatToken
			p, err = patResult("create PAT", req.DisplayName, res)
			if err == nil {
				return p, nil
			}
		}
		last = err
		if !isRetryable(err) {
			return api.PatToken{}, backoff.Permanent(err)
		}
		found, cerr := c.findOrphan(ctx, req, since)
		if cerr != nil {
			return api.PatToken{}, backoff.Permanent(&CreateUnknownError{DisplayName: req.DisplayName, Since: since.Add(-orphanWindow), Cause: errors.Join(err, cerr)})
		}
		if found != "" {
			return api.PatToken{}, backoff.Permanent(&CreateUnknownError{DisplayName: req.DisplayName, AuthorizationID: found, Since: since, Cause: err})
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "create PAT failed transiently and did not commit; retrying", slog.String("displayName", req.DisplayName), slog.String("error", err.Error()))
		return api.PatToken{}, err
	}, backoff.WithBackOff(c.backoff()), backoff.WithMaxTries(uint(c.maxAttempts)), backoff.WithMaxElapsedTime(c.maxElapsed))
	if err != nil {
		if last != nil && !errors.As(err, new(*CreateUnknownError)) && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return api.PatToken{}, fmt.Errorf("%w (gave up: %w)", last, ctx.Err())
		}
		return api.PatToken{}, err
	}
	return tok, nil
}

// findOrphan returns the authorizationId of an active PAT that looks like the
// product of this create, or "".
func (c *Client) findOrphan(ctx context.Context, req api.PatTokenCreateRequest, since time.Time) (string, error) {
	cut := since.Add(-orphanWindow)
	want := normScope(req.Scope)
	var best string
	var bestFrom time.Time
	for p, err := range c.ListPATs(ctx, ListOptions{Filter: api.FilterActive}) {
		if err != nil {
			return "", err
		}
		if p.DisplayName != req.DisplayName || p.ValidFrom.Before(cut) || normScope(p.Scope) != want {
			continue
		}
		if best == "" || p.ValidFrom.After(bestFrom) {
			best, bestFrom = p.AuthorizationID, p.ValidFrom
		}
	}
	return best, nil
}

func normScope(s string) string {
	f := strings.Fields(strings.ToLower(s))
	slices.Sort(f)
	return strings.Join(f, " ")
}

// Clamped reports whether the server shortened validTo: got is more than one
// second before requested (the server rounds validTo to 10 ms).
func Clamped(requested, got time.Time) bool {
	return got.Before(requested.Add(-time.Second))
}

// VerifyPAT checks that secret authenticates to the organisation: GET
// {DevOpsURL}/{org}/_apis/connectionData with Basic ":"+PAT and no Entra token.
// It fails with *AuthError when the PAT is refused or the call is anonymous.
// Both PAT formats (84-character identifiable, 52-character legacy) and
// unknown ones are sent; a secret that is empty or carries whitespace is a
// usage error before any request.
func (c *Client) VerifyPAT(ctx context.Context, secret string) (api.ConnectionData, error) {
	if p := patsecret.Problem(secret); p != "" {
		return api.ConnectionData{}, errkind.New(errkind.Usage, fmt.Errorf("verify PAT: the PAT %s; pass the whole secret from the sink or the create response, without whitespace", p))
	}
	if f := patsecret.Of(secret); f == patsecret.Unknown {
		c.log.LogAttrs(ctx, slog.LevelDebug, "verify PAT: the secret has neither known PAT format (84 characters with AZDO, or 52 base32 characters); sending it anyway", slog.Int("length", len(secret)))
	}
	q := url.Values{}
	r := request{op: "verify PAT", method: http.MethodGet, url: c.devopsOrgURL("/_apis/connectionData", q), auth: authBasicPAT, pat: secret, retry: true}
	var cd api.ConnectionData
	if err := c.do(ctx, r, &cd); err != nil {
		return api.ConnectionData{}, err
	}
	if cd.AuthenticatedUser.ID == "" || cd.AuthenticatedUser.ID == zeroGUID {
		return api.ConnectionData{}, &AuthError{Op: "verify PAT", Method: r.method, URL: redactURL(r.url), Status: http.StatusOK,
			Reason: "anonymous connectionData", Hint: "the PAT was not recognised (the server answered as for an anonymous caller); create a new PAT"}
	}
	return cd, nil
}

// ConnectionData is GET {DevOpsURL}/{org}/_apis/connectionData with the
// Entra token: the identity Azure DevOps takes the signed-in caller for in
// the organisation (an anonymous answer means it is not a member).
func (c *Client) ConnectionData(ctx context.Context) (api.ConnectionData, error) {
	r := request{op: "connection data", method: http.MethodGet, url: c.devopsOrgURL("/_apis/connectionData", url.Values{}), auth: authBearer, retry: true}
	var cd api.ConnectionData
	if err := c.do(ctx, r, &cd); err != nil {
		return api.ConnectionData{}, err
	}
	return cd, nil
}
