package emulator

import (
	"hash/crc32"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/patsecret"
)

func TestPATLifecycle(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)

	res := createPAT(t, e, auth, DefaultOrg, api.PatTokenCreateRequest{DisplayName: "patrol:agents", Scope: "vso.agentpools_manage", ValidTo: future.Add(1234567 * time.Microsecond)})
	if res.PatTokenError != api.ErrNone || res.PatToken == nil || res.PatToken.Token == nil {
		t.Fatalf("create: %+v", res)
	}
	secret := *res.PatToken.Token
	if patsecret.Of(secret) != patsecret.Identifiable || secret[76:80] != "AZDO" {
		t.Errorf("secret format: len %d, %v", len(secret), patsecret.Of(secret))
	}
	if got := res.PatToken.TargetAccounts; len(got) != 1 || got[0] != DefaultOrgID {
		t.Errorf("targetAccounts = %v, want [%s]", got, DefaultOrgID)
	}
	if res.PatToken.ValidTo.Nanosecond()%int(10*time.Millisecond) != 0 {
		t.Errorf("validTo %v not rounded to 10ms", res.PatToken.ValidTo)
	}
	id := res.PatToken.AuthorizationID

	// The PAT authenticates connectionData.
	r := do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/_apis/connectionData", basicPAT(secret), nil)
	if r.Status != 200 {
		t.Fatalf("connectionData with PAT: %d %s", r.Status, r.Body)
	}
	var cd api.ConnectionData
	r.json(t, &cd)
	if cd.AuthenticatedUser.ID != DefaultUserObjectID || cd.InstanceID != DefaultOrgID {
		t.Errorf("connectionData = %+v", cd)
	}
	// ...but not in another org.
	if r := do(t, e, "GET", e.DevOpsURL()+"/"+OtherOrg+"/_apis/connectionData", basicPAT(secret), nil); r.Status != 401 {
		t.Errorf("PAT in other org: %d, want 401", r.Status)
	}

	// Get echoes the id and hides the secret.
	r = do(t, e, "GET", patsURL(e, DefaultOrg, "authorizationId="+id), auth, nil)
	var got api.PatTokenResult
	r.json(t, &got)
	if got.PatToken == nil || got.PatToken.AuthorizationID != id || got.PatToken.Token != nil {
		t.Fatalf("get: %s", r.Body)
	}

	// Update: rename and extend.
	name := "renamed"
	vt := future.Add(24 * time.Hour)
	r = do(t, e, "PUT", patsURL(e, DefaultOrg, ""), auth, api.PatTokenUpdateRequest{AuthorizationID: id, DisplayName: &name, ValidTo: &vt})
	r.json(t, &got)
	if got.PatTokenError != api.ErrNone || got.PatToken.DisplayName != name || !got.PatToken.ValidTo.Equal(vt.Round(10*time.Millisecond)) || got.PatToken.Token != nil {
		t.Fatalf("update: %s", r.Body)
	}

	// Revoke → 204; the PAT stops working and is listed as revoked.
	if r := do(t, e, "DELETE", patsURL(e, DefaultOrg, "authorizationId="+id), auth, nil); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if r := do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/_apis/connectionData", basicPAT(secret), nil); r.Status != 401 {
		t.Errorf("revoked PAT still works: %d", r.Status)
	}
	var page api.PagedPatTokens
	do(t, e, "GET", patsURL(e, DefaultOrg, "displayFilterOption=revoked"), auth, nil).json(t, &page)
	if len(page.PatTokens) != 1 || page.PatTokens[0].AuthorizationID != id || page.ContinuationToken != "" {
		t.Errorf("revoked list: %+v", page)
	}
	do(t, e, "GET", patsURL(e, DefaultOrg, ""), auth, nil).json(t, &page)
	if len(page.PatTokens) != 0 {
		t.Errorf("active list after revoke: %+v", page)
	}
	// Update of a revoked PAT is refused.
	r = do(t, e, "PUT", patsURL(e, DefaultOrg, ""), auth, api.PatTokenUpdateRequest{AuthorizationID: id, DisplayName: &name})
	r.json(t, &got)
	if got.PatTokenError != api.ErrAuthorizationNotFound {
		t.Errorf("update revoked: %s", r.Body)
	}
}

// TestPATSecretFormats: new PATs are 84 characters (base62, JQQJ at 52, AZDO
// at 76, the emulator's CRC-32 checksum at 80, all distinct); the seed option
// legacyPatFormat keeps the 52-character base32 format. Both authenticate.
func TestPATSecretFormats(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		s := newIdentifiablePATSecret(now)
		if patsecret.Of(s) != patsecret.Identifiable || s[52:56] != "JQQJ" || s[58:60] != "CL" || seen[s] {
			t.Fatalf("identifiable secret %q: %v", s, patsecret.Of(s))
		}
		seen[s] = true
		sum := crc32.ChecksumIEEE([]byte(s[:80]))
		for j := 80; j < 84; j++ {
			if s[j] != base62[sum%62] {
				t.Fatalf("checksum of %q", s)
			}
			sum /= 62
		}
	}
	for _, legacy := range []bool{false, true} {
		seed := DefaultSeed()
		seed.LegacyPATFormat = legacy
		e := start(t, Options{Seed: &seed})
		auth := userToken(t, e, DefaultUser)
		res := createPAT(t, e, auth, DefaultOrg, api.PatTokenCreateRequest{DisplayName: "f", Scope: "vso.code", ValidTo: future})
		secret := *res.PatToken.Token
		want := patsecret.Identifiable
		if legacy {
			want = patsecret.Legacy
			if len(secret) != 52 || strings.ToLower(secret) != secret {
				t.Fatalf("legacy secret %q", secret)
			}
		}
		if got := patsecret.Of(secret); got != want {
			t.Fatalf("legacyPatFormat=%v: format %v, want %v", legacy, got, want)
		}
		_, hook, err := e.IssuePAT(DefaultUser, DefaultOrg, "hook", "vso.code", future)
		if err != nil || patsecret.Of(hook) != want {
			t.Fatalf("IssuePAT with legacyPatFormat=%v: %v %v", legacy, patsecret.Of(hook), err)
		}
		for _, s := range []string{secret, hook} {
			if r := do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/_apis/connectionData", basicPAT(s), nil); r.Status != 200 {
				t.Fatalf("%v PAT does not authenticate: %d", want, r.Status)
			}
		}
	}
}
