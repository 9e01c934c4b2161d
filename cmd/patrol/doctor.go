package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/doctor"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
	"github.com/spf13/cobra"
)

func newDoctorCmd(a *app) *cobra.Command {
	var probe bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check that patrol can work here: config, network, sign-in, token, organization, sinks",
		Long: `doctor checks, without changing anything, everything patrol needs:

  configuration   patrol.yaml (when present) read as strictly as config validate
  proxy, CA       which proxy each host goes through; the extra CA bundle
  reach           the Entra authority, vssps and dev.azure.com answer over TLS
  clock           the local clock against the authority's (Entra allows 5 min)
  sign-in         the configured method signs in; the token's identity type,
                  tenant, expiry and consented scopes (vso.pats, vso.pats_manage)
  organization    Azure DevOps knows the identity as a member
  credentials     each sink can be read (and, for Kubernetes Secrets, written:
                  SelfSubjectAccessReview), and whether it can verify

--probe also writes: it creates a canary PAT ("patrol-doctor-canary …",
scope vso.profile, the longest configured lifetime), reads it back,
authenticates with it and revokes it, and reports the policies it met: a
lifetime clamp, restricted creation, and (when a credential has
allowFullAccess) a block of full-scope PATs.

Each line is ok, warn, fail or skip, with the fix. Exit code: 0 when nothing
failed (warnings included); otherwise the code of the failure to fix first
(2 configuration, 3 sign-in, 4 permission or policy, 6 network).`,
		Example: `  # Check the settings of ./patrol.yaml and the environment
  patrol doctor

  # Also create, use and revoke a canary PAT to learn the organization's policies
  patrol doctor --probe

  # Machine-readable, e.g. for a readiness gate
  patrol doctor -o json | jq -r '.results[] | select(.status=="fail") | .check'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDoctor(cmd.Context(), probe)
		},
	}
	cmd.Flags().BoolVar(&probe, "probe", false, "create, use and revoke a short-lived canary PAT (writes to Azure DevOps)")
	return cmd
}

func (a *app) runDoctor(ctx context.Context, probe bool) error {
	d := doctor.Deps{Now: a.now, Env: a.env, Probe: probe}
	log := a.logger()

	// patrol.yaml: --config / PATROL_CONFIG must exist; ./patrol.yaml is optional.
	path := a.rotationConfigPath()
	explicit := a.configFile != ""
	if v, ok := a.env(config.EnvConfig); ok && v != "" {
		explicit = true
	}
	var f *config.File
	if _, err := os.Stat(path); err == nil || explicit || !errors.Is(err, fs.ErrNotExist) {
		a.configFile = path
		d.Config = path
		f, d.ConfigErr = a.loadRotationFile()
	}
	conn, err := a.connection()
	if err != nil {
		if d.ConfigErr == nil {
			d.ConfigErr = err
		}
		return a.printDoctor(doctor.Run(ctx, d))
	}
	d.Organization = conn.Organization
	d.CABundle = conn.Endpoints.CABundle
	d.Endpoints = doctorEndpoints(conn)
	hc, err := a.httpClient()
	if err != nil {
		d.ConfigErr = err
		return a.printDoctor(doctor.Run(ctx, d))
	}
	d.HTTP = hc
	if _, err := a.tokenSource(ctx); err != nil {
		d.TokenErr = err
	} else {
		d.Token = func(ctx context.Context) (entra.Token, error) {
			ts, err := a.tokenSource(ctx)
			if err != nil {
				return entra.Token{}, err
			}
			return ts.Token(ctx)
		}
	}
	if conn.Organization != "" && d.TokenErr == nil {
		if dc, err := a.devops(ctx); err != nil {
			d.PATsErr = err
		} else {
			d.PATs = dc
		}
	}
	if f != nil && d.ConfigErr == nil {
		deps := sink.Deps{Logger: log, HTTPClient: hc, Now: a.now}
		if d.PATs != nil {
			deps.DevOps = d.PATs
		}
		for _, c := range f.Credentials {
			dc := doctor.Credential{Name: c.Name, Kind: c.Kind, Lifetime: c.Lifetime.D(), FullAccess: c.AllowFullAccess}
			if t, err := a.buildTarget(ctx, &rotation.Engine{}, c, deps); err != nil {
				dc.BuildErr = err
			} else {
				dc.Sinks = t.Sinks
			}
			d.Credentials = append(d.Credentials, dc)
		}
	}
	return a.printDoctor(doctor.Run(ctx, d))
}

func (a *app) printDoctor(r doctor.Report) error {
	if err := a.printer().Print(r); err != nil {
		return err
	}
	return r.Err()
}

// doctorEndpoints are the URLs doctor reaches: the authority's OpenID
// configuration for the tenant, and the two Azure DevOps hosts' anonymous
// connectionData.
func doctorEndpoints(c config.Connection) []doctor.Endpoint {
	tenant := c.Auth.TenantID
	if tenant == "" {
		tenant = "organizations"
	}
	org := ""
	if c.Organization != "" {
		org = "/" + c.Organization
	}
	return []doctor.Endpoint{
		{Name: "authority", URL: strings.TrimRight(c.Endpoints.AuthorityHost, "/") + "/" + tenant + "/v2.0/.well-known/openid-configuration"},
		{Name: "vssps", URL: strings.TrimRight(c.Endpoints.VSSPS, "/") + org + "/_apis/connectionData"},
		{Name: "devops", URL: strings.TrimRight(c.Endpoints.DevOps, "/") + org + "/_apis/connectionData"},
	}
}
