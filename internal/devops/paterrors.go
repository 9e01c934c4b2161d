package devops

import (
	"fmt"
	"strings"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
)

// PATError is a patTokenError other than "none" in a 200 response of the PAT
// lifecycle API.
type PATError struct {
	// Op is the operation ("create PAT", "update PAT" …).
	Op string
	// Code is the patTokenError value (api.Err*).
	Code string
	// Message is the server's patTokenErrorMessage (empty on older servers).
	Message string
	// Advice is what to do next.
	Advice string
	// Subject names the PAT (display name or authorization id) if known.
	Subject string
}

func (e *PATError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Subject != "" {
		fmt.Fprintf(&b, " %q", e.Subject)
	}
	fmt.Fprintf(&b, ": Azure DevOps refused it with patTokenError %q", e.Code)
	if e.Message != "" {
		fmt.Fprintf(&b, " (%s)", e.Message)
	}
	if e.Advice != "" {
		fmt.Fprintf(&b, "; %s", e.Advice)
	}
	return b.String()
}

// Kind classifies the code (see PATErrorInfo).
func (e *PATError) Kind() errkind.Kind { return PATErrorInfo(e.Code).Kind }

// PATErrorDetail is the classification of one patTokenError value.
type PATErrorDetail struct {
	Kind   errkind.Kind
	Advice string
}

const (
	policyRestrictCreation = "'Restrict personal access token (PAT) creation' (Organization settings → Security → Policies)"
	policyGlobal           = "'Restrict global personal access token creation' (Organization settings → Microsoft Entra → tenant policies)"
	policyFullScope        = "'Restrict full-scoped personal access token creation' (Organization settings → Microsoft Entra → tenant policies)"
	policyLifespan         = "'Enforce maximum personal access token lifespan' (Organization settings → Microsoft Entra → tenant policies)"
)

// patErrorTable maps every SessionTokenError value. A test fails when
// api.SessionTokenErrors gains a value that is not here.
var patErrorTable = map[string]PATErrorDetail{
	api.ErrNone: {errkind.Unknown, "no error"},
	api.ErrDisplayNameRequired: {errkind.Usage,
		"give the PAT a display name (name: in the rotation config)"},
	api.ErrInvalidDisplayName: {errkind.Usage,
		"use a shorter display name with ordinary characters (Azure DevOps' limits are undocumented; stay under 256 characters and avoid control characters)"},
	api.ErrInvalidValidTo: {errkind.Usage,
		"choose an expiry in the future and at most one year ahead (lifetime: in the rotation config), sent as an ISO-8601 UTC time"},
	api.ErrInvalidScope: {errkind.Usage,
		"use scope strings from 'patrol pat scopes' (e.g. vso.code, vso.packaging_write); the scope may also be unknown to this organisation"},
	api.ErrUserIDRequired: {errkind.Auth,
		"the access token carries no user; sign in as the technical user (ROPC or device code) — service principals and managed identities cannot own PATs"},
	api.ErrInvalidUserID: {errkind.Auth,
		"the signed-in user is unknown to Azure DevOps; add the technical user to organisation as a member (at least Basic or Stakeholder access) and sign in again"},
	api.ErrInvalidUserType: {errkind.Auth,
		"the token belongs to a service principal or managed identity, which cannot create or manage PATs; sign in as a user (the technical user, via ROPC or device code) for the PAT API and use SP/MI tokens directly where a consumer accepts Entra tokens"},
	api.ErrAccessDenied: {errkind.Permission,
		"the signed-in user may not do this to the PAT (it may belong to another user, or the token lacks the user_impersonation / vso.pats_manage permission); use the PAT owner's identity"},
	api.ErrFailedToIssueAccessToken: {errkind.Transient,
		"Azure DevOps failed to issue the token; retry later (patrol checks for a half-created PAT before retrying)"},
	api.ErrInvalidClient: {errkind.Auth,
		"the Entra application used to sign in is not accepted by the PAT API; use an app registration with the Azure DevOps user_impersonation delegated permission (or the Azure CLI / Visual Studio client id)"},
	api.ErrInvalidClientType: {errkind.Auth,
		"the Entra client type is not accepted (e.g. an app-only token); sign in with a delegated (user) flow"},
	api.ErrInvalidClientID: {errkind.Auth,
		"the Entra client id is unknown to Azure DevOps; check AZURE_CLIENT_ID and that the app has the Azure DevOps user_impersonation permission with admin consent"},
	api.ErrInvalidTargetAccounts: {errkind.Usage,
		"the organisation is not accessible to the user or the PAT target is invalid; check the organisation name and that the technical user is a member"},
	api.ErrHostAuthorizationNotFound: {errkind.NotFound,
		"no such PAT in this organisation; it may have been created for another organisation or deleted — list PATs with 'patrol pat list'"},
	api.ErrAuthorizationNotFound: {errkind.NotFound,
		"no PAT with that authorizationId for this user; it was revoked, expired and cleaned up, or belongs to another user — list PATs with 'patrol pat list'"},
	api.ErrFailedToUpdateAccessToken: {errkind.Transient,
		"Azure DevOps failed to update the token; retry later"},
	api.ErrSourceNotSupported: {errkind.Usage,
		"the token source is not supported for PATs; create the PAT with the PAT API from a normal user sign-in"},
	api.ErrInvalidSourceIP: {errkind.Policy,
		"a conditional-access / IP policy refused the request's source address; run patrol from an allowed network or ask an Azure DevOps Administrator to allow it"},
	api.ErrInvalidSource: {errkind.Usage,
		"the request's token source is invalid; sign in again with a supported flow"},
	api.ErrDuplicateHash: {errkind.Transient,
		"Azure DevOps generated a colliding token; retry the operation"},
	api.ErrSSHPolicyDisabled: {errkind.Policy,
		"SSH authentication is disabled by the organisation policy 'SSH authentication' (Organization settings → Security → Policies); ask an administrator to enable it"},
	api.ErrInvalidToken: {errkind.Usage,
		"the token value is malformed; check the PAT source (sink) holds the whole PAT without whitespace"},
	api.ErrTokenNotFound: {errkind.NotFound,
		"the token does not exist (revoked or expired and removed); create a new PAT"},
	api.ErrInvalidAuthorizationID: {errkind.Usage,
		"the authorizationId is not a valid GUID; take it from 'patrol pat list'"},
	api.ErrFailedToReadTenantPolicy: {errkind.Transient,
		"Azure DevOps could not read the tenant's PAT policies; retry later"},
	api.ErrGlobalPatPolicyViolation: {errkind.Policy,
		"the tenant policy " + policyGlobal + " forbids PATs for all organisations; create an organisation-scoped PAT (allOrgs: false, patrol's default) or ask an Azure DevOps Administrator to add the technical user to that policy's allowlist"},
	api.ErrFullScopePatPolicyViolation: {errkind.Policy,
		"the tenant policy " + policyFullScope + " forbids full-access (app_token) PATs; request only the scopes you need (see 'patrol pat scopes') or ask an Azure DevOps Administrator to add the technical user to that policy's allowlist"},
	api.ErrPatLifespanPolicyViolation: {errkind.Policy,
		"the tenant policy " + policyLifespan + " forbids this expiry; shorten the lifetime to the policy's maximum or ask an Azure DevOps Administrator to add the technical user to that policy's allowlist"},
	api.ErrInvalidTokenType: {errkind.Auth,
		"the access token is of a type the PAT API does not accept; use an Entra user access token for Azure DevOps (" + api.Scope + ")"},
	api.ErrInvalidAudience: {errkind.Auth,
		"the access token's audience is not Azure DevOps; request a token for " + api.Scope},
	api.ErrInvalidSubject: {errkind.Auth,
		"the access token's subject is not acceptable (e.g. a guest or app identity); sign in as a member user of the organisation's tenant"},
	api.ErrDeploymentHostNotSupported: {errkind.Usage,
		"the request reached a host that does not serve the PAT API; use https://vssps.dev.azure.com (endpoints.vssps) and the organisation name, not a project or collection URL"},
	api.ErrDisablePatCreationPolicyViolation: {errkind.Policy,
		"the organisation policy " + policyRestrictCreation + " blocks PAT creation for this user; ask an Azure DevOps Administrator to add the technical user to the allowlist of " + policyRestrictCreation + ", or, if the policy allows packaging scopes only, use only vso.packaging* scopes"},
	api.ErrFailedToReadOrgPolicy: {errkind.Transient,
		"Azure DevOps could not read the organisation's PAT policies; retry later"},
	api.ErrGlobalPATCreationBlocked: {errkind.Policy,
		"Azure DevOps no longer issues PATs for all organisations (global PATs are retired; they stop working on 2026-12-01); create an organisation-scoped PAT (allOrgs: false, patrol's default)"},
	api.ErrExpiredPatCannotBeExtended: {errkind.Conflict,
		"the PAT has already expired and cannot be extended; create a new PAT (patrol rotate does this) and revoke the old one"},
}

// PATErrorInfo returns the classification of a patTokenError value. Unknown
// values (from a newer server) are errkind.Unknown with generic advice.
func PATErrorInfo(code string) PATErrorDetail {
	if d, ok := patErrorTable[code]; ok {
		return d
	}
	return PATErrorDetail{Kind: errkind.Unknown, Advice: "this patTokenError is unknown to this patrol version; read the server's message and check for a patrol update"}
}

// patError returns nil for "none" or empty, else a *PATError.
func patError(op, subject, code, msg string) error {
	if code == "" || code == api.ErrNone {
		return nil
	}
	return &PATError{Op: op, Code: code, Message: msg, Advice: PATErrorInfo(code).Advice, Subject: subject}
}
