package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/spf13/cobra"
)

func newDemoCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the whole PAT lifecycle against an embedded emulator and narrate it",
		Long: `Start the embedded Entra ID + Azure DevOps emulator in-process on 127.0.0.1,
sign in as its default technical user (ROPC, confidential client — the seed's
flow), then list, create, verify, get, update and revoke a PAT, printing what
happens. Needs no network, no Azure account and no configuration; the secret
of the created PAT is printed masked only.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), a.stdout, a.logger())
		},
	}
}

// runDemo is `patrol demo`. It returns an error (with its kind) on the first
// failed step.
func runDemo(ctx context.Context, w io.Writer, log *slog.Logger) error {
	step := func(format string, args ...any) { fmt.Fprintf(w, "==> "+format+"\n", args...) }
	info := func(format string, args ...any) { fmt.Fprintf(w, "    "+format+"\n", args...) }

	step("starting the embedded emulator (Entra ID + Azure DevOps) on 127.0.0.1")
	e, err := emulator.Start(ctx, emulator.Options{Addr: "127.0.0.1:0", Logger: log})
	if err != nil {
		return fmt.Errorf("demo: starting the emulator: %w", err)
	}
	defer e.Close()
	info("listening on %s", e.URL())

	hc, err := httpx.New(httpx.Options{CAPEM: e.CAPEM(), UserAgent: httpx.UserAgent(versionInfo().Version)})
	if err != nil {
		return err
	}
	ts, err := entra.New(entra.Options{
		Method:                   entra.MethodROPC,
		AuthorityHost:            e.AuthorityHost(),
		TenantID:                 emulator.DefaultTenantID,
		ClientID:                 emulator.DefaultClientID,
		ClientSecret:             emulator.DefaultClientSecret,
		Username:                 emulator.DefaultUser,
		Password:                 emulator.DefaultPassword,
		DisableInstanceDiscovery: true,
		HTTPClient:               hc,
		Logger:                   log,
	})
	if err != nil {
		return err
	}

	step("signing in to Entra ID as %s (ROPC with client secret, tenant %s)", emulator.DefaultUser, emulator.DefaultTenantID)
	tok, err := ts.Token(ctx)
	if err != nil {
		return err
	}
	if err := entra.RequireUser(tok); err != nil {
		return err
	}
	info("got a %s access token for Azure DevOps, expires %s (cached: one sign-in serves every call below)", tok.Kind, tok.ExpiresOn.UTC().Format(time.RFC3339))

	dc, err := devops.New(devops.Options{
		Organization: emulator.DefaultOrg,
		VSSPSURL:     e.VSSPSURL(),
		DevOpsURL:    e.DevOpsURL(),
		Token:        ts,
		HTTPClient:   hc,
		Logger:       log,
		UserAgent:    httpx.UserAgent(versionInfo().Version),
	})
	if err != nil {
		return err
	}

	step("listing the PATs of %s in organisation %s (every page)", emulator.DefaultUser, emulator.DefaultOrg)
	n := 0
	for _, err := range dc.ListPATs(ctx, devops.ListOptions{Filter: api.FilterActive, Sort: api.SortDisplayName, PageSize: api.MaxPageSize}) {
		if err != nil {
			return err
		}
		n++
	}
	info("%d active PAT(s)", n)

	now := time.Now().UTC()
	want := now.Add(2 * time.Hour).Truncate(time.Second)
	step("creating PAT \"patrol-demo\" (scope vso.code, organisation-scoped, valid to %s)", want.Format(time.RFC3339))
	p, err := dc.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: "patrol-demo", Scope: "vso.code", ValidTo: want, AllOrgs: false})
	if err != nil {
		return err
	}
	if p.Token == nil || *p.Token == "" {
		return errkind.New(errkind.Unknown, fmt.Errorf("demo: the emulator created PAT %s without returning its secret", p.AuthorizationID))
	}
	secret := *p.Token
	info("authorization ID %s, secret %s (masked; `patrol pat create` prints it once in full)", p.AuthorizationID, output.Mask(secret))

	step("checking that the new PAT authenticates (GET connectionData with Basic :PAT)")
	cd, err := dc.VerifyPAT(ctx, secret)
	if err != nil {
		return err
	}
	info("authenticated as %s", cd.AuthenticatedUser.ID)

	step("getting PAT %s", p.AuthorizationID)
	g, err := dc.GetPAT(ctx, p.AuthorizationID)
	if err != nil {
		return err
	}
	info("%q, scope %s, valid to %s, targetAccounts %v", g.DisplayName, g.Scope, g.ValidTo.UTC().Format(time.RFC3339), g.TargetAccounts)

	newName := "patrol-demo (renamed)"
	newScope := "vso.code vso.packaging"
	longer := now.Add(12 * time.Hour).Truncate(time.Second)
	step("updating it: rename, scope %q, valid to %s (12 hours, really)", newScope, longer.Format(time.RFC3339))
	u, err := dc.UpdatePAT(ctx, api.PatTokenUpdateRequest{AuthorizationID: p.AuthorizationID, DisplayName: &newName, Scope: &newScope, ValidTo: &longer})
	if err != nil {
		return err
	}
	info("%q, scope %s, valid to %s", u.DisplayName, u.Scope, u.ValidTo.UTC().Format(time.RFC3339))
	if devops.Clamped(longer, u.ValidTo) {
		info("the maximum-lifespan policy clamped the expiry")
	}

	step("revoking PAT %s", p.AuthorizationID)
	if err := dc.RevokePAT(ctx, p.AuthorizationID); err != nil {
		return err
	}
	if _, err := dc.VerifyPAT(ctx, secret); err == nil {
		return fmt.Errorf("demo: the revoked PAT %s still authenticates", p.AuthorizationID)
	}
	info("revoked; the secret no longer authenticates")

	st := dc.Stats()
	step("done: %d Azure DevOps requests, %d sign-in(s)", st.Requests, e.Counters()[signInCounterKey(e)])
	return nil
}

// signInCounterKey finds the emulator's ROPC token counter.
func signInCounterKey(e *emulator.Emulator) string {
	for k := range e.Counters() {
		if strings.HasPrefix(k, "POST ") && strings.Contains(k, "oauth2/v2.0/token") && strings.Contains(k, "password") {
			return k
		}
	}
	return "POST /{tenant}/oauth2/v2.0/token password"
}
