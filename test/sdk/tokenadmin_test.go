package sdk

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/delegatedauthorization"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/location"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/tokenadmin"
)

// TestTokenAdmin: an organization administrator pages through a user's PATs,
// revokes one, then revokes a scope with a revocation rule; the revoked PATs
// stop authenticating the SDK.
func TestTokenAdmin(t *testing.T) {
	user := emu.env["AZURE_USERNAME"]
	// The user's subject descriptor, as a client learns it: connection data.
	cd, err := location.NewClient(ctx(t), connection(t, user)).GetConnectionData(ctx(t), location.GetConnectionDataArgs{})
	if err != nil || cd.AuthenticatedUser == nil || cd.AuthenticatedUser.SubjectDescriptor == nil {
		t.Fatalf("GetConnectionData: %v %+v", err, cd)
	}
	descriptor := *cd.AuthenticatedUser.SubjectDescriptor

	type pat struct{ id, secret, scope string }
	var pats []pat
	for i, scope := range []string{"vso.code", "vso.build", "vso.code", "vso.build", "vso.code"} {
		id, secret := createPAT(t, user, "sdk-tokenadmin-"+string(rune('a'+i)), scope)
		pats = append(pats, pat{id, secret, scope})
	}

	c, err := tokenadmin.NewClient(ctx(t), connection(t, adminUser))
	if err != nil {
		t.Fatalf("tokenadmin.NewClient: %v", err)
	}
	list := func(t *testing.T) map[string]delegatedauthorization.SessionToken {
		t.Helper()
		seen := map[string]delegatedauthorization.SessionToken{}
		var cont *string
		for pages := 0; ; pages++ {
			if pages > 50 {
				t.Fatalf("paging did not end after 50 pages")
			}
			page, err := c.ListPersonalAccessTokens(ctx(t), tokenadmin.ListPersonalAccessTokensArgs{
				SubjectDescriptor: &descriptor, PageSize: ptr(2), ContinuationToken: cont})
			if err != nil {
				t.Fatalf("ListPersonalAccessTokens (page %d): %v", pages+1, err)
			}
			if page.Value == nil || len(*page.Value) > 2 {
				t.Fatalf("page %d: %v entries, want at most pageSize 2", pages+1, page.Value)
			}
			for _, s := range *page.Value {
				id := s.AuthorizationId.String()
				if _, dup := seen[id]; dup {
					t.Fatalf("PAT %s listed twice while paging", id)
				}
				seen[id] = s
			}
			if page.ContinuationToken == nil {
				return seen
			}
			cont = ptr(page.ContinuationToken.String())
		}
	}
	valid := func(t *testing.T, want map[string]bool) {
		t.Helper()
		seen := list(t)
		for _, p := range pats {
			s, ok := seen[p.id]
			if !ok {
				t.Errorf("PAT %s (%s) not listed", p.id, p.scope)
				continue
			}
			if s.IsValid == nil || *s.IsValid != want[p.id] {
				t.Errorf("PAT %s (%s): isValid %v, want %v", p.id, p.scope, s.IsValid, want[p.id])
			}
			if s.Scope == nil || *s.Scope != p.scope || s.ValidTo == nil || s.ValidTo.Time.Before(time.Now()) {
				t.Errorf("PAT %s: scope %v validTo %v", p.id, s.Scope, s.ValidTo)
			}
			// What isValid claims, authentication confirms.
			_, err := location.NewClient(ctx(t), patConnection(p.secret)).GetConnectionData(ctx(t), location.GetConnectionDataArgs{})
			if works := err == nil; works != want[p.id] {
				t.Errorf("PAT %s (%s) authenticates: %v (%v), want %v", p.id, p.scope, works, err, want[p.id])
			}
		}
	}
	want := map[string]bool{}
	for _, p := range pats {
		want[p.id] = true
	}

	t.Run("list with paging", func(t *testing.T) { valid(t, want) })

	t.Run("revocations", func(t *testing.T) {
		id := uuid.MustParse(pats[0].id)
		if err := c.RevokeAuthorizations(ctx(t), tokenadmin.RevokeAuthorizationsArgs{
			Revocations: &[]tokenadmin.TokenAdminRevocation{{AuthorizationId: &id}}}); err != nil {
			t.Fatalf("RevokeAuthorizations: %v", err)
		}
		want[pats[0].id] = false
		valid(t, want)
	})

	t.Run("revocation rules", func(t *testing.T) {
		if err := c.CreateRevocationRule(ctx(t), tokenadmin.CreateRevocationRuleArgs{RevocationRule: &tokenadmin.TokenAdminRevocationRule{
			Scopes: ptr("vso.build"), CreatedBefore: &azuredevops.Time{Time: time.Now().Add(time.Minute)}}}); err != nil {
			t.Fatalf("CreateRevocationRule: %v", err)
		}
		for _, p := range pats {
			if strings.Contains(p.scope, "vso.build") {
				want[p.id] = false
			}
		}
		valid(t, want)
	})

	t.Run("not an administrator", func(t *testing.T) {
		plain, err := tokenadmin.NewClient(ctx(t), connection(t, user))
		if err != nil {
			t.Fatalf("tokenadmin.NewClient: %v", err)
		}
		_, err = plain.ListPersonalAccessTokens(ctx(t), tokenadmin.ListPersonalAccessTokensArgs{SubjectDescriptor: &descriptor})
		if we, ok := err.(azuredevops.WrappedError); !ok || we.StatusCode == nil || *we.StatusCode != 401 {
			t.Errorf("a non-administrator listed PATs: %v, want the service's 401", err)
		}
	})
}
