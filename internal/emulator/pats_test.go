package emulator

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

func TestPATLifecycle(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)

	res := createPAT(t, e, auth, DefaultOrg, api.PatTokenCreateRequest{DisplayName: "patrol:agents", Scope: "vso.agentpools_manage", ValidTo: future.Add(1234567 * time.Microsecond)})
	if res.PatTokenError != api.ErrNone || res.PatToken == nil || res.PatToken.Token == nil {
		t.Fatalf("create: %+v", res)
	}
	secret := *res.PatToken.Token
	if len(secret) != 52 || strings.ToLower(secret) != secret {
		t.Errorf("secret format: len %d", len(secret))
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
