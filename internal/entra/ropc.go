package entra

import (
	"context"
	"net/url"
)

// ropcSource signs a technical user in with the resource-owner password
// credentials grant, posted by patrol itself (azidentity's ROPC is
// deprecated and public-client only; MSAL's confidential ROPC drops the
// secret). client_secret is sent only when set (confidential client).
type ropcSource struct{ o Options }

func (s ropcSource) Token(ctx context.Context) (Token, error) { return s.token(ctx, "") }

// token signs in; claims (decoded JSON) is sent as the claims parameter.
func (s ropcSource) token(ctx context.Context, claims string) (Token, error) {
	o := s.o
	form := url.Values{
		"grant_type": {"password"},
		"client_id":  {o.ClientID},
		"username":   {o.Username},
		"password":   {o.Password},
		"scope":      {o.Scope},
	}
	if o.ClientSecret != "" {
		form.Set("client_secret", o.ClientSecret)
	}
	if claims != "" {
		form.Set("claims", claims)
	}
	secrets := []string{o.Password, o.ClientSecret}
	res, err := o.post(ctx, MethodROPC, o.endpoint("token"), form, secrets)
	if err != nil {
		return Token{}, err
	}
	tok, _, err := o.tokenFromResponse(MethodROPC, res, IdentityUser, secrets)
	return tok, err
}
