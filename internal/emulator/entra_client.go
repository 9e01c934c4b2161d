// Client authentication at the token endpoint: client secrets, certificate
// assertions and federated (workload identity) assertions.

package emulator

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// ---- client authentication ----

// authClient authenticates the calling app. needSecret: the grant is
// confidential-only (client_credentials).
func (e *Emulator) authClient(r *http.Request, tenant *Tenant, needSecret bool) (*App, *aadErr) {
	f := r.PostForm
	clientID := f.Get("client_id")
	secret := f.Get("client_secret")
	if secret == "" {
		if u, pw, ok := r.BasicAuth(); ok {
			clientID, secret = u, pw
		}
	}
	e.mu.Lock()
	app := e.idx.apps[strings.ToLower(clientID)]
	e.mu.Unlock()
	tname := "common"
	if tenant != nil {
		tname = tenant.ID
	}
	if clientID == "" {
		return nil, &aadErr{400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.", ""}
	}
	if app == nil || (tenant != nil && !strings.EqualFold(app.TenantID, tenant.ID)) {
		return nil, &aadErr{400, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", clientID, tname), ""}
	}
	if secret != "" {
		for _, s := range app.Secrets {
			if s == secret {
				return app, nil
			}
		}
		return nil, &aadErr{401, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.ClientID), ""}
	}
	if a := f.Get("client_assertion"); a != "" {
		if f.Get("client_assertion_type") != assertionTypeJWT {
			return nil, &aadErr{400, "invalid_request", 700025, "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.", ""}
		}
		if aerr := e.verifyAssertion(app, a); aerr != nil {
			return nil, aerr
		}
		return app, nil
	}
	if needSecret || !app.PublicClient {
		return nil, &aadErr{401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", ""}
	}
	return app, nil
}

// verifyAssertion accepts a certificate-signed client assertion (RS256/PS256,
// iss=sub=client id, aud = an emulator token endpoint) or a federated
// (workload identity) assertion matching one of the app's federated credentials.
func (e *Emulator) verifyAssertion(app *App, assertion string) *aadErr {
	var mc jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(assertion, &mc); err != nil {
		return &aadErr{401, "invalid_client", 50027, "JWT token is invalid or malformed.", ""}
	}
	iss, _ := mc.GetIssuer()
	sub, _ := mc.GetSubject()
	auds, _ := mc.GetAudience()
	methods := jwt.WithValidMethods([]string{"RS256", "PS256", "RS384", "RS512", "PS384", "PS512", "ES256", "ES384"})
	if iss == app.ClientID && sub == app.ClientID {
		if len(app.Certificates) == 0 {
			return &aadErr{401, "invalid_client", 700027, fmt.Sprintf("Client assertion failed signature validation: app '%s' has no certificate registered.", app.ClientID), ""}
		}
		for _, pemText := range app.Certificates {
			cert, err := parseCertPEM(pemText)
			if err != nil {
				continue
			}
			_, err = jwt.Parse(assertion, func(*jwt.Token) (any, error) { return cert.PublicKey, nil }, methods,
				jwt.WithTimeFunc(e.now), jwt.WithExpirationRequired())
			if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) {
				return &aadErr{401, "invalid_client", 700024, "Client assertion is not within its valid time range.", ""}
			}
			if err != nil {
				continue
			}
			okAud := false
			for _, a := range auds {
				if strings.HasPrefix(a, e.url+"/") && (strings.HasSuffix(a, "/oauth2/v2.0/token") || strings.HasSuffix(a, "/oauth2/token")) {
					okAud = true
				}
			}
			if !okAud {
				return &aadErr{401, "invalid_client", 700021, fmt.Sprintf("Client assertion audience claim does not match Realm issuer: %v must be this authority's token endpoint.", []string(auds)), ""}
			}
			return nil
		}
		return &aadErr{401, "invalid_client", 700027, "Client assertion failed signature validation.", ""}
	}
	for _, fc := range app.FederatedCredentials {
		if fc.Issuer != iss || fc.Subject != sub {
			continue
		}
		want := fc.Audience
		if want == "" {
			want = federatedAudience
		}
		if !containsFold(auds, want) {
			continue
		}
		var err error
		if fc.IssuerKeyPEM != "" {
			key, kerr := parsePublicKeyPEM(fc.IssuerKeyPEM)
			if kerr != nil {
				return &aadErr{401, "invalid_client", 700027, "Client assertion failed signature validation: the federated credential's issuer key is unusable.", ""}
			}
			_, err = jwt.Parse(assertion, func(*jwt.Token) (any, error) { return key, nil }, methods,
				jwt.WithTimeFunc(e.now), jwt.WithExpirationRequired())
		} else {
			exp, _ := mc.GetExpirationTime()
			if exp == nil || !exp.After(e.now()) {
				err = jwt.ErrTokenExpired
			}
		}
		if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) {
			return &aadErr{400, "invalid_client", 700024, "Client assertion is not within its valid time range.", ""}
		}
		if err != nil {
			return &aadErr{401, "invalid_client", 700027, "Client assertion failed signature validation.", ""}
		}
		return nil
	}
	return &aadErr{400, "invalid_client", 70021, fmt.Sprintf("No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.", iss, sub, strings.Join(auds, ",")), ""}
}
