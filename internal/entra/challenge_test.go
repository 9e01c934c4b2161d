package entra

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/emulator"
)

const caeClaims = `{"access_token":{"nbf":{"essential":true,"value":"1796198400"}}}`

// TestTokenWithClaims: a cached source signs in afresh (one more token
// request, with the claims parameter, for the flows patrol posts itself and
// through azidentity) and caches the new token for later callers.
func TestTokenWithClaims(t *testing.T) {
	e := startEmulator(t, nil)
	ctx := context.Background()
	cases := map[string]struct {
		opts  func(*Options)
		grant string
	}{
		"ropc": {func(o *Options) {
			o.Username, o.Password, o.ClientSecret = emulator.DefaultUser, emulator.DefaultPassword, emulator.DefaultClientSecret
		}, "password"},
		"client secret": {func(o *Options) { o.ClientID, o.ClientSecret = emulator.DefaultSPClientID, emulator.DefaultSPSecret }, "client_credentials"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := emuOpts(e)
			tc.opts(&o)
			src, first := signIn(t, o)
			e.ResetCounters()
			if again, _ := src.Token(ctx); again.AccessToken != first.AccessToken {
				t.Fatal("the cache did not hold the first token")
			}
			fresh, err := TokenWithClaims(ctx, src, caeClaims)
			if err != nil {
				t.Fatal(err)
			}
			if fresh.AccessToken == first.AccessToken {
				t.Fatal("TokenWithClaims returned the cached token")
			}
			c := e.Counters()
			if c[tokenRoute+" "+tc.grant+" claims"] != 1 || c[tokenRoute+" "+tc.grant] != 0 {
				t.Fatalf("token requests %v, want one %s request with claims", c, tc.grant)
			}
			if later, _ := src.Token(ctx); later.AccessToken != fresh.AccessToken {
				t.Fatal("the fresh token was not cached")
			}
		})
	}
}

// TestTokenWithClaimsAfterRevocation: with the sessions revoked, ROPC signs
// in afresh; the device-code flow's refresh token is revoked too, so its fresh
// sign-in fails with AADSTS50173 and the re-bootstrap hint.
func TestTokenWithClaimsAfterRevocation(t *testing.T) {
	e := startEmulator(t, nil)
	ctx := context.Background()
	o := emuOpts(e)
	o.CachePath = filepath.Join(t.TempDir(), "cache.json")
	if _, err := DeviceCodeLogin(ctx, o, func(msg string) {
		m := userCodeRE.FindStringSubmatch(msg)
		if m == nil || e.ApproveDeviceCode(strings.TrimSuffix(m[1], "."), emulator.DefaultUser) != nil {
			t.Errorf("approve: %q", msg)
		}
	}); err != nil {
		t.Fatal(err)
	}
	dc := o
	dc.Method = MethodDeviceCode
	dsrc, _ := signIn(t, dc)
	ro := emuOpts(e)
	ro.Username, ro.Password = emulator.DefaultUser, emulator.DefaultPassword
	rsrc, _ := signIn(t, ro)
	if _, err := e.RevokeSignInSessions(emulator.DefaultUser); err != nil {
		t.Fatal(err)
	}
	if _, err := TokenWithClaims(ctx, rsrc, caeClaims); err != nil {
		t.Fatalf("ROPC after the revocation: %v", err)
	}
	_, err := TokenWithClaims(ctx, dsrc, caeClaims)
	var se *SignInError
	if !errors.As(err, &se) || se.AADSTS != 50173 || !strings.Contains(se.Error()+se.Hint, "patrol login") {
		t.Fatalf("device-code refresh after the revocation: %v", err)
	}
}
