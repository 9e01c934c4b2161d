package api

import "time"

// SessionToken is one entry of tokenadmin/personalaccesstokens.
type SessionToken struct {
	AuthorizationID     string    `json:"authorizationId"`
	AccessID            string    `json:"accessId,omitempty"`
	ClientID            string    `json:"clientId,omitempty"`
	HostAuthorizationID string    `json:"hostAuthorizationId,omitempty"`
	UserID              string    `json:"userId,omitempty"`
	DisplayName         string    `json:"displayName"`
	Scope               string    `json:"scope"`
	TargetAccounts      []string  `json:"targetAccounts"`
	ValidFrom           time.Time `json:"validFrom"`
	ValidTo             time.Time `json:"validTo"`
	IsValid             bool      `json:"isValid"`
	IsPublic            bool      `json:"isPublic"`
	PublicData          string    `json:"publicData,omitempty"`
	Source              string    `json:"source,omitempty"`
	Token               *string   `json:"token"`
}

// PagedSessionTokens is the body of the tokenadmin list.
type PagedSessionTokens struct {
	Value             []SessionToken `json:"value"`
	ContinuationToken *string        `json:"continuationToken"`
}

// TokenAdminRevocation is one element of the tokenadmin/revocations body.
type TokenAdminRevocation struct {
	AuthorizationID string `json:"authorizationId"`
}
