package devops

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/patrol-dev/patrol/internal/entra"
)

// Continuous access evaluation: a resource may refuse an access token before
// its exp (the user's sessions were revoked, Conditional Access re-evaluated)
// with 401 and a claims challenge:
//
//	WWW-Authenticate: Bearer realm="…", authorization_uri="…",
//	    error="insufficient_claims", claims="<base64 of a claims request>"
//
// The client answers by signing in afresh (past its token cache) with that
// claims request and retrying once; a second 401 is final.

var (
	// challengeRE matches one auth challenge: a scheme and its quoted parameters.
	challengeRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`([A-Za-z][A-Za-z0-9_-]*)\s+((?:[A-Za-z0-9_-]+\s*=\s*"[^"]*"\s*,?\s*)+)`)
	})
	paramRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`([A-Za-z0-9_-]+)\s*=\s*"([^"]*)"`) })
)

// claimsChallenge returns the decoded claims request of a Bearer challenge
// with error="insufficient_claims" in h, if there is one.
func claimsChallenge(h http.Header) (string, bool) {
	for _, v := range h.Values("WWW-Authenticate") {
		for _, ch := range challengeRE().FindAllStringSubmatch(v, -1) {
			if !strings.EqualFold(ch[1], "Bearer") {
				continue
			}
			params := map[string]string{}
			for _, p := range paramRE().FindAllStringSubmatch(ch[2], -1) {
				params[strings.ToLower(p[1])] = p[2]
			}
			if params["error"] != "insufficient_claims" || params["claims"] == "" {
				continue
			}
			raw := strings.TrimSpace(params["claims"])
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
				if b, err := enc.DecodeString(raw); err == nil {
					return string(b), true
				}
			}
		}
	}
	return "", false
}

// answerChallenge signs in afresh with claims, unless another request of
// this client already did so after refused was issued: concurrent requests
// refused together cause one sign-in, not one each.
func (c *Client) answerChallenge(ctx context.Context, op string, refused entra.Token, claims string) (entra.Token, error) {
	c.caeMu.Lock()
	defer c.caeMu.Unlock()
	if t := c.caeTok; t.AccessToken != "" && t.AccessToken != refused.AccessToken && t.Valid(c.now(), 0) {
		return t, nil
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "Azure DevOps sent a claims challenge (continuous access evaluation); signing in afresh once", slog.String("op", op))
	c.challenges.Add(1)
	t, err := entra.TokenWithClaims(ctx, c.token, claims)
	if err != nil {
		return entra.Token{}, fmt.Errorf("%s: Azure DevOps refused the access token before its expiry (claims challenge: the user's sessions were revoked or access was re-evaluated) and signing in afresh failed: %w", op, err)
	}
	c.caeTok = t
	return t, nil
}

// challengeHint is the advice when a fresh sign-in is refused again.
const challengeHint = "Azure DevOps refused the token of a fresh sign-in too (claims challenge after the retry): the user's sessions may have been revoked again, or a Conditional Access policy asks for more than this sign-in method can give; check the user's sign-in state and Conditional Access, and for --auth device-code run `patrol login` again"
