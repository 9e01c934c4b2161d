package rotation

import (
	"strings"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/entra"
)

// Account is where a credential's PATs live: the Azure DevOps organisation
// and the identity that signs in for it (an entry of identities: in
// patrol.yaml; "" is the default sign-in). One run serves several accounts:
// it signs in once per identity, lists the PATs once per account and plans
// every credential against its own account's listing, so a PAT of one
// account is never cleaned up on behalf of a credential of another.
//
// The zero Account is the engine's default (PATs, Tokens).
type Account struct {
	Organization string `json:"organization,omitempty"`
	Identity     string `json:"identity,omitempty"`
	// Application is set for kind entra-app-secret: the account is that
	// application's passwords ("appId <id>" or "objectId <id>"), managed by
	// Identity through Microsoft Graph.
	Application string `json:"application,omitempty"`
}

// String is "organization" or "organization (identity)".
func (a Account) String() string {
	if a.Application != "" {
		s := "application " + a.Application
		if a.Identity != "" {
			s += " (identity " + a.Identity + ")"
		}
		return s
	}
	org := a.Organization
	if org == "" {
		org = "(default organization)"
	}
	if a.Identity == "" {
		return org
	}
	return org + " (identity " + a.Identity + ")"
}

// pats is the client of account a (Accounts, else PATs).
func (e *Engine) pats(a Account) PATClient {
	if c, ok := e.Accounts[a]; ok {
		return c
	}
	return e.PATs
}

// tokens is the token source of identity id (IdentityTokens, else Tokens).
func (e *Engine) tokens(id string) entra.TokenSource {
	if ts, ok := e.IdentityTokens[id]; ok {
		return ts
	}
	return e.Tokens
}

// accountOf is the account of credential name in in ("" lower-cased keys).
func (in Input) accountOf(name string) Account {
	return in.Accounts[strings.ToLower(name)]
}

// listing is the active PATs of account a.
func (in Input) listing(a Account) []api.PatToken {
	if a == (Account{}) {
		return in.PATs
	}
	return in.Listings[a]
}
