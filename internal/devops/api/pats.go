package api

import "time"

// PatToken is one personal access token as the PAT lifecycle API returns it.
// Token (the secret) is set only in the Create response.
type PatToken struct {
	AuthorizationID string    `json:"authorizationId"`
	DisplayName     string    `json:"displayName"`
	Scope           string    `json:"scope"`          // space-separated scope strings
	TargetAccounts  []string  `json:"targetAccounts"` // nil = global PAT (all orgs)
	ValidFrom       time.Time `json:"validFrom"`
	ValidTo         time.Time `json:"validTo"`
	Token           *string   `json:"token"`
}

// IsGlobal reports whether the PAT works in all organisations (targetAccounts null).
func (p PatToken) IsGlobal() bool { return p.TargetAccounts == nil }

// PatTokenCreateRequest is the body of Pats_Create.
type PatTokenCreateRequest struct {
	DisplayName string    `json:"displayName"`
	Scope       string    `json:"scope"`
	ValidTo     time.Time `json:"validTo"`
	AllOrgs     bool      `json:"allOrgs"`
}

// PatTokenUpdateRequest is the body of Pats_Update. Nil fields are not sent.
type PatTokenUpdateRequest struct {
	AuthorizationID string     `json:"authorizationId"`
	DisplayName     *string    `json:"displayName,omitempty"`
	Scope           *string    `json:"scope,omitempty"`
	ValidTo         *time.Time `json:"validTo,omitempty"`
	AllOrgs         *bool      `json:"allOrgs,omitempty"`
}

// PatTokenResult is the body of Create, Get and Update. Errors arrive in a 200
// with PatTokenError != "none".
type PatTokenResult struct {
	PatToken             *PatToken `json:"patToken"`
	PatTokenError        string    `json:"patTokenError"`
	PatTokenErrorMessage string    `json:"patTokenErrorMessage,omitempty"`
}

// PagedPatTokens is the body of Pats_List.
type PagedPatTokens struct {
	ContinuationToken string     `json:"continuationToken"`
	PatTokens         []PatToken `json:"patTokens"`
}

// List query enums.
const (
	FilterActive  = "active"
	FilterRevoked = "revoked"
	FilterExpired = "expired"
	FilterAll     = "all"

	SortDisplayName = "displayName"
	SortDisplayDate = "displayDate"
	SortStatus      = "status"

	// MaxPageSize is the largest $top the List operation accepts.
	MaxPageSize = 100
)

// SessionTokenError values (patTokenError). All 37 values of the 7.2 spec.
const (
	ErrNone                              = "none"
	ErrDisplayNameRequired               = "displayNameRequired"
	ErrInvalidDisplayName                = "invalidDisplayName"
	ErrInvalidValidTo                    = "invalidValidTo"
	ErrInvalidScope                      = "invalidScope"
	ErrUserIDRequired                    = "userIdRequired"
	ErrInvalidUserID                     = "invalidUserId"
	ErrInvalidUserType                   = "invalidUserType"
	ErrAccessDenied                      = "accessDenied"
	ErrFailedToIssueAccessToken          = "failedToIssueAccessToken"
	ErrInvalidClient                     = "invalidClient"
	ErrInvalidClientType                 = "invalidClientType"
	ErrInvalidClientID                   = "invalidClientId"
	ErrInvalidTargetAccounts             = "invalidTargetAccounts"
	ErrHostAuthorizationNotFound         = "hostAuthorizationNotFound"
	ErrAuthorizationNotFound             = "authorizationNotFound"
	ErrFailedToUpdateAccessToken         = "failedToUpdateAccessToken"
	ErrSourceNotSupported                = "sourceNotSupported"
	ErrInvalidSourceIP                   = "invalidSourceIP"
	ErrInvalidSource                     = "invalidSource"
	ErrDuplicateHash                     = "duplicateHash"
	ErrSSHPolicyDisabled                 = "sshPolicyDisabled"
	ErrInvalidToken                      = "invalidToken"
	ErrTokenNotFound                     = "tokenNotFound"
	ErrInvalidAuthorizationID            = "invalidAuthorizationId"
	ErrFailedToReadTenantPolicy          = "failedToReadTenantPolicy"
	ErrGlobalPatPolicyViolation          = "globalPatPolicyViolation"
	ErrFullScopePatPolicyViolation       = "fullScopePatPolicyViolation"
	ErrPatLifespanPolicyViolation        = "patLifespanPolicyViolation"
	ErrInvalidTokenType                  = "invalidTokenType"
	ErrInvalidAudience                   = "invalidAudience"
	ErrInvalidSubject                    = "invalidSubject"
	ErrDeploymentHostNotSupported        = "deploymentHostNotSupported"
	ErrDisablePatCreationPolicyViolation = "disablePatCreationPolicyViolation"
	ErrFailedToReadOrgPolicy             = "failedToReadOrgPolicy"
	ErrGlobalPATCreationBlocked          = "globalPATCreationBlocked"
	ErrExpiredPatCannotBeExtended        = "expiredPatCannotBeExtended"
)

// SessionTokenErrors lists every patTokenError value of the 7.2 spec, in spec order.
var SessionTokenErrors = []string{
	ErrNone, ErrDisplayNameRequired, ErrInvalidDisplayName, ErrInvalidValidTo, ErrInvalidScope,
	ErrUserIDRequired, ErrInvalidUserID, ErrInvalidUserType, ErrAccessDenied, ErrFailedToIssueAccessToken,
	ErrInvalidClient, ErrInvalidClientType, ErrInvalidClientID, ErrInvalidTargetAccounts,
	ErrHostAuthorizationNotFound, ErrAuthorizationNotFound, ErrFailedToUpdateAccessToken,
	ErrSourceNotSupported, ErrInvalidSourceIP, ErrInvalidSource, ErrDuplicateHash, ErrSSHPolicyDisabled,
	ErrInvalidToken, ErrTokenNotFound, ErrInvalidAuthorizationID, ErrFailedToReadTenantPolicy,
	ErrGlobalPatPolicyViolation, ErrFullScopePatPolicyViolation, ErrPatLifespanPolicyViolation,
	ErrInvalidTokenType, ErrInvalidAudience, ErrInvalidSubject, ErrDeploymentHostNotSupported,
	ErrDisablePatCreationPolicyViolation, ErrFailedToReadOrgPolicy, ErrGlobalPATCreationBlocked,
	ErrExpiredPatCannotBeExtended,
}

// VSSError is the JSON error body of the VSS platform (TFxxxxx messages).
type VSSError struct {
	ID             string `json:"$id,omitempty"`
	InnerException any    `json:"innerException"`
	Message        string `json:"message"`
	TypeName       string `json:"typeName"`
	TypeKey        string `json:"typeKey"`
	ErrorCode      int    `json:"errorCode"`
	EventID        int    `json:"eventId"`
}

// ConnectionData is the (trimmed) body of GET {org}/_apis/connectionData, the
// cheapest authenticated call; patrol uses it to verify a PAT.
type ConnectionData struct {
	AuthenticatedUser Identity `json:"authenticatedUser"`
	AuthorizedUser    Identity `json:"authorizedUser"`
	InstanceID        string   `json:"instanceId"`
}

// Identity is the subset of an identity patrol reads.
type Identity struct {
	ID                  string `json:"id"`
	Descriptor          string `json:"descriptor,omitempty"`
	SubjectDescriptor   string `json:"subjectDescriptor,omitempty"`
	ProviderDisplayName string `json:"providerDisplayName,omitempty"`
}
