package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
)

// CanaryPrefix starts the display name of the doctor's canary PATs. It is
// outside patrol's managed namespace ("patrol:<credential>:…"), so no
// rotation ever mistakes a canary for a managed PAT.
const CanaryPrefix = "patrol-doctor-canary "

// canaryScope is the narrowest scope: read the user's profile.
const canaryScope = "vso.profile"

// probeLifetime is the canary's lifetime when no credential asks for more:
// the canary is revoked at once, its lifetime only has to test the policy.
const probeLifetime = 24 * time.Hour

// probe creates a canary PAT with the longest configured lifetime, reads it
// back, authenticates with it and revokes it, reporting the policies it met.
// With full-access credentials configured it also asks for a full-scope PAT,
// revoked at once, to learn whether the tenant blocks them.
func probe(ctx context.Context, d Deps, ready bool) []Result {
	const name = "canary"
	if d.PATs == nil || !ready {
		return []Result{{Check: name, Status: Skip, Message: "not run: no signed-in user identity for the PAT API"}}
	}
	lifetime := probeLifetime
	full := false
	for _, c := range d.Credentials {
		if c.Kind != "" && c.Kind != "pat" {
			continue // application secrets and tokens say nothing about PAT lifetimes
		}
		if c.Lifetime > lifetime {
			lifetime = c.Lifetime
		}
		full = full || c.FullAccess
	}
	now := d.Now()
	var out []Result
	res, clamp := canary(ctx, d, "canary", canaryScope, now, lifetime)
	out = append(out, res...)
	if clamp != "" {
		out = append(out, Result{Check: "policy max lifespan", Status: Warn, Message: clamp,
			Fix: "shorten the credentials' lifetime to the organization's maximum, or ask an administrator to raise it (Organization settings → Policies)"})
	} else if len(res) > 0 && res[0].Status == OK {
		out = append(out, Result{Check: "policy max lifespan", Status: OK, Message: fmt.Sprintf("a PAT of %s was granted in full", human(lifetime))})
	}
	if full {
		r, _ := canary(ctx, d, "full-scope canary", "app_token", now, time.Hour)
		if len(r) > 0 && r[0].Status == Fail && r[0].kind == errkind.Policy {
			r[0].Check = "policy full-scope PATs"
			r[0].Fix = "a credential has allowFullAccess, but the organization blocks full-scope PATs: list the scopes it needs instead"
		}
		out = append(out, r...)
	}
	out = append(out, Result{Check: "policy global PATs", Status: OK,
		Message: "global (all-organizations) PATs were retired on 2026-12-01; patrol creates organization-scoped PATs only"})
	return out
}

// canary runs create → read → authenticate → revoke for one PAT and returns
// one result per step; clamp describes a shortened lifetime.
func canary(ctx context.Context, d Deps, check, scope string, now time.Time, lifetime time.Duration) ([]Result, string) {
	want := now.Add(lifetime).UTC()
	req := api.PatTokenCreateRequest{DisplayName: CanaryPrefix + now.UTC().Format("20060102T150405Z") + "-" + randHex(), Scope: scope, ValidTo: want}
	pat, err := d.PATs.CreatePAT(ctx, req)
	if err != nil {
		r := failed(check+" create", err, "")
		var pe *devops.PATError
		if errors.As(err, &pe) && pe.Code == api.ErrDisablePatCreationPolicyViolation {
			r.Check = "policy restrict creation"
			r.Fix = "ask an administrator to add the identity to the allowlist of the policy 'Restrict personal access token creation'"
		}
		return []Result{r}, ""
	}
	out := []Result{{Check: check + " create", Status: OK, Message: fmt.Sprintf("created canary %s (scope %s)", pat.AuthorizationID, scope)}}
	var clamp string
	if devops.Clamped(want, pat.ValidTo) {
		clamp = fmt.Sprintf("asked for %s, granted %s (until %s): the organization clamps PAT lifetimes", human(lifetime), human(pat.ValidTo.Sub(now)), pat.ValidTo.UTC().Format(time.RFC3339))
	}
	if got, err := d.PATs.GetPAT(ctx, pat.AuthorizationID); err != nil {
		out = append(out, failed(check+" read", err, ""))
	} else {
		out = append(out, Result{Check: check + " read", Status: OK, Message: fmt.Sprintf("read back %q", got.DisplayName)})
	}
	if pat.Token == nil || *pat.Token == "" {
		out = append(out, Result{Check: check + " authenticate", Status: Fail, Message: "the create response carried no secret", kind: errkind.Unknown})
	} else if _, err := d.PATs.VerifyPAT(ctx, *pat.Token); err != nil {
		out = append(out, failed(check+" authenticate", err, ""))
	} else {
		out = append(out, Result{Check: check + " authenticate", Status: OK, Message: "the canary authenticates to the organization"})
	}
	if err := d.PATs.RevokePAT(ctx, pat.AuthorizationID); err != nil {
		out = append(out, failed(check+" revoke", err, "revoke it yourself: patrol pat revoke "+pat.AuthorizationID))
	} else {
		out = append(out, Result{Check: check + " revoke", Status: OK, Message: "canary revoked"})
	}
	return out, clamp
}

func randHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// human prints a duration in days when it is at least one.
func human(d time.Duration) string {
	if d >= 24*time.Hour {
		days := float64(d) / float64(24*time.Hour)
		if days == float64(int(days)) {
			return fmt.Sprintf("%dd", int(days))
		}
		return fmt.Sprintf("%.1fd", days)
	}
	return d.Round(time.Second).String()
}
