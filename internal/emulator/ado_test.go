package emulator

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

func TestPATAuthFailures(t *testing.T) {
	e := start(t, Options{})
	// No token: 401 with tenant discovery headers.
	r := do(t, e, "GET", patsURL(e, DefaultOrg, ""), "", nil)
	if r.Status != 401 || r.Header.Get("X-VSS-ResourceTenant") != DefaultTenantID ||
		!strings.Contains(r.Header.Get("WWW-Authenticate"), "authorization_uri="+e.URL()+"/"+DefaultTenantID) {
		t.Errorf("no token: %d %v", r.Status, r.Header)
	}
	// Service principal: 302 Object moved to _signin.
	cred, _ := azidentity.NewClientSecretCredential(DefaultTenantID, DefaultSPClientID, DefaultSPSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOpts(e), DisableInstanceDiscovery: true})
	tok, err := cred.GetToken(context.Background(), adoScope)
	if err != nil {
		t.Fatal(err)
	}
	r = do(t, e, "GET", patsURL(e, DefaultOrg, ""), "Bearer "+tok.Token, nil)
	if r.Status != 302 || !strings.Contains(r.Header.Get("Location"), "/_signin") || !strings.Contains(string(r.Body), "Object moved") {
		t.Errorf("SP on PAT API: %d %v", r.Status, r.Header)
	}
	// ...but the SP may call connectionData.
	if r := do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/_apis/connectionData", "Bearer "+tok.Token, nil); r.Status != 200 {
		t.Errorf("SP connectionData: %d", r.Status)
	}
	// Wrong tenant: fabrikam user against contoso.
	fab := do(t, e, "POST", e.URL()+"/"+OtherTenantID+"/oauth2/v2.0/token", "", url.Values{"grant_type": {"password"},
		"client_id": {DefaultClientID}, "username": {FabrikamUser}, "password": {DefaultPassword}, "scope": {api.Scope}})
	if fab.Status != 400 { // DefaultClientID lives in the contoso tenant
		t.Fatalf("fabrikam via contoso app: %d %s", fab.Status, fab.Body)
	}
	// Non-member user.
	if r := do(t, e, "GET", patsURL(e, DefaultOrg, ""), userToken(t, e, OutsiderUser), nil); r.Status != 401 {
		t.Errorf("outsider: %d", r.Status)
	}
	// PAT (Basic) is refused on the PAT API.
	_, secret, _ := e.IssuePAT(DefaultUser, DefaultOrg, "x", "app_token", time.Now().Add(time.Hour))
	if r := do(t, e, "GET", patsURL(e, DefaultOrg, ""), basicPAT(secret), nil); r.Status != 401 {
		t.Errorf("PAT on PAT API: %d", r.Status)
	}
	// Expired token (beyond the five minutes of clock skew the service allows).
	e.SetFaults(Faults{TokenLifetime: Duration(time.Second)})
	short := userToken(t, e, DefaultUser)
	e.SetFaults(Faults{})
	now := time.Now()
	e.now = func() time.Time { return now.Add(10 * time.Minute) }
	if r := do(t, e, "GET", patsURL(e, DefaultOrg, ""), short, nil); r.Status != 401 {
		t.Errorf("expired token: %d", r.Status)
	}
	e.now = time.Now
	// api-version rules.
	auth := userToken(t, e, DefaultUser)
	for q, want := range map[string]int{"": 400, "api-version=9.0-preview.1": 400, "api-version=7.1": 400, "api-version=6.1-preview": 200, "api-version=7.2-preview.1": 200} {
		u := e.VSSPSURL() + "/" + DefaultOrg + "/_APIS/Tokens/Pats?" + q
		if r := do(t, e, "GET", u, auth, nil); r.Status != want {
			t.Errorf("%q: %d, want %d: %s", q, r.Status, want, r.Body)
		}
	}
	// Unknown org.
	if r := do(t, e, "GET", patsURL(e, "nope", ""), auth, nil); r.Status != 404 {
		t.Errorf("unknown org: %d", r.Status)
	}
}

func TestPATPolicies(t *testing.T) {
	seed := DefaultSeed()
	seed.Orgs[0].Policy = Policy{MaxLifespanDays: 30, BlockFullScope: true, BlockGlobal: true}
	seed.Orgs[1].Policy = Policy{RestrictCreation: true, CreationAllowlist: []string{AdminUser}, GlobalPATCreationBlocked: true}
	// The policies on global PATs are visible only before their retirement.
	seed.GlobalPATRetirement = time.Now().Add(2 * 365 * 24 * time.Hour)
	e := start(t, Options{Seed: &seed})
	auth := userToken(t, e, DefaultUser)
	far := time.Now().Add(300 * 24 * time.Hour)
	cases := []struct {
		org  string
		req  api.PatTokenCreateRequest
		want string
	}{
		{DefaultOrg, api.PatTokenCreateRequest{DisplayName: "", Scope: "vso.code", ValidTo: far}, api.ErrDisplayNameRequired},
		{DefaultOrg, api.PatTokenCreateRequest{DisplayName: "x", Scope: "vso.code", ValidTo: time.Now().Add(-time.Hour)}, api.ErrInvalidValidTo},
		{DefaultOrg, api.PatTokenCreateRequest{DisplayName: "x", Scope: "vso.nope", ValidTo: far}, api.ErrInvalidScope},
		{DefaultOrg, api.PatTokenCreateRequest{DisplayName: "x", Scope: "app_token", ValidTo: far}, api.ErrFullScopePatPolicyViolation},
		{DefaultOrg, api.PatTokenCreateRequest{DisplayName: "x", Scope: "vso.code", ValidTo: far, AllOrgs: true}, api.ErrGlobalPatPolicyViolation},
		{OtherOrg, api.PatTokenCreateRequest{DisplayName: "x", Scope: "vso.code", ValidTo: far}, api.ErrDisablePatCreationPolicyViolation},
	}
	for _, tc := range cases {
		if res := createPAT(t, e, auth, tc.org, tc.req); res.PatTokenError != tc.want || res.PatToken != nil {
			t.Errorf("%s %+v: got %q, want %q", tc.org, tc.req, res.PatTokenError, tc.want)
		}
	}
	admin := userToken(t, e, AdminUser)
	if res := createPAT(t, e, admin, OtherOrg, api.PatTokenCreateRequest{DisplayName: "g", Scope: "vso.code", ValidTo: far, AllOrgs: true}); res.PatTokenError != api.ErrGlobalPATCreationBlocked {
		t.Errorf("global creation blocked: %q", res.PatTokenError)
	}
	// Lifespan clamp on create and update.
	res := createPAT(t, e, auth, DefaultOrg, api.PatTokenCreateRequest{DisplayName: "c", Scope: "vso.code", ValidTo: far})
	if res.PatTokenError != api.ErrNone {
		t.Fatal(res.PatTokenError)
	}
	limit := res.PatToken.ValidFrom.Add(30 * 24 * time.Hour)
	if d := res.PatToken.ValidTo.Sub(limit); d > time.Second || d < -time.Second {
		t.Errorf("create not clamped: validTo %v, limit %v", res.PatToken.ValidTo, limit)
	}
	vt := far.Add(24 * time.Hour)
	r := do(t, e, "PUT", patsURL(e, DefaultOrg, ""), auth, api.PatTokenUpdateRequest{AuthorizationID: res.PatToken.AuthorizationID, ValidTo: &vt})
	var upd api.PatTokenResult
	r.json(t, &upd)
	if d := upd.PatToken.ValidTo.Sub(limit); d > time.Second || d < -time.Second {
		t.Errorf("update not clamped to creation+max: %v", upd.PatToken.ValidTo)
	}
	// Expired PAT cannot be extended.
	past := time.Now().Add(-time.Hour)
	seed2 := DefaultSeed()
	seed2.PATs = []SeedPAT{{AuthorizationID: "11111111-2222-4333-8444-555555555555", Owner: DefaultUser, Org: DefaultOrg, DisplayName: "old", Scope: "vso.code", ValidFrom: past.Add(-time.Hour), ValidTo: past}}
	e2 := start(t, Options{Seed: &seed2})
	auth2 := userToken(t, e2, DefaultUser)
	r = do(t, e2, "PUT", patsURL(e2, DefaultOrg, ""), auth2, api.PatTokenUpdateRequest{AuthorizationID: seed2.PATs[0].AuthorizationID, ValidTo: &vt})
	r.json(t, &upd)
	if upd.PatTokenError != api.ErrExpiredPatCannotBeExtended {
		t.Errorf("extend expired: %s", r.Body)
	}
	var page api.PagedPatTokens
	do(t, e2, "GET", patsURL(e2, DefaultOrg, "displayFilterOption=expired"), auth2, nil).json(t, &page)
	if len(page.PatTokens) != 1 {
		t.Errorf("expired filter: %+v", page)
	}
}

func TestPATPaging10k(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 PATs")
	}
	seed := DefaultSeed()
	for i := range 10000 {
		seed.PATs = append(seed.PATs, SeedPAT{Owner: DefaultUser, Org: DefaultOrg, DisplayName: fmt.Sprintf("pat-%05d", i),
			Scope: "vso.code", ValidTo: time.Now().Add(time.Duration(i+1) * time.Hour), Revoked: i%10 == 0})
	}
	e := start(t, Options{Seed: &seed})
	auth := userToken(t, e, DefaultUser)
	q := "displayFilterOption=all&sortByOption=displayName&isSortAscending=false&$top=100"
	seen := map[string]bool{}
	var prev string
	pages := 0
	cont := ""
	for {
		u := patsURL(e, DefaultOrg, q)
		if cont != "" {
			u += "&continuationToken=" + url.QueryEscape(cont)
		}
		var page api.PagedPatTokens
		r := do(t, e, "GET", u, auth, nil)
		if r.Status != 200 {
			t.Fatalf("page %d: %d %s", pages, r.Status, r.Body)
		}
		r.json(t, &page)
		pages++
		for _, p := range page.PatTokens {
			if seen[p.AuthorizationID] {
				t.Fatalf("duplicate %s", p.DisplayName)
			}
			seen[p.AuthorizationID] = true
			if prev != "" && p.DisplayName >= prev {
				t.Fatalf("not descending: %s after %s", p.DisplayName, prev)
			}
			prev = p.DisplayName
		}
		if page.ContinuationToken == "" {
			break
		}
		cont = page.ContinuationToken
		if pages == 3 {
			// A changed filter mid-paging is refused.
			bad := patsURL(e, DefaultOrg, "displayFilterOption=active&sortByOption=displayName&isSortAscending=false&$top=100&continuationToken="+url.QueryEscape(cont))
			if r := do(t, e, "GET", bad, auth, nil); r.Status != 400 || !strings.Contains(string(r.Body), "same options") {
				t.Errorf("changed filter: %d %s", r.Status, r.Body)
			}
		}
	}
	if len(seen) != 10000 || pages != 100 {
		t.Errorf("saw %d PATs in %d pages", len(seen), pages)
	}
	var page api.PagedPatTokens
	do(t, e, "GET", patsURL(e, DefaultOrg, "$top=100"), auth, nil).json(t, &page)
	if len(page.PatTokens) != 100 || page.PatTokens[0].DisplayName != "pat-00001" {
		t.Errorf("active default sort: first %q", page.PatTokens[0].DisplayName)
	}
	if r := do(t, e, "GET", patsURL(e, DefaultOrg, "$top=101"), auth, nil); r.Status != 400 {
		t.Errorf("$top=101: %d", r.Status)
	}
}

func TestTokenAdmin(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)
	var ids []string
	for i := range 5 {
		res := createPAT(t, e, auth, DefaultOrg, api.PatTokenCreateRequest{DisplayName: fmt.Sprint("t", i), Scope: "vso.code vso.packaging", ValidTo: future})
		ids = append(ids, res.PatToken.AuthorizationID)
	}
	admin := userToken(t, e, AdminUser)
	base := e.VSSPSURL() + "/" + DefaultOrg + "/_apis/tokenadmin"
	desc := e.SubjectDescriptor(DefaultUser)
	if !strings.HasPrefix(desc, "aad.") {
		t.Fatalf("descriptor %q", desc)
	}
	if r := do(t, e, "GET", base+"/personalaccesstokens/"+desc+"?api-version=7.1-preview.1", auth, nil); r.Status != 401 {
		t.Errorf("non-admin: %d", r.Status)
	}
	var all []api.SessionToken
	cont := ""
	for {
		u := base + "/personalaccesstokens/" + desc + "?api-version=7.1-preview.1&pageSize=2"
		if cont != "" {
			u += "&continuationToken=" + cont
		}
		var page api.PagedSessionTokens
		r := do(t, e, "GET", u, admin, nil)
		r.json(t, &page)
		all = append(all, page.Value...)
		if page.ContinuationToken == nil {
			break
		}
		cont = *page.ContinuationToken
	}
	if len(all) != 5 {
		t.Fatalf("listed %d", len(all))
	}
	if r := do(t, e, "POST", base+"/revocations?api-version=7.1-preview.1", admin, []api.TokenAdminRevocation{{AuthorizationID: ids[0]}}); r.Status != 204 {
		t.Errorf("revocations: %d %s", r.Status, r.Body)
	}
	if !e.PATIsRevoked(ids[0]) || e.PATIsRevoked(ids[1]) {
		t.Error("revocation did not hit exactly ids[0]")
	}
	if r := do(t, e, "POST", base+"/revocationrules?api-version=7.1-preview.1", admin, map[string]any{"scopes": "vso.packaging"}); r.Status != 201 {
		t.Errorf("rule: %d %s", r.Status, r.Body)
	}
	for _, id := range ids {
		if !e.PATIsRevoked(id) {
			t.Errorf("%s not revoked by rule", id)
		}
	}
	if r := do(t, e, "GET", base+"/personalaccesstokens/aad.bm9wZQ?api-version=7.1-preview.1", admin, nil); r.Status != 400 {
		t.Errorf("bad descriptor: %d", r.Status)
	}
}

func TestFaultsAndCounters(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)
	e.ResetCounters()
	run := func() []int {
		e.SetFaults(Faults{ThrottleRate: 0.3, ServerErrorRate: 0.2, SignInPageRate: 0.1, RetryAfter: Duration(2 * time.Second), Seed: 42})
		var out []int
		for range 40 {
			r := do(t, e, "GET", patsURL(e, DefaultOrg, ""), auth, nil)
			out = append(out, r.Status)
			if r.Status == 429 && (r.Header.Get("Retry-After") != "2" || r.Header.Get("X-RateLimit-Remaining") != "0") {
				t.Errorf("429 headers %v", r.Header)
			}
			if r.Status == 203 && !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
				t.Errorf("203 content type %q", r.Header.Get("Content-Type"))
			}
		}
		return out
	}
	a, b := run(), run()
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("fault sequence not deterministic:\n%v\n%v", a, b)
	}
	kinds := map[int]int{}
	for _, s := range a {
		kinds[s]++
	}
	for _, s := range []int{200, 203, 429, 503} {
		if kinds[s] == 0 {
			t.Errorf("no %d in %v", s, a)
		}
	}
	// Entra is not faulted by default.
	userToken(t, e, DefaultUser)
	if n := e.Counters()["GET /vssps/{org}/_apis/tokens/pats"]; n != 80 {
		t.Errorf("counter %d, want 80", n)
	}
	// Routes filter: only connectionData.
	e.SetFaults(Faults{ServerErrorRate: 1, Routes: []string{"connectiondata"}})
	if r := do(t, e, "GET", patsURL(e, DefaultOrg, ""), auth, nil); r.Status != 200 {
		t.Errorf("filtered route faulted: %d", r.Status)
	}
	if r := do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/_apis/connectionData", auth, nil); r.Status != 503 {
		t.Errorf("targeted route not faulted: %d", r.Status)
	}
	// Admin API.
	if r := do(t, e, "PUT", e.URL()+"/_emulator/faults", "", map[string]any{"latency": "1ms", "throttleRate": 0}); r.Status != 200 {
		t.Errorf("PUT faults: %d %s", r.Status, r.Body)
	}
	var f Faults
	do(t, e, "GET", e.URL()+"/_emulator/faults", "", nil).json(t, &f)
	if time.Duration(f.Latency) != time.Millisecond {
		t.Errorf("faults %+v", f)
	}
	if r := do(t, e, "PUT", e.URL()+"/_emulator/faults", "", map[string]any{"throttleRate": 2}); r.Status != 400 {
		t.Errorf("invalid faults accepted: %d", r.Status)
	}
	var counters map[string]int64
	do(t, e, "GET", e.URL()+"/_emulator/counters", "", nil).json(t, &counters)
	if counters["POST /{tenant}/oauth2/v2.0/token password"] != 1 {
		t.Errorf("counters %v", counters)
	}
	var seed Seed
	do(t, e, "GET", e.URL()+"/_emulator/seed", "", nil).json(t, &seed)
	if len(seed.Apps) == 0 || seed.Apps[0].ClientID != DefaultClientID || seed.IdentityHeader != DefaultIdentityHeader {
		t.Errorf("GET /_emulator/seed: %+v", seed)
	}
	do(t, e, "POST", e.URL()+"/_emulator/counters/reset", "", nil)
	if len(e.Counters()) != 0 {
		t.Errorf("reset: %v", e.Counters())
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	e := start(t, Options{StateFile: state})
	_, m := ropc(t, e, DefaultUser, api.Scope+" offline_access")
	auth := "Bearer " + m["access_token"].(string)
	res := createPAT(t, e, auth, DefaultOrg, api.PatTokenCreateRequest{DisplayName: "keep", Scope: "vso.code", ValidTo: future})
	ca := e.CAPEM()
	e.Close()
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", err, fi)
	}
	b, _ := os.ReadFile(state)
	if strings.Contains(string(b), *res.PatToken.Token) || strings.Contains(string(b), m["refresh_token"].(string)) {
		t.Error("state file holds a PAT or refresh token in clear")
	}
	e2 := start(t, Options{StateFile: state})
	if string(e2.CAPEM()) != string(ca) {
		t.Error("CA changed across restart")
	}
	// Old access token, PAT and refresh token still work.
	if r := do(t, e2, "GET", e2.DevOpsURL()+"/"+DefaultOrg+"/_apis/connectionData", basicPAT(*res.PatToken.Token), nil); r.Status != 200 {
		t.Errorf("PAT after restart: %d", r.Status)
	}
	if r := do(t, e2, "GET", patsURL(e2, DefaultOrg, "authorizationId="+res.PatToken.AuthorizationID), auth, nil); r.Status != 200 {
		t.Errorf("token after restart: %d", r.Status)
	}
	r := do(t, e2, "POST", e2.URL()+"/"+DefaultTenantID+"/oauth2/v2.0/token", "", url.Values{"grant_type": {"refresh_token"},
		"client_id": {DefaultClientID}, "refresh_token": {m["refresh_token"].(string)}, "scope": {api.Scope}})
	if r.Status != 200 {
		t.Errorf("refresh after restart: %d %s", r.Status, r.Body)
	}
}

func TestStartRejectsNonLoopback(t *testing.T) {
	if _, err := Start(context.Background(), Options{Addr: "0.0.0.0:0"}); err == nil {
		t.Fatal("0.0.0.0 accepted")
	}
}

func TestLoadSeed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "seed.yaml")
	y := `tenants: [{id: t1}]
users: [{upn: a@x, password: p, objectId: o1, tenantId: t1}]
apps: [{clientId: c1, tenantId: t1, publicClient: true, consentGranted: true}]
orgs: [{name: o, id: 00000000-0000-0000-0000-0000000000aa, tenantId: t1, members: [a@x], policy: {maxLifespanDays: 7}}]
refreshTokenLifetime: 1h
`
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSeed(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Orgs[0].Policy.MaxLifespanDays != 7 || time.Duration(s.RefreshTokenLifetime) != time.Hour {
		t.Errorf("seed %+v", s)
	}
	if err := os.WriteFile(p, []byte(y+"pats: [{owner: ghost@x, org: o}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSeed(p); err == nil || !strings.Contains(err.Error(), "ghost@x") {
		t.Errorf("bad reference: %v", err)
	}
}

func BenchmarkPATList(b *testing.B) {
	seed := DefaultSeed()
	for i := range 1000 {
		seed.PATs = append(seed.PATs, SeedPAT{Owner: DefaultUser, Org: DefaultOrg, DisplayName: fmt.Sprintf("pat-%04d", i), Scope: "vso.code", ValidTo: time.Now().Add(time.Hour)})
	}
	e := start(b, Options{Seed: &seed})
	auth := userToken(b, e, DefaultUser)
	u := patsURL(e, DefaultOrg, "$top=100")
	b.ResetTimer()
	for b.Loop() {
		if r := do(b, e, "GET", u, auth, nil); r.Status != 200 {
			b.Fatal(r.Status)
		}
	}
}

func TestProjectsListAcceptsPATAndBearer(t *testing.T) {
	e := start(t, Options{})
	id, secret, err := e.IssuePAT(DefaultUser, DefaultOrg, "projects", "vso.project", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	u := e.DevOpsURL() + "/" + DefaultOrg + "/_apis/projects"
	for name, auth := range map[string]string{"pat": basicPAT(secret), "bearer": userToken(t, e, DefaultUser)} {
		r := do(t, e, "GET", u, auth, nil)
		if r.Status != 200 {
			t.Fatalf("%s: status %d %s", name, r.Status, r.Body)
		}
		var got api.ListOf[projectInfo]
		r.json(t, &got)
		var want []string
		for _, o := range e.Seed().Orgs {
			if o.Name == DefaultOrg {
				for _, p := range o.Projects {
					want = append(want, p.Name)
				}
			}
		}
		if got.Count != len(want) || len(got.Value) != len(want) || len(want) == 0 {
			t.Fatalf("%s: %d projects (count %d), want %v", name, len(got.Value), got.Count, want)
		}
		for i, p := range got.Value {
			if p.Name != want[i] || p.State != "wellFormed" {
				t.Errorf("%s: project %d = %+v, want name %s state wellFormed", name, i, p, want[i])
			}
		}
	}
	if r := do(t, e, "GET", u, "", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("anonymous: status %d, want 401", r.Status)
	}
	if r := do(t, e, "DELETE", patsURL(e, DefaultOrg, "authorizationId="+id), userToken(t, e, DefaultUser), nil); r.Status/100 != 2 {
		t.Fatalf("revoke: %d", r.Status)
	}
	if r := do(t, e, "GET", u, basicPAT(secret), nil); r.Status != http.StatusUnauthorized {
		t.Errorf("revoked PAT: status %d, want 401", r.Status)
	}
}

func TestProjectGetByIDOrName(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)
	base := e.DevOpsURL() + "/" + DefaultOrg + "/_apis/projects/"
	for _, ref := range []string{DefaultProjectID, DefaultProject, strings.ToLower(DefaultProject)} {
		r := do(t, e, "GET", base+ref, auth, nil)
		var got projectInfo
		r.json(t, &got)
		if r.Status != 200 || got.ID != DefaultProjectID || got.Name != DefaultProject || got.State != "wellFormed" {
			t.Errorf("GET projects/%s = %d %+v", ref, r.Status, got)
		}
	}
	if r := do(t, e, "GET", base+"NoSuchProject", auth, nil); r.Status != http.StatusNotFound {
		t.Errorf("unknown project: status %d, want 404", r.Status)
	}
	if r := do(t, e, "GET", base+DefaultProject, "", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("anonymous: status %d, want 401", r.Status)
	}
}
