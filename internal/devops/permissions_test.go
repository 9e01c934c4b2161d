package devops_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/errkind"
)

// A token whose delegated permissions lack what a PAT operation needs gets a
// 401 that names the missing permission and the fix (admin consent).
func TestPATAPIMissingPermission(t *testing.T) {
	e := startEmulator(t, nil)
	ctx := context.Background()
	validTo := time.Now().UTC().Add(24 * time.Hour)

	read := ropcClient(t, e, emulator.PATReadClientID, emulator.DefaultUser, "")
	for _, err := range read.ListPATs(ctx, devops.ListOptions{}) {
		if err != nil {
			t.Fatalf("list with vso.pats: %v", err)
		}
	}
	_, err := read.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: "x", Scope: "vso.code", ValidTo: validTo})
	var ae *devops.AuthError
	if !errors.As(err, &ae) || errkind.Of(err) != errkind.Auth {
		t.Fatalf("create with vso.pats only: %v, want an auth error", err)
	}
	for _, want := range []string{"vso.pats_manage", "admin consent", "scp \"vso.pats\"", emulator.PATReadClientID} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	manage := ropcClient(t, e, emulator.PATManageClientID, emulator.DefaultUser, api.ResourceID+"/vso.pats "+api.ResourceID+"/vso.pats_manage")
	p, err := manage.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: "least-privilege", Scope: "vso.code", ValidTo: validTo})
	if err != nil {
		t.Fatalf("create with vso.pats_manage: %v", err)
	}
	if err := manage.RevokePAT(ctx, p.AuthorizationID); err != nil {
		t.Fatalf("revoke with vso.pats_manage: %v", err)
	}
}
