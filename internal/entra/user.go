package entra

import (
	"fmt"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// NotUserError says a token belongs to a service principal or managed
// identity where a user is required (the PAT API). Kind is Usage: the fix is
// in patrol's settings, not in Entra.
type NotUserError struct {
	Got IdentityKind
}

func (e *NotUserError) Error() string {
	return fmt.Sprintf("the Azure DevOps PAT API accepts only user identities, but the sign-in produced a %s token: "+
		"service principals and managed identities cannot create, list or revoke PATs. "+
		"Sign in as a technical user with --auth ropc (AZURE_USERNAME/AZURE_PASSWORD) or --auth device-code (after `patrol login`); "+
		"or, if the consumer accepts Entra tokens, skip PATs and hand it a short-lived token with `patrol token`", e.Got)
}

// Kind is errkind.Usage.
func (e *NotUserError) Kind() errkind.Kind { return errkind.Usage }

// RequireUser returns a *NotUserError unless tok belongs to a user. A token
// of unknown kind (azure-cli token without recognisable claims) passes: the
// PAT API then gives its own answer.
func RequireUser(tok Token) error {
	switch tok.Kind {
	case IdentityServicePrincipal, IdentityManagedIdentity:
		return &NotUserError{Got: tok.Kind}
	}
	return nil
}
