package scheme

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/redact"
)

// JWTGrantType is the grant Azure DevOps posts to the JWT audience.
const JWTGrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// maxTokenResponse bounds token-server responses.
const maxTokenResponse = 1 << 20

// ParseRSAPrivateKey reads an RSA private key as Azure DevOps' JWT scheme
// receives it: PEM PKCS#8 ("BEGIN PRIVATE KEY", Google service-account
// format) — and, beyond Azure DevOps, PKCS#1 ("BEGIN RSA PRIVATE KEY"),
// keys pasted with literal "\n" sequences or on one line, and bare base64 DER.
func ParseRSAPrivateKey(text string) (*rsa.PrivateKey, error) {
	p, err := toPEM(text, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(p)
	if blk == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	switch blk.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("the key is encrypted; supply an unencrypted PKCS#8 key")
	case "EC PRIVATE KEY":
		return nil, errors.New("the key is an EC key; the JWT scheme signs with RS256 and needs an RSA key")
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot parse %s: %w", blk.Type, err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is %T; the JWT scheme signs with RS256 and needs an RSA key", key)
	}
	return rk, nil
}

type jwtInputs struct{ issuer, audience, scope, key string }

func (a *EndpointAuthorizer) jwtInputs() (jwtInputs, error) {
	in := jwtInputs{issuer: Param(a.ep, "Issuer"), audience: Param(a.ep, "Audience"), scope: Param(a.ep, "Scope"), key: Param(a.ep, "PrivateKey")}
	var missing []string
	for _, kv := range [][2]string{{"Issuer", in.issuer}, {"Audience", in.audience}, {"Scope", in.scope}, {"PrivateKey", in.key}} {
		if strings.TrimSpace(kv[1]) == "" {
			missing = append(missing, kv[0])
		}
	}
	if len(missing) > 0 {
		return in, authErr(JWT, "inputs", errkind.Usage, "authorization.parameters %s missing; Azure DevOps needs all of Issuer, Audience, Scope and PrivateKey", strings.Join(missing, ", "))
	}
	return in, nil
}

// Assertion builds and signs the JWT Azure DevOps would post: header
// {"typ":"JWT","alg":"RS256"}, claims iss, aud, nbf=iat=now, exp=now+60min,
// scope (plus sub/kid/extra claims when configured).
func (a *EndpointAuthorizer) Assertion() (string, error) {
	in, err := a.jwtInputs()
	if err != nil {
		return "", err
	}
	key, err := ParseRSAPrivateKey(in.key)
	if err != nil {
		return "", &AuthError{Scheme: JWT, Step: "private key", Err: fmt.Errorf("PrivateKey: %w", err), kind: errkind.Usage}
	}
	now := a.opts.Now().UTC()
	claims := jwt.MapClaims{}
	for k, v := range a.opts.JWTExtraClaims {
		claims[k] = v
	}
	claims["iss"] = in.issuer
	claims["aud"] = in.audience
	claims["nbf"] = now.Unix()
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(60 * time.Minute).Unix()
	claims["scope"] = in.scope
	if a.opts.JWTSubject != "" {
		claims["sub"] = a.opts.JWTSubject
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	if a.opts.JWTKeyID != "" {
		t.Header["kid"] = a.opts.JWTKeyID
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", &AuthError{Scheme: JWT, Step: "sign", Err: err}
	}
	return s, nil
}

func (a *EndpointAuthorizer) jwtToken(ctx context.Context) (string, error) {
	in, err := a.jwtInputs()
	if err != nil {
		return "", err
	}
	kh := sha256.Sum256([]byte(in.key + "\x00" + in.issuer + "\x00" + in.audience + "\x00" + in.scope + "\x00" + a.opts.JWTSubject))
	cacheKey := "jwt:" + hex.EncodeToString(kh[:])
	if !a.opts.JWTNoCache {
		if v, ok := a.opts.Cache.Get(cacheKey, a.opts.Now()); ok {
			return v, nil
		}
	}
	assertion, err := a.Assertion()
	if err != nil {
		return "", err
	}
	redact.Register(assertion)
	u, err := url.Parse(in.audience)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", authErr(JWT, "token request", errkind.Usage, "Audience must be the token endpoint URL (https://…); it is where the assertion is posted")
	}
	form := url.Values{"grant_type": {JWTGrantType}, "assertion": {assertion}}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.audience, strings.NewReader(form.Encode()))
	if err != nil {
		return "", authErr(JWT, "token request", errkind.Usage, "%v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.opts.HTTPClient.Do(req)
	if err != nil {
		k, hint := errkind.Transport(err)
		if hint != "" {
			hint = " (" + hint + ")"
		}
		return "", authErr(JWT, "token request", k, "POST %s: %w%s", redactURL(in.audience), err, hint)
	}
	body, err := httpx.ReadBody(resp, maxTokenResponse, "JWT token endpoint")
	if err != nil {
		if httpx.Permanent(err) {
			return "", authErr(JWT, "token request", errkind.Usage, "%w", err)
		}
		return "", authErr(JWT, "token request", errkind.Transient, "reading the response of %s: %v", redactURL(in.audience), err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		k := errkind.Auth
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			k = errkind.Transient
		}
		return "", authErr(JWT, "token request", k, "%s answered HTTP %d with a non-JSON body; check that Audience is the token endpoint", redactURL(in.audience), resp.StatusCode)
	}
	if e, ok := m["error"]; ok && e != nil {
		desc, _ := m["error_description"].(string)
		return "", authErr(JWT, "token request", errkind.Auth, "token server %s refused the assertion: %v: %s (check Issuer, Scope and that the key is registered with the issuer)",
			redactURL(in.audience), redact.String(fmt.Sprint(e)), redact.Quote([]byte(desc)))
	}
	tok, _ := m["access_token"].(string)
	redact.Register(tok)
	if tok == "" {
		return "", authErr(JWT, "token request", errkind.Auth, "%s answered HTTP %d without access_token", redactURL(in.audience), resp.StatusCode)
	}
	if resp.StatusCode/100 != 2 {
		return "", authErr(JWT, "token request", errkind.Auth, "%s answered HTTP %d", redactURL(in.audience), resp.StatusCode)
	}
	if life := expiresIn(m["expires_in"]); life > 0 && !a.opts.JWTNoCache {
		a.opts.Cache.Put(cacheKey, tok, refreshAt(a.opts.Now(), life))
	}
	return tok, nil
}

func expiresIn(v any) time.Duration {
	var secs float64
	switch x := v.(type) {
	case float64:
		secs = x
	case string:
		secs, _ = strconv.ParseFloat(x, 64)
	case json.Number:
		secs, _ = x.Float64()
	}
	// Negative, absurd (past maxTokenLifetime) or not a number: no
	// lifetime, so the token is not cached — never a wrapped-around one.
	if !(secs > 0 && secs <= maxTokenLifetime.Seconds()) {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// maxTokenLifetime bounds the expires_in patrol believes from a JWT or
// two-hop token server.
const maxTokenLifetime = 7 * 24 * time.Hour

// redactURL drops user info and query from a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}
