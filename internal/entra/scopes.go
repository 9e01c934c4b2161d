package entra

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// adoAppIDURI is Azure DevOps' application ID URI, accepted in place of its
// application id in a scope.
const adoAppIDURI = "https://app.vssps.visualstudio.com"

// ScopesSource names where explicit sign-in scopes are configured.
const ScopesSource = "auth.scopes (env PATROL_AUTH_SCOPES, flag --auth-scope)"

var permissionRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(\.default|user_impersonation|vso\.[a-z][a-z0-9_.]*)$`)
})

// ParseAuthScopes turns the configured sign-in scopes into the scope
// parameter to request. Each item is an Azure DevOps delegated permission,
// bare (vso.pats_manage) or with the resource
// (499b84ac-1321-427f-aa17-267ca6975798/vso.pats_manage or
// https://app.vssps.visualstudio.com/vso.pats_manage); items may also be
// space- or comma-separated lists. Empty input means the default, api.Scope
// (.default: every permission an admin consented). .default cannot be mixed
// with explicit permissions; other resources, OpenID scopes and duplicates
// are refused. Errors are *ConfigError.
func ParseAuthScopes(items []string) (string, error) {
	var perms []string
	seen := map[string]bool{}
	for _, item := range items {
		for _, s := range strings.FieldsFunc(item, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
			perm := s
			if i := strings.LastIndex(s, "/"); i >= 0 {
				res := strings.TrimSuffix(s[:i], "/")
				if !strings.EqualFold(res, api.ResourceID) && !strings.EqualFold(res, adoAppIDURI) {
					return "", scopeErr(fmt.Sprintf("%q is not an Azure DevOps scope: patrol signs in to Azure DevOps only (resource %s)", s, api.ResourceID),
						"give Azure DevOps permissions such as vso.pats vso.pats_manage; use `patrol token --scope` for tokens of other resources")
				}
				perm = s[i+1:]
			}
			switch lower := strings.ToLower(perm); {
			case lower == "offline_access" || lower == "openid" || lower == "profile" || lower == "email":
				return "", scopeErr(fmt.Sprintf("%q is an OpenID scope, which patrol adds itself where needed", s), "remove it")
			case !permissionRE().MatchString(perm):
				return "", scopeErr(fmt.Sprintf("%q is not an Azure DevOps delegated permission", s),
					"use .default, user_impersonation or a vso.* permission such as vso.pats (list, get) and vso.pats_manage (create, update, revoke)")
			}
			if seen[perm] {
				return "", scopeErr(fmt.Sprintf("%q is given twice", s), "list each permission once")
			}
			seen[perm] = true
			perms = append(perms, perm)
		}
	}
	if len(perms) == 0 {
		return api.Scope, nil
	}
	if seen[".default"] && len(perms) > 1 {
		return "", scopeErr(".default cannot be combined with explicit permissions ("+strings.Join(perms, " ")+")",
			"give either .default (every consented permission) or the permissions themselves, e.g. vso.pats vso.pats_manage")
	}
	out := make([]string, len(perms))
	for i, p := range perms {
		out[i] = api.ResourceID + "/" + p
	}
	return strings.Join(out, " "), nil
}

func scopeErr(problem, fix string) error {
	return &ConfigError{Missing: []string{"PATROL_AUTH_SCOPES"}, Msg: ScopesSource + ": " + problem + "; " + fix}
}

// isDefaultScope reports whether scope asks for .default only.
func isDefaultScope(scope string) bool {
	f := strings.Fields(scope)
	return len(f) == 1 && strings.HasSuffix(f[0], "/.default")
}
