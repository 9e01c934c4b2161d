package entra

import (
	"errors"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

func TestParseAuthScopes(t *testing.T) {
	const ado = api.ResourceID
	for _, tc := range []struct {
		in   []string
		want string // "" = error
		fix  string // part of the error
	}{
		{nil, api.Scope, ""},
		{[]string{"vso.pats", "vso.pats_manage"}, ado + "/vso.pats " + ado + "/vso.pats_manage", ""},
		{[]string{"vso.pats, vso.pats_manage"}, ado + "/vso.pats " + ado + "/vso.pats_manage", ""},
		{[]string{ado + "/vso.pats_manage"}, ado + "/vso.pats_manage", ""},
		{[]string{"https://app.vssps.visualstudio.com/user_impersonation"}, ado + "/user_impersonation", ""},
		{[]string{".default"}, ado + "/.default", ""},
		{[]string{".default", "vso.pats"}, "", "cannot be combined"},
		{[]string{"https://vault.azure.net/.default"}, "", "not an Azure DevOps scope"},
		{[]string{"offline_access"}, "", "OpenID scope"},
		{[]string{"vso pats"}, "", "not an Azure DevOps delegated permission"},
		{[]string{"VSO.PATS"}, "", "not an Azure DevOps delegated permission"},
		{[]string{"vso.pats", "vso.pats"}, "", "twice"},
	} {
		got, err := ParseAuthScopes(tc.in)
		if tc.want != "" {
			if err != nil || got != tc.want {
				t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.fix) || !strings.Contains(err.Error(), "PATROL_AUTH_SCOPES") {
			t.Errorf("%q: err %v, want a ConfigError naming PATROL_AUTH_SCOPES and %q", tc.in, err, tc.fix)
		}
	}
}

// Explicit permissions only make sense for user sign-ins: Entra issues
// service principals and managed identities .default tokens only.
func TestResolveExplicitScopesNeedAUser(t *testing.T) {
	o := Options{Method: MethodClientSecret, TenantID: "t", ClientID: "c", ClientSecret: "s", Scope: api.ResourceID + "/vso.pats"}
	if _, err := Resolve(o); err == nil || !strings.Contains(err.Error(), "PATROL_AUTH_SCOPES") {
		t.Errorf("client-secret with explicit scopes: %v", err)
	}
	o = Options{Method: MethodROPC, TenantID: "t", ClientID: "c", Username: "u", Password: "p", Scope: api.ResourceID + "/vso.pats"}
	if _, err := Resolve(o); err != nil {
		t.Errorf("ropc with explicit scopes: %v", err)
	}
}
