package devops_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
)

// startEmulator starts an emulator with seed (nil = DefaultSeed).
func startEmulator(tb testing.TB, seed *emulator.Seed) *emulator.Emulator {
	tb.Helper()
	e, err := emulator.Start(context.Background(), emulator.Options{Addr: "127.0.0.1:0", Seed: seed, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	return e
}

// userClient signs in as upn with ROPC and returns a client for DefaultOrg.
func userClient(tb testing.TB, e *emulator.Emulator, upn string) *devops.Client {
	tb.Helper()
	return ropcClient(tb, e, emulator.DefaultClientID, upn, "")
}

// ropcClient signs upn in with ROPC through the public-client app clientID,
// requesting scope ("" = .default), and returns a client for DefaultOrg.
func ropcClient(tb testing.TB, e *emulator.Emulator, clientID, upn, scope string) *devops.Client {
	tb.Helper()
	src, err := entra.New(entra.Options{
		Method:                   entra.MethodROPC,
		AuthorityHost:            e.AuthorityHost(),
		TenantID:                 emulator.DefaultTenantID,
		ClientID:                 clientID,
		Username:                 upn,
		Password:                 emulator.DefaultPassword,
		Scope:                    scope,
		DisableInstanceDiscovery: true,
		HTTPClient:               e.HTTPClient(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := devops.New(devops.Options{
		Organization: emulator.DefaultOrg,
		VSSPSURL:     e.VSSPSURL(),
		DevOpsURL:    e.DevOpsURL(),
		Token:        entra.ReuseTokenSource(src, 0),
		HTTPClient:   e.HTTPClient(),
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestEmulatorPATLifecycle(t *testing.T) {
	e := startEmulator(t, nil)
	c := userClient(t, e, emulator.DefaultUser)
	ctx := context.Background()

	validTo := time.Now().UTC().Add(30 * 24 * time.Hour)
	p, err := c.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: "patrol:it", Scope: "vso.code", ValidTo: validTo})
	if err != nil {
		t.Fatal(err)
	}
	if p.Token == nil || *p.Token == "" || p.IsGlobal() {
		t.Fatalf("create: token set %v, global %v", p.Token != nil, p.IsGlobal())
	}
	if devops.Clamped(validTo, p.ValidTo) {
		t.Errorf("30 days clamped to %v", p.ValidTo)
	}
	cd, err := c.VerifyPAT(ctx, *p.Token)
	if err != nil {
		t.Fatalf("verify new PAT: %v", err)
	}
	if cd.AuthenticatedUser.ID != emulator.DefaultUserObjectID {
		t.Errorf("PAT authenticates as %q", cd.AuthenticatedUser.ID)
	}

	found := false
	for q, err := range c.ListPATs(ctx, devops.ListOptions{NamePrefix: "patrol:"}) {
		if err != nil {
			t.Fatal(err)
		}
		if q.AuthorizationID == p.AuthorizationID {
			found = true
			if q.Token != nil {
				t.Error("list returned the secret")
			}
		}
	}
	if !found {
		t.Error("new PAT not listed")
	}

	name := "patrol:it-renamed"
	newTo := validTo.Add(24 * time.Hour)
	u, err := c.UpdatePAT(ctx, api.PatTokenUpdateRequest{AuthorizationID: p.AuthorizationID, DisplayName: &name, ValidTo: &newTo})
	if err != nil {
		t.Fatal(err)
	}
	if u.DisplayName != name || u.AuthorizationID != p.AuthorizationID || devops.Clamped(newTo, u.ValidTo) {
		t.Errorf("update: %+v", u)
	}
	g, err := c.GetPAT(ctx, p.AuthorizationID)
	if err != nil || g.DisplayName != name {
		t.Fatalf("get: %+v %v", g, err)
	}
	if err := c.RevokePAT(ctx, p.AuthorizationID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.VerifyPAT(ctx, *p.Token); errkind.Of(err) != errkind.Auth {
		t.Errorf("revoked PAT still verifies: %v", err)
	}
	revoked := false
	for q, err := range c.ListPATs(ctx, devops.ListOptions{Filter: api.FilterRevoked}) {
		if err != nil {
			t.Fatal(err)
		}
		revoked = revoked || q.AuthorizationID == p.AuthorizationID
	}
	if !revoked {
		t.Error("revoked PAT not listed under filter revoked")
	}
	if _, err := c.GetPAT(ctx, "00000000-0000-0000-0000-000000000001"); errkind.Of(err) != errkind.NotFound {
		t.Errorf("unknown id: %v", err)
	}
}

func TestEmulatorServicePrincipalRefused(t *testing.T) {
	e := startEmulator(t, nil)
	src, err := entra.New(entra.Options{
		Method: entra.MethodClientSecret, AuthorityHost: e.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultSPClientID, ClientSecret: emulator.DefaultSPSecret, DisableInstanceDiscovery: true, HTTPClient: e.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := devops.New(devops.Options{Organization: emulator.DefaultOrg, VSSPSURL: e.VSSPSURL(), DevOpsURL: e.DevOpsURL(), Token: src, HTTPClient: e.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreatePAT(context.Background(), api.PatTokenCreateRequest{DisplayName: "sp", Scope: "vso.code", ValidTo: time.Now().Add(time.Hour)})
	if err == nil {
		t.Fatal("a service principal created a PAT")
	}
	k := errkind.Of(err)
	if k != errkind.Auth && k != errkind.Permission {
		t.Errorf("kind %v: %v", k, err)
	}
	t.Logf("service principal on PAT API: %v", err)
}

func TestEmulatorList10kAndTokenAdmin(t *testing.T) {
	if testing.Short() {
		t.Skip("10k PATs")
	}
	seed := seedWithPATs(10000)
	e := startEmulator(t, &seed)
	c := userClient(t, e, emulator.DefaultUser)
	ctx := context.Background()
	e.ResetCounters()
	n := 0
	for _, err := range c.ListPATs(ctx, devops.ListOptions{Filter: api.FilterAll}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 10000 {
		t.Fatalf("listed %d PATs, want >= 10000", n)
	}
	lists, signIns := listAndSignInCalls(e.Counters())
	t.Logf("listed %d PATs with %d list calls and %d sign-ins; stats %+v", n, lists, signIns, c.Stats())
	if lists != int64((n+99)/100) {
		t.Errorf("%d list calls, want %d", lists, (n+99)/100)
	}

	admin := userClient(t, e, emulator.AdminUser)
	desc := e.SubjectDescriptor(emulator.DefaultUser)
	var ids []string
	total := 0
	for st, err := range admin.ListUserPATs(ctx, desc, false) {
		if err != nil {
			t.Fatal(err)
		}
		total++
		if strings.HasPrefix(st.DisplayName, "bulk-000") && len(ids) < 3 && st.IsValid {
			ids = append(ids, st.AuthorizationID)
		}
	}
	if total < 10000 || len(ids) != 3 {
		t.Fatalf("tokenadmin listed %d (want >= 10000), picked %d", total, len(ids))
	}
	if err := admin.RevokeAuthorizations(ctx, ids); err != nil {
		t.Fatal(err)
	}
	gone := map[string]bool{ids[0]: true, ids[1]: true, ids[2]: true}
	for q, err := range c.ListPATs(ctx, devops.ListOptions{Filter: api.FilterActive}) {
		if err != nil {
			t.Fatal(err)
		}
		if gone[q.AuthorizationID] {
			t.Errorf("%s still active after tokenadmin revocation", q.AuthorizationID)
		}
	}
	// A non-admin may not use tokenadmin.
	for _, err := range c.ListUserPATs(ctx, desc, false) {
		if k := errkind.Of(err); k != errkind.Auth && k != errkind.Permission {
			t.Errorf("non-admin tokenadmin: %v", err)
		}
		break
	}
}

func seedWithPATs(n int) emulator.Seed {
	seed := emulator.DefaultSeed()
	now := time.Now().UTC()
	for i := range n {
		seed.PATs = append(seed.PATs, emulator.SeedPAT{Owner: emulator.DefaultUser, Org: emulator.DefaultOrg,
			DisplayName: fmt.Sprintf("bulk-%05d", i), Scope: "vso.code", ValidFrom: now.Add(-time.Hour), ValidTo: now.Add(30 * 24 * time.Hour)})
	}
	return seed
}

func listAndSignInCalls(counters map[string]int64) (lists, signIns int64) {
	for k, v := range counters {
		switch {
		case strings.HasPrefix(k, "GET ") && strings.Contains(k, "tokens/pats"):
			lists += v
		case strings.HasPrefix(k, "POST ") && strings.Contains(k, "oauth2/v2.0/token"):
			signIns += v
		}
	}
	return lists, signIns
}

// BenchmarkListPATs10k lists 10,000 PATs through the emulator per iteration
// and reports API calls against the minimum of 100 list calls + 1 sign-in.
func BenchmarkListPATs10k(b *testing.B) {
	seed := seedWithPATs(10000)
	e := startEmulator(b, &seed)
	e.ResetCounters()
	c := userClient(b, e, emulator.DefaultUser)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for _, err := range c.ListPATs(ctx, devops.ListOptions{Filter: api.FilterAll}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n < 10000 {
			b.Fatalf("listed %d", n)
		}
	}
	b.StopTimer()
	lists, signIns := listAndSignInCalls(e.Counters())
	b.ReportMetric(float64(lists)/float64(b.N), "list-calls/op")
	b.ReportMetric(float64(signIns), "sign-ins")
	b.ReportMetric(float64(c.Stats().Requests)/float64(b.N), "requests/op")
}

// TestEmulatorFaultsRetried lists and creates through 503s and 429s.
func TestEmulatorFaultsRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("real backoff and Retry-After waits (~20 s)")
	}
	seed := seedWithPATs(300)
	e := startEmulator(t, &seed)
	c := userClient(t, e, emulator.DefaultUser)
	ctx := context.Background()
	e.SetFaults(emulator.Faults{ServerErrorRate: 0.3, ThrottleRate: 0.1, Routes: []string{"tokens/pats"}, Seed: 7})
	n := 0
	for _, err := range c.ListPATs(ctx, devops.ListOptions{PageSize: 20}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 300 {
		t.Fatalf("listed %d", n)
	}
	// Creates: a 503 from the fault injector does not commit, so each create
	// must end with exactly one PAT of its name and a secret.
	for i := range 5 {
		name := fmt.Sprintf("patrol:faulty-%d", i)
		p, err := c.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: name, Scope: "vso.code", ValidTo: time.Now().Add(48 * time.Hour)})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if p.Token == nil {
			t.Fatal("no secret")
		}
	}
	e.SetFaults(emulator.Faults{})
	counts := map[string]int{}
	for p, err := range c.ListPATs(ctx, devops.ListOptions{NamePrefix: "patrol:faulty-"}) {
		if err != nil {
			t.Fatal(err)
		}
		counts[p.DisplayName]++
	}
	for i := range 5 {
		if got := counts[fmt.Sprintf("patrol:faulty-%d", i)]; got != 1 {
			t.Errorf("patrol:faulty-%d exists %d times", i, got)
		}
	}
	st := c.Stats()
	t.Logf("stats under faults: %+v", st)
	if st.Retries == 0 {
		t.Error("no retries under a 30% error rate")
	}
}

func TestEmulatorServiceEndpointAndVariableGroup(t *testing.T) {
	seed := emulator.DefaultSeed()
	seed.ServiceEndpoints = append(seed.ServiceEndpoints, emulator.SeedEndpoint{Org: emulator.DefaultOrg, Project: emulator.DefaultProject,
		Name: "generic-it", Type: "Generic", URL: "https://service.example", Scheme: "UsernamePassword",
		Parameters: map[string]string{"username": "bot", "password": "old-secret"}})
	seed.VariableGroups = append(seed.VariableGroups, emulator.SeedVariableGroup{Org: emulator.DefaultOrg, Project: emulator.DefaultProject,
		Name: "patrol-it", Variables: map[string]emulator.SeedVar{"PAT": {Value: "old", IsSecret: true}, "USER": {Value: "bot"}}})
	e := startEmulator(t, &seed)
	c := userClient(t, e, emulator.DefaultUser)
	ctx := context.Background()

	eps, err := c.ListServiceEndpoints(ctx, emulator.DefaultProject, devops.EndpointFilter{Names: []string{"generic-it"}})
	if err != nil || len(eps) != 1 {
		t.Fatalf("list: %d %v", len(eps), err)
	}
	ep, err := c.GetServiceEndpoint(ctx, emulator.DefaultProject, eps[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if ep.Authorization == nil || ep.Authorization.Parameters["password"] != nil {
		t.Fatalf("confidential password not null on GET: %+v", ep.Authorization)
	}
	// Change the username only; the nil password keeps the stored value.
	user := "bot2"
	ep.Authorization.Parameters["username"] = &user
	up, err := c.UpdateServiceEndpoint(ctx, ep, "")
	if err != nil {
		t.Fatal(err)
	}
	if up.Authorization == nil || up.Authorization.Parameters["password"] != nil {
		t.Errorf("update response leaks the confidential value: %+v", up.Authorization)
	}
	ready, err := c.WaitEndpointReady(ctx, emulator.DefaultProject, ep.ID, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if u := ready.Authorization.Parameters["username"]; u == nil || *u != "bot2" {
		t.Errorf("username after update: %v", u)
	}

	groups, err := c.ListVariableGroups(ctx, emulator.DefaultProject, "patrol-it")
	if err != nil || len(groups) != 1 {
		t.Fatalf("variable groups: %d %v", len(groups), err)
	}
	g, err := c.GetVariableGroup(ctx, emulator.DefaultProject, groups[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if g.Variables["PAT"].Value != nil {
		t.Error("secret variable value returned")
	}
	v := "new-secret-value"
	g.Variables["PAT"] = api.VariableValue{Value: &v, IsSecret: true}
	ug, err := c.UpdateVariableGroup(ctx, g.ID, g)
	if err != nil {
		t.Fatal(err)
	}
	if ug.Variables["PAT"].Value != nil || ug.Variables["USER"].Value == nil || *ug.Variables["USER"].Value != "bot" {
		t.Errorf("update response: %+v", ug.Variables)
	}
	if _, err := c.GetVariableGroup(ctx, emulator.DefaultProject, 987654); errkind.Of(err) != errkind.NotFound {
		t.Errorf("unknown group: %v", err)
	}
}
