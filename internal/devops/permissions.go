package devops

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/patrol-dev/patrol/internal/entra"
)

// Delegated Entra permissions of the Azure DevOps resource that the PAT
// lifecycle API accepts (tokens-7.2.json securityDefinitions.EntraOAuth):
// vso.pats for get and list, vso.pats_manage ("read and manage") for create,
// update and revoke. user_impersonation, the legacy all-access permission,
// grants both.
const (
	PermissionPATs              = "vso.pats"
	PermissionPATsManage        = "vso.pats_manage"
	PermissionUserImpersonation = "user_impersonation"
)

// patPermission is the delegated permission a PAT API request needs.
func patPermission(method string) string {
	if method == http.MethodGet {
		return PermissionPATs
	}
	return PermissionPATsManage
}

// missingPermissionHint explains a 401 from the PAT API when the user
// token's delegated permissions (its scp claim, read unverified) do not
// cover the operation; "" when they do or the token carries no scp.
func missingPermissionHint(r request, tok entra.Token) string {
	c := entra.Claims(tok.AccessToken)
	scp, _ := c["scp"].(string)
	if !r.patAPI || strings.TrimSpace(scp) == "" {
		return ""
	}
	need := patPermission(r.method)
	for _, s := range strings.Fields(scp) {
		if s == PermissionUserImpersonation || s == need || s == PermissionPATsManage {
			return ""
		}
	}
	app, _ := c["appid"].(string)
	return fmt.Sprintf("the token's delegated permissions (scp %q) do not include %s, which %s needs: an admin must grant consent for Azure DevOps %s to app %s "+
		"(Entra admin center → App registrations → API permissions → Add a permission → Azure DevOps → Delegated → %s → Grant admin consent), then sign in again",
		scp, need, r.op, need, app, need)
}
