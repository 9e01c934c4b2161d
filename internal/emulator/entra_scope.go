// Requested scopes of token requests and the delegated permissions an admin
// consented for an app.

package emulator

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// Delegated permissions of the Azure DevOps resource that the PAT lifecycle
// API knows (tokens-7.2.json securityDefinitions.EntraOAuth).
const (
	permUserImpersonation = "user_impersonation"
	permPATs              = "vso.pats"
	permPATsManage        = "vso.pats_manage"
)

// adoAppIDURI is Azure DevOps' application ID URI (clients may name the
// resource by it instead of the application id).
const adoAppIDURI = "https://app.vssps.visualstudio.com"

// DefaultDevOpsConsent is what ConsentGranted consents for Azure DevOps when
// an app declares no ConsentedScopes for it.
var DefaultDevOpsConsent = []string{permUserImpersonation, permPATs, permPATsManage}

// canonicalResource maps the names of a resource to one key: Azure DevOps'
// application id and ID URI are the same resource.
func canonicalResource(res string) string {
	r := strings.ToLower(strings.TrimSuffix(res, "/"))
	if r == adoAppIDURI {
		return api.ResourceID
	}
	return r
}

// scopeRequest is a parsed scope parameter: one resource, its requested
// permissions (".default" or names), and the OpenID scopes.
type scopeRequest struct {
	Resource    string   // as the client named it (the token's aud)
	Permissions []string // ".default" or permission names, in request order
	Offline     bool
	OpenID      bool
}

func (s scopeRequest) isDefault() bool {
	return len(s.Permissions) == 1 && s.Permissions[0] == ".default"
}

// parseScope parses a scope parameter as Entra does: exactly one resource,
// with .default or explicit permissions, plus openid/profile/email/offline_access.
func parseScope(scope string) (scopeRequest, error) {
	var req scopeRequest
	for _, s := range strings.Fields(scope) {
		switch strings.ToLower(s) {
		case "offline_access":
			req.Offline = true
			continue
		case "openid":
			req.OpenID = true
			continue
		case "profile", "email":
			continue
		}
		i := strings.LastIndex(s, "/")
		if i <= 0 || i == len(s)-1 {
			return req, fmt.Errorf("scope %q has no resource: use <resource>/.default or <resource>/<permission>", s)
		}
		res, perm := s[:i], s[i+1:]
		switch {
		case req.Resource == "":
			req.Resource = res
		case canonicalResource(res) != canonicalResource(req.Resource):
			return req, fmt.Errorf("it contains more than one resource (%s and %s): request one resource per token", req.Resource, res)
		}
		if len(req.Permissions) > 0 && (perm == ".default" || req.isDefault()) {
			return req, fmt.Errorf("%s/.default cannot be combined with other permissions of the same resource", req.Resource)
		}
		req.Permissions = append(req.Permissions, perm)
	}
	if req.Resource == "" {
		return req, errors.New("no resource scope was requested: add e.g. 499b84ac-1321-427f-aa17-267ca6975798/.default")
	}
	return req, nil
}

func errInvalidScope(err error) *aadErr {
	return &aadErr{400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. " + err.Error(), ""}
}

// consented is the set of delegated permissions an admin consented for app
// on resource: ConsentedScopes when it names the resource, else (with
// ConsentGranted) DefaultDevOpsConsent for Azure DevOps and
// user_impersonation for any other resource; nil = no consent.
func (a *App) consented(resource string) []string {
	key := canonicalResource(resource)
	for res, perms := range a.ConsentedScopes {
		if canonicalResource(res) == key {
			return perms
		}
	}
	if !a.ConsentGranted {
		return nil
	}
	if key == api.ResourceID {
		return DefaultDevOpsConsent
	}
	return []string{permUserImpersonation}
}

func errNoConsent(app *App) *aadErr {
	return &aadErr{400, "invalid_grant", 65001, fmt.Sprintf("The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", app.ClientID, app.DisplayName), "consent_required"}
}

// delegatedScp checks a user token request against the app's consent and
// returns the token's scp: every consented permission of the resource, as
// Entra puts them all in the token whether the request named .default or
// some of them. A requested permission that is not consented is AADSTS65001
// (no consent prompt is possible in these flows).
func delegatedScp(app *App, req scopeRequest) (string, *aadErr) {
	perms := app.consented(req.Resource)
	if len(perms) == 0 {
		return "", errNoConsent(app)
	}
	if !req.isDefault() {
		for _, p := range req.Permissions {
			if !containsFold(perms, p) {
				return "", errNoConsent(app)
			}
		}
	}
	return strings.Join(perms, " "), nil
}

// grantedScope is the token response's scope: the request's .default as
// asked (MSAL compares it with the request), else resource/permission of
// every permission in scp; then the OpenID scopes granted.
func grantedScope(req scopeRequest, scp string) string {
	var out []string
	if req.isDefault() {
		out = append(out, req.Resource+"/.default")
	} else {
		perms := strings.Fields(scp)
		sort.Strings(perms)
		for _, p := range perms {
			out = append(out, req.Resource+"/"+p)
		}
	}
	if req.OpenID {
		out = append(out, "openid", "profile")
	}
	if req.Offline {
		out = append(out, "offline_access")
	}
	return strings.Join(out, " ")
}
