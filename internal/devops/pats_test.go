package devops

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
)

func TestListPATsFollowsEveryPageWithSameFilters(t *testing.T) {
	f := &fakePATs{pats: seedPATs(250, "patrol:")}
	f.pats = append(f.pats, seedPATs(7, "other:")...)
	env := newEnv(t, f)
	var got []string
	for p, err := range env.c.ListPATs(context.Background(), ListOptions{Filter: api.FilterAll, Sort: api.SortDisplayDate, Ascending: false, PageSize: 100, NamePrefix: "patrol:"}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.DisplayName)
	}
	if len(got) != 250 {
		t.Fatalf("got %d PATs, want 250", len(got))
	}
	if f.lists != 3 {
		t.Errorf("%d list calls, want ceil(257/100)=3", f.lists)
	}
	want := "$top=100&api-version=" + api.DefaultPATAPIVersion + "&displayFilterOption=all&isSortAscending=false&sortByOption=displayDate"
	for i, q := range f.queries {
		if q != want {
			t.Errorf("page %d query %q, want %q", i+1, q, want)
		}
	}
}

func TestListPATsDefaultsAndEarlyStop(t *testing.T) {
	f := &fakePATs{pats: seedPATs(350, "p")}
	env := newEnv(t, f)
	n := 0
	for _, err := range env.c.ListPATs(context.Background(), ListOptions{PageSize: 50}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 60 {
			break
		}
	}
	if f.lists != 2 {
		t.Errorf("breaking after 60 items made %d list calls, want 2", f.lists)
	}
	if !strings.Contains(f.queries[0], "displayFilterOption=active") || !strings.Contains(f.queries[0], "$top=50") {
		t.Errorf("defaults not sent: %q", f.queries[0])
	}
	for _, bad := range []ListOptions{{Filter: "bogus"}, {Sort: "x"}, {PageSize: 101}, {PageSize: -1}} {
		for _, err := range env.c.ListPATs(context.Background(), bad) {
			if errkind.Of(err) != errkind.Usage {
				t.Errorf("%+v: %v", bad, err)
			}
		}
	}
}

func TestListPATsRepeatedContinuationStops(t *testing.T) {
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.PagedPatTokens{ContinuationToken: "same", PatTokens: seedPATs(1, "x")})
	}))
	var errs int
	for _, err := range env.c.ListPATs(context.Background(), ListOptions{}) {
		if err != nil {
			errs++
		}
	}
	if errs != 1 {
		t.Errorf("want one error for a looping continuation token, got %d", errs)
	}
}

// TestEveryPATErrorMapped fails when api.SessionTokenErrors gains a value
// without a classification, and checks every value end to end.
func TestEveryPATErrorMapped(t *testing.T) {
	if len(api.SessionTokenErrors) != 37 {
		t.Errorf("api.SessionTokenErrors has %d values; the 7.2 spec has 37", len(api.SessionTokenErrors))
	}
	if len(patErrorTable) != len(api.SessionTokenErrors) {
		t.Errorf("patErrorTable has %d entries for %d values", len(patErrorTable), len(api.SessionTokenErrors))
	}
	policy := map[string]bool{api.ErrGlobalPatPolicyViolation: true, api.ErrFullScopePatPolicyViolation: true,
		api.ErrPatLifespanPolicyViolation: true, api.ErrDisablePatCreationPolicyViolation: true, api.ErrGlobalPATCreationBlocked: true}
	transient := map[string]bool{api.ErrFailedToReadTenantPolicy: true, api.ErrFailedToReadOrgPolicy: true,
		api.ErrFailedToIssueAccessToken: true, api.ErrFailedToUpdateAccessToken: true}
	notFound := map[string]bool{api.ErrAuthorizationNotFound: true, api.ErrTokenNotFound: true, api.ErrHostAuthorizationNotFound: true}

	code := ""
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.PatTokenResult{PatTokenError: code, PatTokenErrorMessage: "server says " + code})
	}))
	for _, c := range api.SessionTokenErrors {
		d, ok := patErrorTable[c]
		if !ok {
			t.Errorf("%s: no mapping", c)
			continue
		}
		if c == api.ErrNone {
			continue
		}
		if d.Advice == "" || d.Kind == errkind.Unknown {
			t.Errorf("%s: kind %v advice %q", c, d.Kind, d.Advice)
		}
		switch {
		case policy[c] && d.Kind != errkind.Policy:
			t.Errorf("%s: kind %v, want policy", c, d.Kind)
		case transient[c] && d.Kind != errkind.Transient:
			t.Errorf("%s: kind %v, want transient", c, d.Kind)
		case notFound[c] && d.Kind != errkind.NotFound:
			t.Errorf("%s: kind %v, want not-found", c, d.Kind)
		}
		code = c
		_, err := env.c.GetPAT(context.Background(), "4ab5764f-4193-4f1d-b995-64144880b7d7")
		var pe *PATError
		if !errors.As(err, &pe) {
			t.Fatalf("%s: got %v", c, err)
		}
		if pe.Code != c || pe.Message != "server says "+c || pe.Kind() != d.Kind || !strings.Contains(err.Error(), d.Advice) {
			t.Errorf("%s: %+v", c, pe)
		}
	}
	if !strings.Contains(patErrorTable[api.ErrDisablePatCreationPolicyViolation].Advice, "Restrict personal access token (PAT) creation") {
		t.Error("disablePatCreationPolicyViolation advice must name the policy as the UI does")
	}
	if !strings.Contains(patErrorTable[api.ErrInvalidUserType].Advice, "service principal") {
		t.Error("invalidUserType advice must explain SP/MI")
	}
	if PATErrorInfo("somethingNew").Kind != errkind.Unknown {
		t.Error("unknown codes are Unknown")
	}
}

func TestPATLifecycleAgainstFake(t *testing.T) {
	f := &fakePATs{}
	env := newEnv(t, f)
	ctx := context.Background()
	validTo := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Millisecond).Add(3 * time.Millisecond)
	p, err := env.c.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: "patrol:agents", Scope: "vso.agentpools_manage", ValidTo: validTo})
	if err != nil {
		t.Fatal(err)
	}
	if p.Token == nil || *p.Token == "" {
		t.Fatal("create returned no secret")
	}
	if Clamped(validTo, p.ValidTo) {
		t.Errorf("10 ms rounding reported as clamping: %v vs %v", validTo, p.ValidTo)
	}
	got, err := env.c.GetPAT(ctx, p.AuthorizationID)
	if err != nil || got.AuthorizationID != p.AuthorizationID || got.Token != nil {
		t.Fatalf("get: %+v %v", got, err)
	}
	if err := env.c.RevokePAT(ctx, p.AuthorizationID); err != nil {
		t.Fatal(err)
	}
	_, err = env.c.GetPAT(ctx, p.AuthorizationID)
	if errkind.Of(err) != errkind.NotFound {
		t.Errorf("after revoke: %v", err)
	}
	if strings.Contains(env.logs.String(), *p.Token) {
		t.Error("PAT secret in logs")
	}
	if _, err := env.c.GetPAT(ctx, "not-a-guid"); errkind.Of(err) != errkind.Usage {
		t.Errorf("bad id: %v", err)
	}
	if _, err := env.c.CreatePAT(ctx, api.PatTokenCreateRequest{Scope: "vso.code"}); errkind.Of(err) != errkind.Usage {
		t.Errorf("empty name: %v", err)
	}
}

func TestCreateNotBlindlyRetried(t *testing.T) {
	ctx := context.Background()
	req := api.PatTokenCreateRequest{DisplayName: "patrol:feed", Scope: "vso.packaging", ValidTo: time.Now().Add(24 * time.Hour)}

	t.Run("committed then 500", func(t *testing.T) {
		f := &fakePATs{pats: seedPATs(3, "patrol:feed"), faultPost: func(n int) (bool, int) { return true, 500 }}
		// An older PAT with the same name must not be mistaken for the orphan.
		f.pats[0].DisplayName = "patrol:feed"
		env := newEnv(t, f)
		_, err := env.c.CreatePAT(ctx, req)
		var cu *CreateUnknownError
		if !errors.As(err, &cu) || cu.AuthorizationID == "" {
			t.Fatalf("got %v, want *CreateUnknownError with an id", err)
		}
		if f.posts != 1 {
			t.Errorf("%d POSTs; a committed create must not be repeated", f.posts)
		}
		if cu.AuthorizationID != f.pats[len(f.pats)-1].AuthorizationID {
			t.Error("wrong orphan identified")
		}
		if !strings.Contains(err.Error(), cu.AuthorizationID) || !strings.Contains(err.Error(), "revoke") {
			t.Errorf("message: %v", err)
		}
	})
	t.Run("committed then connection dropped", func(t *testing.T) {
		f := &fakePATs{faultPost: func(n int) (bool, int) { return true, -1 }}
		env := newEnv(t, f)
		_, err := env.c.CreatePAT(ctx, req)
		var cu *CreateUnknownError
		if !errors.As(err, &cu) || cu.AuthorizationID == "" || f.posts != 1 {
			t.Fatalf("got %v after %d POSTs", err, f.posts)
		}
	})
	t.Run("not committed then retried", func(t *testing.T) {
		f := &fakePATs{faultPost: func(n int) (bool, int) {
			if n == 1 {
				return false, 503
			}
			return true, 0
		}}
		env := newEnv(t, f)
		p, err := env.c.CreatePAT(ctx, req)
		if err != nil || p.Token == nil {
			t.Fatalf("got %v", err)
		}
		if f.posts != 2 || f.lists != 1 {
			t.Errorf("posts %d lists %d, want 2 and 1 (check before retry)", f.posts, f.lists)
		}
		if len(f.pats) != 1 {
			t.Errorf("%d PATs exist, want exactly 1", len(f.pats))
		}
	})
	t.Run("400 not retried", func(t *testing.T) {
		env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 400, api.VSSError{Message: "TF400898: An Internal Error Occurred.", TypeKey: "JsonReaderException"})
		}))
		_, err := env.c.CreatePAT(ctx, req)
		if errkind.Of(err) != errkind.Usage || env.c.Stats().Requests != 1 {
			t.Errorf("got %v after %d requests", err, env.c.Stats().Requests)
		}
	})
	t.Run("policy error not retried", func(t *testing.T) {
		env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, api.PatTokenResult{PatTokenError: api.ErrFullScopePatPolicyViolation})
		}))
		_, err := env.c.CreatePAT(ctx, req)
		if errkind.Of(err) != errkind.Policy || env.c.Stats().Requests != 1 {
			t.Errorf("got %v after %d requests", err, env.c.Stats().Requests)
		}
	})
}

func TestClamped(t *testing.T) {
	req := time.Date(2027, 1, 31, 0, 0, 0, 319_000_000, time.UTC)
	if Clamped(req, req.Round(10*time.Millisecond)) {
		t.Error("rounding is not clamping")
	}
	if Clamped(req, req.Add(-900*time.Millisecond)) {
		t.Error("within 1 s tolerance")
	}
	if !Clamped(req, req.Add(-24*time.Hour)) {
		t.Error("a day shorter is clamped")
	}
	if Clamped(req, req.Add(time.Hour)) {
		t.Error("longer is not clamped")
	}
}

func TestVerifyPAT(t *testing.T) {
	const secret = "verify-secret-abcdef"
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/devops/contoso/_apis/connectionData" {
			http.NotFound(w, r)
			return
		}
		auth := r.Header.Get("Authorization")
		if auth != "Basic "+base64.StdEncoding.EncodeToString([]byte(":"+secret)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeJSON(w, 200, api.ConnectionData{AuthenticatedUser: api.Identity{ID: "bb5bb6c8-ef0a-400f-8987-92b3674d2043"}})
	}))
	cd, err := env.c.VerifyPAT(context.Background(), secret)
	if err != nil || cd.AuthenticatedUser.ID == "" {
		t.Fatalf("%+v %v", cd, err)
	}
	_, err = env.c.VerifyPAT(context.Background(), "wrong-secret-xyz")
	if errkind.Of(err) != errkind.Auth {
		t.Errorf("wrong PAT: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-xyz") || strings.Contains(env.logs.String(), secret) || strings.Contains(env.logs.String(), "wrong-secret-xyz") {
		t.Error("PAT leaked into error or logs")
	}
	if !strings.Contains(env.logs.String(), "status=200") {
		t.Errorf("debug request lines missing:\n%s", env.logs.String())
	}
	if strings.Contains(strings.ToLower(env.logs.String()), "authorization") {
		t.Error("Authorization logged")
	}
}

func TestVerifyPATAnonymous(t *testing.T) {
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.ConnectionData{})
	}))
	if _, err := env.c.VerifyPAT(context.Background(), "x"); errkind.Of(err) != errkind.Auth {
		t.Errorf("anonymous answer accepted: %v", err)
	}
}

// TestListPATsPagesShareNoFields: pages decode into one reused array; a
// field an earlier page's PAT had (targetAccounts, token) must not survive
// into a later page's PAT that lacks it (targetAccounts null = global).
func TestListPATsPagesShareNoFields(t *testing.T) {
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("continuationToken") == "" {
			_, _ = w.Write([]byte(`{"continuationToken":"p2","patTokens":[{"authorizationId":"00000000-0000-0000-0000-000000000001","displayName":"org","targetAccounts":["acc"],"token":"secret","validTo":"2030-01-01T00:00:00Z"},{"displayName":"second"}]}`))
			return
		}
		_, _ = w.Write([]byte(`{"patTokens":[{"authorizationId":"00000000-0000-0000-0000-000000000002","displayName":"global","targetAccounts":null}]}`))
	}))
	var got []api.PatToken
	for p, err := range env.c.ListPATs(context.Background(), ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if len(got) != 3 {
		t.Fatalf("got %d PATs, want 3", len(got))
	}
	if g := got[2]; !g.IsGlobal() || g.Token != nil || !g.ValidTo.IsZero() || g.DisplayName != "global" {
		t.Errorf("page 2's PAT carries page 1's fields: %+v", g)
	}
	if o := got[0]; o.IsGlobal() || o.Token == nil || *o.Token != "secret" || len(o.TargetAccounts) != 1 {
		t.Errorf("page 1's PAT changed after the next page was decoded: %+v", o)
	}
}
