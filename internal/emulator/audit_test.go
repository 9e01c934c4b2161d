package emulator

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

type auditPage struct {
	Entries []struct {
		ID        string         `json:"id"`
		ActionID  string         `json:"actionId"`
		ActorUPN  string         `json:"actorUPN"`
		Timestamp time.Time      `json:"timestamp"`
		Data      map[string]any `json:"data"`
		Area      string         `json:"area"`
	} `json:"decoratedAuditLogEntries"`
	ContinuationToken string `json:"continuationToken"`
	HasMore           bool   `json:"hasMore"`
}

func TestAuditLogTokenEvents(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clock := now
	e := start(t, Options{Now: func() time.Time { return clock }})
	user := userToken(t, e, DefaultUser)
	admin := userToken(t, e, AdminUser)
	createPAT(t, e, user, DefaultOrg, api.PatTokenCreateRequest{DisplayName: "a", Scope: "vso.code", ValidTo: now.Add(time.Hour)})
	clock = now.Add(time.Minute)
	b := createPAT(t, e, user, DefaultOrg, api.PatTokenCreateRequest{DisplayName: "b", Scope: "vso.code", ValidTo: now.Add(48 * time.Hour)}).PatToken
	clock = now.Add(2 * time.Minute)
	if r := do(t, e, "DELETE", patsURL(e, DefaultOrg, "authorizationId="+b.AuthorizationID), user, nil); r.Status != 204 {
		t.Fatalf("revoke: %d", r.Status)
	}
	c := createPAT(t, e, user, DefaultOrg, api.PatTokenCreateRequest{DisplayName: "c", Scope: "vso.code", ValidTo: now.Add(48 * time.Hour)}).PatToken
	if r := do(t, e, "POST", e.URL()+"/_emulator/pats/"+c.AuthorizationID+"/discovered", "", nil); r.Status != 204 {
		t.Fatalf("discovered: %d", r.Status)
	}
	if !e.PATIsRevoked(c.AuthorizationID) {
		t.Fatal("a publicly discovered PAT must be revoked")
	}
	clock = now.Add(2 * time.Hour) // a expires
	user, admin = userToken(t, e, DefaultUser), userToken(t, e, AdminUser)
	auditURL := e.AuditURL() + "/" + DefaultOrg + "/_apis/audit/auditlog?api-version=7.1-preview.1&batchSize=2"

	// Only organization administrators may read the log.
	if r := do(t, e, "GET", auditURL, user, nil); r.Status != 403 || !strings.Contains(string(r.Body), "View audit log") {
		t.Fatalf("non-admin: %d %s", r.Status, r.Body)
	}
	var got []string
	cont := ""
	for pages := 0; ; pages++ {
		var p auditPage
		u := auditURL
		if cont != "" {
			u += "&continuationToken=" + url.QueryEscape(cont)
		}
		do(t, e, "GET", u, admin, nil).json(t, &p)
		if len(p.Entries) > 2 || pages > 10 {
			t.Fatalf("page of %d entries / %d pages", len(p.Entries), pages)
		}
		for _, en := range p.Entries {
			if en.Area != "Token" {
				t.Fatalf("area %q", en.Area)
			}
			got = append(got, en.ActionID+" "+en.Data["DisplayName"].(string))
		}
		if !p.HasMore {
			break
		}
		cont = p.ContinuationToken
	}
	want := []string{"Token.PatExpiredEvent a", "Token.PatSystemRevokeEvent c", "Token.PatPublicDiscoveryEvent c", "Token.PatCreateEvent c",
		"Token.PatRevokeEvent b", "Token.PatCreateEvent b", "Token.PatCreateEvent a"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events, newest first:\n got %v\nwant %v", got, want)
	}
	// A time window selects.
	var p auditPage
	do(t, e, "GET", e.AuditURL()+"/"+DefaultOrg+"/_apis/audit/auditlog?api-version=7.1-preview.1&startTime="+now.Add(30*time.Second).Format(time.RFC3339)+"&endTime="+now.Add(90*time.Second).Format(time.RFC3339), admin, nil).json(t, &p)
	if len(p.Entries) != 1 || p.Entries[0].ActionID != "Token.PatCreateEvent" || p.Entries[0].ActorUPN != DefaultUser {
		t.Fatalf("window: %+v", p.Entries)
	}
	if r := do(t, e, "GET", auditURL+"&startTime=yesterday", admin, nil); r.Status != 400 || !strings.Contains(string(r.Body), "startTime") {
		t.Fatalf("bad startTime: %d %s", r.Status, r.Body)
	}
}

func TestGraphUsersPaging(t *testing.T) {
	seed := DefaultSeed()
	for i := 0; i < 250; i++ {
		upn := "user" + itoa(i) + "@contoso.example"
		seed.Users = append(seed.Users, User{UPN: upn, Password: DefaultPassword, ObjectID: guidN(i), TenantID: DefaultTenantID, DisplayName: "U"})
		seed.Orgs[0].Members = append(seed.Orgs[0].Members, upn)
	}
	e := start(t, Options{Seed: &seed})
	auth := userToken(t, e, DefaultUser)
	seen := map[string]bool{}
	cont := ""
	for pages := 0; pages < 10; pages++ {
		u := e.VSSPSURL() + "/" + DefaultOrg + "/_apis/graph/users?api-version=7.1-preview.1"
		if cont != "" {
			u += "&continuationToken=" + cont
		}
		r := do(t, e, "GET", u, auth, nil)
		var body struct {
			Value []graphUser `json:"value"`
		}
		r.json(t, &body)
		for _, g := range body.Value {
			if seen[g.Descriptor] || !strings.HasPrefix(g.Descriptor, "aad.") {
				t.Fatalf("descriptor %q repeated or malformed", g.Descriptor)
			}
			seen[g.Descriptor] = true
		}
		if cont = r.Header.Get("X-MS-ContinuationToken"); cont == "" {
			break
		}
	}
	// 250 added + the default org's user members (service principals and managed identities are not users).
	if want := 250 + 4; len(seen) != want {
		t.Fatalf("%d users, want %d", len(seen), want)
	}
}

func guidN(i int) string {
	s := itoa(100000 + i)
	return "00000000-0000-4000-8000-000000" + s
}
