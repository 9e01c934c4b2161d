// OIDC discovery of a federated credential's issuer: as Entra does, the
// emulator fetches {issuer}/.well-known/openid-configuration, then its
// jwks_uri, and verifies the federated token with the key of its kid.

package emulator

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// oidcTimeout bounds each discovery request.
const oidcTimeout = 10 * time.Second

// jwk is one key of a JWKS (RSA or EC public keys).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// verifyByDiscovery checks assertion's signature against the JWKS its
// issuer publishes (OIDC discovery over the emulator's outbound client:
// loopback and AllowOutbound only, OutboundHTTPClient's CAs).
func (e *Emulator) verifyByDiscovery(issuer, assertion string, methods jwt.ParserOption) *aadErr {
	keys, err := e.issuerKeys(issuer)
	if err != nil {
		return &aadErr{401, "invalid_client", 50166, fmt.Sprintf("Request to External OIDC endpoint failed: %s.", err), ""}
	}
	_, err = jwt.Parse(assertion, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, k := range keys {
			if k.kid == kid || kid == "" && len(keys) == 1 {
				return k.key, nil
			}
		}
		return nil, fmt.Errorf("no key with kid %q in the issuer's JWKS", kid)
	}, methods, jwt.WithoutClaimsValidation())
	if err != nil {
		return &aadErr{401, "invalid_client", 700027, "Client assertion failed signature validation: the federated token is not signed by a key of its issuer's JWKS.", ""}
	}
	return nil
}

type issuerKey struct {
	kid string
	key crypto.PublicKey
}

// issuerKeys fetches the signing keys of issuer by OIDC discovery.
func (e *Emulator) issuerKeys(issuer string) ([]issuerKey, error) {
	if !strings.HasPrefix(issuer, "https://") {
		return nil, fmt.Errorf("issuer %q is not an https URL", issuer)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := e.getJSON(strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", &doc); err != nil {
		return nil, err
	}
	if doc.Issuer != issuer {
		return nil, fmt.Errorf("the discovery document's issuer %q is not %q", doc.Issuer, issuer)
	}
	if !strings.HasPrefix(doc.JWKSURI, "https://") {
		return nil, fmt.Errorf("the discovery document's jwks_uri %q is not an https URL", doc.JWKSURI)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := e.getJSON(doc.JWKSURI, &set); err != nil {
		return nil, err
	}
	var out []issuerKey
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if pk, err := k.publicKey(); err == nil {
			out = append(out, issuerKey{kid: k.Kid, key: pk})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the JWKS at %s has no usable RSA or EC signing key", doc.JWKSURI)
	}
	return out, nil
}

// getJSON GETs url with the outbound client and decodes its JSON body.
func (e *Emulator) getJSON(url string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), oidcTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := e.outbound.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

func (k jwk) publicKey() (crypto.PublicKey, error) {
	b64 := base64.RawURLEncoding.DecodeString
	switch k.Kty {
	case "RSA":
		n, err1 := b64(k.N)
		ex, err2 := b64(k.E)
		if err := errors.Join(err1, err2); err != nil || len(n) == 0 || len(ex) == 0 || len(ex) > 4 {
			return nil, errors.New("bad RSA key")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(ex).Int64())}, nil
	case "EC":
		var c elliptic.Curve
		switch k.Crv {
		case "P-256":
			c = elliptic.P256()
		case "P-384":
			c = elliptic.P384()
		default:
			return nil, errors.New("unsupported curve")
		}
		x, err1 := b64(k.X)
		y, err2 := b64(k.Y)
		if errors.Join(err1, err2) != nil {
			return nil, errors.New("bad EC key")
		}
		pk := &ecdsa.PublicKey{Curve: c, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if _, err := pk.ECDH(); err != nil { // the point is on the curve
			return nil, errors.New("bad EC key")
		}
		return pk, nil
	}
	return nil, errors.New("unsupported key type")
}
