package emulator

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestGlobalPATRetirement: before the retirement date a global PAT can be
// created, updated and used; from that date creation, update and
// authentication are refused with the service's patTokenError / 401, while
// organisation-scoped PATs keep working and the surviving global PAT stays
// listable and revocable.
func TestGlobalPATRetirement(t *testing.T) {
	retire := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clk := &testClock{t: retire.Add(-48 * time.Hour)}
	e := start(t, Options{Now: clk.Now})
	if got := e.Seed().GlobalPATRetirement; !got.Equal(api.GlobalPATRetirement) || !got.Equal(retire) {
		t.Fatalf("default retirement %v, want %v", got, retire)
	}
	auth := userToken(t, e, DefaultUser)
	validTo := retire.Add(30 * 24 * time.Hour)

	res := createPAT(t, e, auth, DefaultOrg, api.PatTokenCreateRequest{DisplayName: "global", Scope: "vso.code", ValidTo: validTo, AllOrgs: true})
	if res.PatTokenError != api.ErrNone || res.PatToken.TargetAccounts != nil {
		t.Fatalf("global create before the retirement: %+v", res)
	}
	globalID, globalSecret := res.PatToken.AuthorizationID, *res.PatToken.Token
	res = createPAT(t, e, auth, DefaultOrg, api.PatTokenCreateRequest{DisplayName: "scoped", Scope: "vso.code", ValidTo: validTo})
	scopedSecret := *res.PatToken.Token
	scopedID := res.PatToken.AuthorizationID
	cd := func(org, secret string) resp {
		return do(t, e, "GET", e.DevOpsURL()+"/"+org+"/_apis/connectionData", basicPAT(secret), nil)
	}
	if r := cd(OtherOrg, globalSecret); r.Status != 200 {
		t.Fatalf("global PAT before the retirement: %d %s", r.Status, r.Body)
	}

	clk.Set(retire) // the instant of the retirement counts as retired
	auth = userToken(t, e, DefaultUser)
	r := cd(DefaultOrg, globalSecret)
	if r.Status != 401 || !strings.Contains(string(r.Body), "Global personal access tokens were retired on 2026-12-01") ||
		!strings.Contains(r.Header.Get("WWW-Authenticate"), "Bearer authorization_uri=") {
		t.Fatalf("global PAT after the retirement: %d %s %v", r.Status, r.Body, r.Header)
	}
	if r := cd(DefaultOrg, scopedSecret); r.Status != 200 {
		t.Fatalf("organisation-scoped PAT after the retirement: %d %s", r.Status, r.Body)
	}
	res = createPAT(t, e, auth, DefaultOrg, api.PatTokenCreateRequest{DisplayName: "global2", Scope: "vso.code", ValidTo: validTo, AllOrgs: true})
	if res.PatTokenError != api.ErrGlobalPATCreationBlocked || res.PatToken != nil || !strings.Contains(res.PatTokenErrorMessage, "organization") {
		t.Fatalf("global create after the retirement: %+v", res)
	}
	yes := true
	var upd api.PatTokenResult
	do(t, e, "PUT", patsURL(e, DefaultOrg, ""), auth, api.PatTokenUpdateRequest{AuthorizationID: scopedID, AllOrgs: &yes}).json(t, &upd)
	if upd.PatTokenError != api.ErrGlobalPATCreationBlocked {
		t.Fatalf("making a PAT global after the retirement: %+v", upd)
	}
	name := "renamed"
	do(t, e, "PUT", patsURL(e, DefaultOrg, ""), auth, api.PatTokenUpdateRequest{AuthorizationID: globalID, DisplayName: &name}).json(t, &upd)
	if upd.PatTokenError != api.ErrGlobalPATCreationBlocked {
		t.Fatalf("updating a surviving global PAT after the retirement: %+v", upd)
	}
	// The surviving global PAT is still listed (targetAccounts null) and revocable.
	var page api.PagedPatTokens
	do(t, e, "GET", patsURL(e, DefaultOrg, ""), auth, nil).json(t, &page)
	found := false
	for _, p := range page.PatTokens {
		if p.AuthorizationID == globalID {
			found = p.IsGlobal()
		}
	}
	if !found {
		t.Fatalf("surviving global PAT not listed as global: %+v", page)
	}
	if r := do(t, e, "DELETE", patsURL(e, DefaultOrg, "authorizationId="+globalID), auth, nil); r.Status != 204 {
		t.Fatalf("revoking the surviving global PAT: %d %s", r.Status, r.Body)
	}
}

// TestGlobalPATRetirementSeed: the seed moves the date (globalPatRetirement).
func TestGlobalPATRetirementSeed(t *testing.T) {
	seed := DefaultSeed()
	seed.GlobalPATRetirement = time.Now().Add(24 * time.Hour)
	seed.PATs = []SeedPAT{{Owner: DefaultUser, Org: DefaultOrg, DisplayName: "g", Scope: "vso.code", Global: true, ValidTo: time.Now().Add(48 * time.Hour), Token: "seededglobalpatseededglobalpatseededglobalpat234567"}}
	e := start(t, Options{Seed: &seed})
	if r := do(t, e, "GET", e.DevOpsURL()+"/"+OtherOrg+"/_apis/connectionData", basicPAT(seed.PATs[0].Token), nil); r.Status != 200 {
		t.Fatalf("seeded global PAT before a later retirement: %d %s", r.Status, r.Body)
	}
	seed.GlobalPATRetirement = time.Now().Add(-time.Hour)
	e = start(t, Options{Seed: &seed})
	if r := do(t, e, "GET", e.DevOpsURL()+"/"+OtherOrg+"/_apis/connectionData", basicPAT(seed.PATs[0].Token), nil); r.Status != 401 {
		t.Fatalf("seeded global PAT after an earlier retirement: %d %s", r.Status, r.Body)
	}
}
