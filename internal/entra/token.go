// Package entra obtains Microsoft Entra ID access tokens for Azure DevOps
// without interaction: ROPC (posted by patrol itself, with or without a client
// secret), and through azidentity the service-principal secret/certificate,
// workload identity, managed identity and Azure CLI flows, plus a device-code
// bootstrap whose refresh-token cache keeps later runs unattended.
//
// Every flow is a TokenSource; ReuseTokenSource adds caching and early refresh.
//
// Entry points: ParseMethod and Resolve (what --auth auto picks), New (a
// cached TokenSource for Options), DeviceCodeLogin (the one-time `patrol
// login` bootstrap that stores a refresh token in a RefreshTokenStore such as
// FileTokenCache), RequireUser (the PAT API accepts user tokens only).
//
// Choices where Entra and the brief are silent (see docs/entra.md):
//   - auto never picks azure-cli (a cron job must not depend on a developer's
//     `az login`); it checks ROPC, client secret, certificate, workload
//     identity, the device-code cache, then managed-identity env vars.
//   - Sign-in POSTs are retried 4 times at most (≤1 min, honouring
//     Retry-After) on 5xx/429/network errors only, never on 4xx.
//   - Errors are *SignInError (Kind Auth, or Transient when Retryable),
//     *ConfigError and *NotUserError (Kind Usage: fix the settings), and
//     *CacheError. Descriptions are reduced to one line, stripped of control
//     characters, JWT-like strings and every known secret.
//   - A rotated refresh token that cannot be saved is an error: the emulator
//     (and Entra, sometimes) invalidate the old one, so silently continuing
//     would break the next run.
//   - RequireUser lets tokens of unknown kind pass (azure-cli tokens whose
//     claims say nothing): the PAT API then answers for itself.
package entra

import (
	"context"
	"sync"
	"time"
)

// IdentityKind says what kind of principal a token belongs to. The PAT API
// accepts only user identities.
type IdentityKind int

const (
	IdentityUnknown IdentityKind = iota
	IdentityUser
	IdentityServicePrincipal
	IdentityManagedIdentity
)

func (k IdentityKind) String() string {
	switch k {
	case IdentityUser:
		return "user"
	case IdentityServicePrincipal:
		return "service principal"
	case IdentityManagedIdentity:
		return "managed identity"
	}
	return "unknown"
}

// Token is an access token. String() never reveals AccessToken.
type Token struct {
	AccessToken string
	ExpiresOn   time.Time
	Kind        IdentityKind
}

// String redacts the token.
func (t Token) String() string {
	return "entra.Token{kind=" + t.Kind.String() + ", expires=" + t.ExpiresOn.UTC().Format(time.RFC3339) + ", token=REDACTED}"
}

// GoString redacts the token for %#v.
func (t Token) GoString() string { return t.String() }

// Valid reports whether the token is usable for at least margin more.
func (t Token) Valid(now time.Time, margin time.Duration) bool {
	return t.AccessToken != "" && now.Add(margin).Before(t.ExpiresOn)
}

// TokenSource produces tokens. Implementations need not cache; wrap them in
// ReuseTokenSource.
type TokenSource interface {
	Token(ctx context.Context) (Token, error)
}

// TokenSourceFunc adapts a function to TokenSource.
type TokenSourceFunc func(ctx context.Context) (Token, error)

// Token calls f.
func (f TokenSourceFunc) Token(ctx context.Context) (Token, error) { return f(ctx) }

// DefaultRefreshMargin is how long before expiry a cached token is replaced.
const DefaultRefreshMargin = 5 * time.Minute

// ReuseTokenSource caches src's token and asks src again only when the cached
// one expires within margin (DefaultRefreshMargin if margin <= 0). It is safe
// for concurrent use: concurrent callers share one in-flight refresh.
func ReuseTokenSource(src TokenSource, margin time.Duration) TokenSource {
	if margin <= 0 {
		margin = DefaultRefreshMargin
	}
	if r, ok := src.(*reuseTokenSource); ok {
		src = r.src
	}
	return &reuseTokenSource{src: src, margin: margin, now: time.Now}
}

type reuseTokenSource struct {
	src    TokenSource
	margin time.Duration
	now    func() time.Time

	mu  sync.Mutex
	tok Token
}

func (r *reuseTokenSource) Token(ctx context.Context) (Token, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tok.Valid(r.now(), r.margin) {
		return r.tok, nil
	}
	t, err := r.src.Token(ctx)
	if err != nil {
		return Token{}, err
	}
	r.tok = t
	return t, nil
}

// reuseWithClock is ReuseTokenSource with an injectable clock.
func reuseWithClock(src TokenSource, margin time.Duration, now func() time.Time) TokenSource {
	r := ReuseTokenSource(src, margin).(*reuseTokenSource)
	if now != nil {
		r.now = now
	}
	return r
}
