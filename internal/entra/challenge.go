package entra

import (
	"context"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// ClaimsTokenSource is a TokenSource that can sign in afresh — past every
// cache — with a claims request, as a resource's claims challenge asks
// (continuous access evaluation: "WWW-Authenticate: Bearer …
// error="insufficient_claims", claims="<base64>"").
type ClaimsTokenSource interface {
	TokenSource
	// TokenWithClaims signs in again; claims is the decoded claims
	// request JSON ("" = none). Flows that cannot send claims sign in
	// afresh without them.
	TokenWithClaims(ctx context.Context, claims string) (Token, error)
}

// TokenWithClaims signs in afresh through src with the claims request
// (decoded JSON). Sources built by New (and ReuseTokenSource) do so past
// their cache and keep the new token; any other source is asked once more.
func TokenWithClaims(ctx context.Context, src TokenSource, claims string) (Token, error) {
	if c, ok := src.(ClaimsTokenSource); ok {
		return c.TokenWithClaims(ctx, claims)
	}
	return src.Token(ctx)
}

// TokenWithClaims bypasses the cache, asks the flow (with claims where it
// supports them) and caches the result for later callers.
func (r *reuseTokenSource) TokenWithClaims(ctx context.Context, claims string) (Token, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, err := TokenWithClaims(ctx, r.src, claims)
	if err != nil {
		return Token{}, err
	}
	r.tok = t
	return t, nil
}

func (l *loggingSource) TokenWithClaims(ctx context.Context, claims string) (Token, error) {
	tok, err := TokenWithClaims(ctx, l.src, claims)
	if err != nil {
		l.o.Logger.DebugContext(ctx, "entra: fresh sign-in for a claims challenge failed", "method", string(l.o.Method), "tenant", l.o.TenantID, "client", l.o.ClientID)
		return Token{}, err
	}
	l.o.Logger.DebugContext(ctx, "entra: signed in afresh for a claims challenge", "method", string(l.o.Method), "tenant", l.o.TenantID,
		"client", l.o.ClientID, "kind", tok.Kind.String(), "expires", tok.ExpiresOn.UTC(), "claimsRequest", claims != "")
	return tok, nil
}

// TokenWithClaims posts ROPC with the claims parameter.
func (s ropcSource) TokenWithClaims(ctx context.Context, claims string) (Token, error) {
	return s.token(ctx, claims)
}

// TokenWithClaims redeems the refresh token with the claims parameter.
func (s *refreshSource) TokenWithClaims(ctx context.Context, claims string) (Token, error) {
	return s.token(ctx, claims)
}

// TokenWithClaims asks azidentity with Claims (which skips its cache) and
// EnableCAE (the client handles challenges).
func (s *credSource) TokenWithClaims(ctx context.Context, claims string) (Token, error) {
	return s.token(ctx, policy.TokenRequestOptions{Scopes: []string{s.o.Scope}, Claims: claims, EnableCAE: true})
}
