package rotation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/sink"
)

func (e *Engine) refreshToken(ctx context.Context, it Item, t Target, res *Result) {
	if e.tokens(t.Account.Identity) == nil {
		res.Err, res.Reason = errkind.New(errkind.Usage, errors.New("kind entra-token needs a sign-in; configure auth")), "token"
		return
	}
	tok, err := e.accessToken(ctx, t.Credential, t.Account.Identity)
	if err != nil {
		res.Err, res.Reason = err, "token"
		return
	}
	res.ValidTo = tok.ExpiresOn
	meta := sink.Meta{Credential: t.Credential.Name, ValidTo: tok.ExpiresOn, RotatedAt: e.now(), Kind: config.KindEntraToken}
	var failed []string
	var first error
	for i, s := range t.Sinks {
		sr := SinkResult{Name: s.Name()}
		if err := s.Write(ctx, tok.AccessToken, meta); err != nil {
			sr.Error = redact.Error(err)
			failed = append(failed, s.Name())
			if first == nil {
				first = err
			}
		} else {
			sr.Written = true
		}
		res.Sinks = append(res.Sinks, sr)
		if err := e.hook(HookEvent{Credential: t.Credential.Name, Step: StepSinkWritten, Index: i}); err != nil {
			res.Err, res.Reason = err, "crash"
			return
		}
	}
	if len(failed) > 0 {
		res.Err, res.Reason = fmt.Errorf("token not written to %s: %w; the next run retries", strings.Join(failed, ", "), first), "sink"
	}
}

// MinTokenValidity is the least time an access token written for an
// entra-token credential must stay valid, whatever renewBefore says.
const MinTokenValidity = 5 * time.Minute

// bypassCache is a ReuseTokenSource margin no token satisfies: wrapping the
// process's (cached) TokenSource with it asks the sign-in flow itself.
const bypassCache = 100 * 365 * 24 * time.Hour

// TokenNeed is how long tok must still be valid at now to be written for c:
// c.RenewBefore applied to the token's lifetime (exp − iat from the JWT's
// unverified claims; the remaining validity when it carries none), and at
// least MinTokenValidity (or half the lifetime, if shorter). A token with less
// left would be due the moment it is written.
func TokenNeed(c config.Credential, tok entra.Token, now time.Time) time.Duration {
	life := tok.ExpiresOn.Sub(now)
	if iat := issuedAt(tok.AccessToken); !iat.IsZero() && tok.ExpiresOn.After(iat) && !iat.After(now.Add(time.Minute)) {
		life = tok.ExpiresOn.Sub(iat)
	}
	need := c.RenewBefore.For(life)
	floor := min(MinTokenValidity, life/2)
	return max(need, floor)
}

func issuedAt(jwt string) time.Time {
	claims := entra.Claims(jwt)
	for _, k := range []string{"iat", "nbf"} {
		if v, ok := claims[k].(float64); ok && v > 0 {
			return time.Unix(int64(v), 0).UTC()
		}
	}
	return time.Time{}
}

// TokenTooShortError: even a fresh sign-in returned a token that expires
// before the credential's renewBefore; nothing was written.
type TokenTooShortError struct {
	Credential string
	Left, Need time.Duration
}

func (e *TokenTooShortError) Error() string {
	return fmt.Sprintf("the sign-in returned an access token valid only %s more, but credential %s needs at least %s (renewBefore); nothing was written and the sinks keep their token; the next run signs in again (if this repeats, the tenant issues short tokens: lower renewBefore or use a percentage)",
		e.Left.Round(time.Second), e.Credential, e.Need.Round(time.Second))
}

// Kind is Transient: a later sign-in normally returns a full-lifetime token.
func (e *TokenTooShortError) Kind() errkind.Kind { return errkind.Transient }

// accessToken returns a token for entra-token credential c that stays valid
// for at least TokenNeed. The process's TokenSource is usually cached (the
// Azure DevOps client shares it) and may hand out a token with minutes left;
// then the engine signs in again through the same flow, bypassing that cache
// (entra.ReuseTokenSource unwraps a cached source), and keeps the result for
// the other entra-token credentials of the run. A token that is still too
// short is refused, never written.
func (e *Engine) accessToken(ctx context.Context, c config.Credential, identity string) (entra.Token, error) {
	now := e.now()
	enough := func(t entra.Token) bool { return t.AccessToken != "" && t.ExpiresOn.Sub(now) > TokenNeed(c, t, now) }
	src := e.tokens(identity)
	tok, err := src.Token(ctx)
	if err != nil {
		return entra.Token{}, fmt.Errorf("get access token: %w", err)
	}
	if enough(tok) {
		return tok, nil
	}
	e.tokMu.Lock()
	defer e.tokMu.Unlock()
	if enough(e.fresh[identity]) {
		return e.fresh[identity], nil
	}
	e.log().DebugContext(ctx, "access token too close to expiry; signing in again", slog.String("name", c.Name),
		slog.Duration("left", tok.ExpiresOn.Sub(now)), slog.Duration("need", TokenNeed(c, tok, now)))
	tok, err = entra.ReuseTokenSource(src, bypassCache).Token(ctx)
	if err != nil {
		return entra.Token{}, fmt.Errorf("get a fresh access token: %w", err)
	}
	if !enough(tok) {
		return entra.Token{}, &TokenTooShortError{Credential: c.Name, Left: tok.ExpiresOn.Sub(now), Need: TokenNeed(c, tok, now)}
	}
	if e.fresh == nil {
		e.fresh = map[string]entra.Token{}
	}
	e.fresh[identity] = tok
	return tok, nil
}
