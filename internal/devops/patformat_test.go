package devops_test

import (
	"context"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/patsecret"
)

// TestVerifyPATBothFormats: PATs of the 84-character format (the emulator's
// default) and of the 52-character format (seed legacyPatFormat) are created
// and verified alike; a secret with a stray newline is refused before any
// request is sent.
func TestVerifyPATBothFormats(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		seed := emulator.DefaultSeed()
		seed.LegacyPATFormat = legacy
		e := startEmulator(t, &seed)
		c := userClient(t, e, emulator.DefaultUser)
		ctx := context.Background()
		p, err := c.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: "fmt", Scope: "vso.code", ValidTo: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]patsecret.Format{false: patsecret.Identifiable, true: patsecret.Legacy}[legacy]
		if got := patsecret.Of(*p.Token); got != want {
			t.Fatalf("legacyPatFormat=%v: created a %v PAT", legacy, got)
		}
		if _, err := c.VerifyPAT(ctx, *p.Token); err != nil {
			t.Fatalf("verify %v PAT: %v", want, err)
		}
		before := c.Stats().Requests
		if _, err := c.VerifyPAT(ctx, *p.Token+"\n"); errkind.Of(err) != errkind.Usage {
			t.Fatalf("PAT with a trailing newline: %v", err)
		}
		if c.Stats().Requests != before {
			t.Fatal("a malformed PAT was sent")
		}
	}
}
