// Client authentication at the token endpoint: client secrets, certificate
// assertions and federated (workload identity) assertions.

package emulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ---- client authentication ----

// authClient authenticates the calling app and reports how (acrPublic,
// acrSecret, acrCertificate). needSecret: the grant is confidential-only
// (client_credentials).
func (e *Emulator) authClient(r *http.Request, tenant *Tenant, needSecret bool) (*App, string, *aadErr) {
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
		return nil, "", &aadErr{400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.", ""}
	}
	if app == nil || (tenant != nil && !strings.EqualFold(app.TenantID, tenant.ID)) {
		return nil, "", &aadErr{400, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", clientID, tname), ""}
	}
	if secret != "" {
		e.mu.Lock()
		check := e.checkSecretLocked(app, secret)
		e.mu.Unlock()
		switch check {
		case secretOK:
			return app, acrSecret, nil
		case secretExpired:
			return nil, "", &aadErr{401, "invalid_client", 7000222, fmt.Sprintf("The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app.", app.ClientID), ""}
		}
		return nil, "", &aadErr{401, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.ClientID), ""}
	}
	if a := f.Get("client_assertion"); a != "" {
		if f.Get("client_assertion_type") != assertionTypeJWT {
			return nil, "", &aadErr{400, "invalid_request", 700025, "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.", ""}
		}
		if aerr := e.verifyAssertion(app, a); aerr != nil {
			return nil, "", aerr
		}
		return app, acrCertificate, nil
	}
	if needSecret || !app.PublicClient {
		return nil, "", &aadErr{401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", ""}
	}
	return app, acrPublic, nil
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
		e.mu.Lock()
		certs := append([]string(nil), app.Certificates...) // NewAppCertificate may add one meanwhile
		e.mu.Unlock()
		if len(certs) == 0 {
			return &aadErr{401, "invalid_client", 700027, fmt.Sprintf("Client assertion failed signature validation: app '%s' has no certificate registered.", app.ClientID), ""}
		}
		for _, pemText := range certs {
			cert, err := parseCertPEM(pemText)
			if err != nil {
				continue
			}
			_, err = jwt.Parse(assertion, func(*jwt.Token) (any, error) { return cert.PublicKey, nil }, methods, jwt.WithoutClaimsValidation())
			if err != nil {
				continue
			}
			if aerr := e.checkAssertionTime(mc, 401); aerr != nil {
				return aerr
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
	e.mu.Lock()
	var feds []ficRecord
	for _, f := range e.credsLocked(app).Federated {
		feds = append(feds, *f)
	}
	e.mu.Unlock()
	for _, fc := range feds {
		if fc.Issuer != iss || fc.Subject != sub {
			continue
		}
		audOK := false
		for _, want := range fc.Audiences {
			audOK = audOK || containsFold(auds, want)
		}
		if !audOK {
			continue
		}
		if fc.IssuerKeyPEM != "" {
			key, kerr := parsePublicKeyPEM(fc.IssuerKeyPEM)
			if kerr != nil {
				return &aadErr{401, "invalid_client", 700027, "Client assertion failed signature validation: the federated credential's issuer key is unusable.", ""}
			}
			if _, err := jwt.Parse(assertion, func(*jwt.Token) (any, error) { return key, nil }, methods, jwt.WithoutClaimsValidation()); err != nil {
				return &aadErr{401, "invalid_client", 700027, "Client assertion failed signature validation.", ""}
			}
		} else if fc.IssuerDiscovery {
			if aerr := e.verifyByDiscovery(fc.Issuer, assertion, methods); aerr != nil {
				return aerr
			}
		}
		return e.checkAssertionTime(mc, 400)
	}
	return &aadErr{400, "invalid_client", 70021, fmt.Sprintf("No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.", iss, sub, strings.Join(auds, ",")), ""}
}

// NewAppCertificate stands in for uploading a certificate to an app
// registration: it creates an RSA-2048 key and a self-signed certificate,
// adds the certificate to the app's credentials and returns both PEMs (the
// key as PKCS#8). Reset does not remove it; a restart does.
func (e *Emulator) NewAppCertificate(clientID string) (certPEM, keyPEM string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: randSerial(), Subject: pkix.Name{CommonName: "patrol emulator app " + clientID},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certPEM, keyPEM = string(pemBlock("CERTIFICATE", der)), string(pemBlock("PRIVATE KEY", p8))
	e.mu.Lock()
	defer e.mu.Unlock()
	app := e.idx.apps[strings.ToLower(clientID)]
	if app == nil {
		return "", "", fmt.Errorf("emulator: app %q is not in the seed", clientID)
	}
	app.Certificates = append(app.Certificates, certPEM)
	return certPEM, keyPEM, nil
}

func (e *Emulator) handleNewAppCertificate(w http.ResponseWriter, r *http.Request, p params) {
	certPEM, keyPEM, err := e.NewAppCertificate(p["clientId"])
	if err != nil {
		writeVSSError(w, http.StatusNotFound, "ArgumentException", err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"certificate": certPEM, "privateKey": keyPEM})
}

// entraTime formats an instant as Entra's error descriptions do.
func entraTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// checkAssertionTime enforces a client assertion's or federated token's
// validity window with Entra's clock skew: exp is required, nbf optional;
// either may be off by up to clockSkew.
func (e *Emulator) checkAssertionTime(mc jwt.MapClaims, status int) *aadErr {
	now := e.now()
	exp, _ := mc.GetExpirationTime()
	nbf, _ := mc.GetNotBefore()
	from := time.Unix(0, 0)
	if nbf != nil {
		from = nbf.Time
	}
	if exp == nil || !now.Add(-clockSkew).Before(exp.Time) || now.Add(clockSkew).Before(from) {
		until := "none"
		if exp != nil {
			until = entraTime(exp.Time)
		}
		return &aadErr{status, "invalid_client", 700024, fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
			entraTime(now), entraTime(from), until), ""}
	}
	return nil
}
