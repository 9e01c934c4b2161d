package emulator

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// publicROPC signs DefaultUser in through a public-client app.
func publicROPC(t *testing.T, e *Emulator, clientID, scope string) (resp, map[string]any) {
	t.Helper()
	return tokenPost(t, e, url.Values{"grant_type": {"password"}, "client_id": {clientID},
		"username": {DefaultUser}, "password": {DefaultPassword}, "scope": {scope}})
}

func want65001(t *testing.T, r resp, m map[string]any) {
	t.Helper()
	desc, _ := m["error_description"].(string)
	if r.Status != 400 || m["error"] != "invalid_grant" || m["suberror"] != "consent_required" ||
		!strings.HasPrefix(desc, "AADSTS65001: The user or administrator has not consented to use the application with ID ") {
		t.Errorf("want AADSTS65001 consent_required, got %d %s", r.Status, r.Body)
	}
}

// Apps declare the delegated Azure DevOps permissions an admin consented;
// /.default yields all of them, an explicit permission works only when
// consented (AADSTS65001 otherwise).
func TestConsentedPermissions(t *testing.T) {
	e := start(t, Options{})
	for _, tc := range []struct {
		name, client, scope string
		scp                 string // "" = AADSTS65001
	}{
		{"default app .default", DefaultClientID, api.Scope, "user_impersonation vso.pats vso.pats_manage"},
		{"default app explicit vso.pats_manage", DefaultClientID, api.ResourceID + "/vso.pats_manage", "user_impersonation vso.pats vso.pats_manage"},
		{"default app by ID URI", DefaultClientID, "https://app.vssps.visualstudio.com/.default", "user_impersonation vso.pats vso.pats_manage"},
		{"pats-manage .default", PATManageClientID, api.Scope + " offline_access", "vso.pats vso.pats_manage"},
		{"pats-manage explicit both", PATManageClientID, api.ResourceID + "/vso.pats " + api.ResourceID + "/vso.pats_manage", "vso.pats vso.pats_manage"},
		{"pats-manage explicit user_impersonation", PATManageClientID, api.ResourceID + "/user_impersonation", ""},
		{"pats-read .default", PATReadClientID, api.Scope, "vso.pats"},
		{"pats-read explicit vso.pats_manage", PATReadClientID, api.ResourceID + "/vso.pats_manage", ""},
		{"impersonation .default", ImpersonationClientID, api.Scope, "user_impersonation"},
		{"no consent", NoConsentClientID, api.Scope, ""},
		{"key vault with default consent", DefaultClientID, "https://vault.azure.net/.default", "user_impersonation"},
		{"key vault not consented", PATManageClientID, "https://vault.azure.net/.default", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, m := publicROPC(t, e, tc.client, tc.scope)
			if tc.scp == "" {
				want65001(t, r, m)
				return
			}
			c := rawClaims(t, accessTokenOf(t, r, m))
			if c["scp"] != tc.scp {
				t.Errorf("scp = %v, want %q", c["scp"], tc.scp)
			}
			if strings.Contains(tc.scope, "/.default") && !strings.Contains(m["scope"].(string), "/.default") {
				t.Errorf("response scope %v should echo .default", m["scope"])
			}
		})
	}
	t.Run("device code checks consent at redemption", func(t *testing.T) {
		r := do(t, e, "POST", e.URL()+"/"+DefaultTenantID+"/oauth2/v2.0/devicecode", "", url.Values{"client_id": {PATReadClientID}, "scope": {api.ResourceID + "/vso.pats_manage"}})
		var dc map[string]any
		r.json(t, &dc)
		if err := e.ApproveDeviceCode(dc["user_code"].(string), DefaultUser); err != nil {
			t.Fatal(err)
		}
		tr, m := tokenPost(t, e, url.Values{"grant_type": {grantDeviceCode}, "client_id": {PATReadClientID}, "device_code": {dc["device_code"].(string)}})
		want65001(t, tr, m)
	})
	t.Run("refresh keeps the consented set", func(t *testing.T) {
		r, m := publicROPC(t, e, PATManageClientID, api.Scope+" offline_access")
		accessTokenOf(t, r, m)
		rr, rm := tokenPost(t, e, url.Values{"grant_type": {"refresh_token"}, "client_id": {PATManageClientID}, "refresh_token": {m["refresh_token"].(string)}})
		if c := rawClaims(t, accessTokenOf(t, rr, rm)); c["scp"] != "vso.pats vso.pats_manage" || c["amr"] == nil {
			t.Errorf("refreshed claims %v", c)
		}
	})
	t.Run("two resources in one request", func(t *testing.T) {
		r, m := publicROPC(t, e, DefaultClientID, api.Scope+" https://vault.azure.net/.default")
		if r.Status != 400 || m["error"] != "invalid_scope" {
			t.Errorf("two resources: %d %s", r.Status, r.Body)
		}
	})
}

// The PAT API enforces the delegated permissions as tokens-7.2.json's
// security definitions say: vso.pats for get and list, vso.pats_manage for
// create, update and revoke; user_impersonation grants all.
func TestPATAPIDelegatedPermissions(t *testing.T) {
	e := start(t, Options{})
	token := func(client string) string {
		r, m := publicROPC(t, e, client, api.Scope)
		return "Bearer " + accessTokenOf(t, r, m)
	}
	validTo := time.Now().Add(48 * time.Hour).UTC()
	id, _, err := e.IssuePAT(DefaultUser, DefaultOrg, "existing", "vso.code", validTo)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		client            string
		read, manage, sep bool
	}{
		{DefaultClientID, true, true, true},
		{ImpersonationClientID, true, true, true},
		{PATManageClientID, true, true, false},
		{PATReadClientID, true, false, false},
	} {
		t.Run(tc.client, func(t *testing.T) {
			auth := token(tc.client)
			check := func(op string, r resp, ok bool) {
				t.Helper()
				if ok && r.Status != 200 && r.Status != 204 {
					t.Errorf("%s: %d %s", op, r.Status, r.Body)
				}
				if !ok && (r.Status != 401 || !strings.Contains(string(r.Body), "TF400813: The user '"+DefaultUser+"' is not authorized to access this resource.")) {
					t.Errorf("%s without the permission: %d %s, want 401 TF400813", op, r.Status, r.Body)
				}
			}
			check("list", do(t, e, "GET", patsURL(e, DefaultOrg, ""), auth, nil), tc.read)
			check("get", do(t, e, "GET", patsURL(e, DefaultOrg, "authorizationId="+id), auth, nil), tc.read)
			check("create", do(t, e, "POST", patsURL(e, DefaultOrg, ""), auth, api.PatTokenCreateRequest{DisplayName: "x", Scope: "vso.code", ValidTo: validTo}), tc.manage)
			check("update", do(t, e, "PUT", patsURL(e, DefaultOrg, ""), auth, map[string]any{"authorizationId": id, "displayName": "renamed"}), tc.manage)
			check("service endpoints", do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/"+DefaultProject+"/_apis/serviceendpoint/endpoints?api-version=7.1", auth, nil), tc.sep)
		})
	}
	// Revoke last: it needs vso.pats_manage.
	if r := do(t, e, "DELETE", patsURL(e, DefaultOrg, "authorizationId="+id), token(PATReadClientID), nil); r.Status != 401 {
		t.Errorf("revoke with vso.pats only: %d", r.Status)
	}
	if r := do(t, e, "DELETE", patsURL(e, DefaultOrg, "authorizationId="+id), token(PATManageClientID), nil); r.Status != 204 {
		t.Errorf("revoke with vso.pats_manage: %d %s", r.Status, r.Body)
	}
}
