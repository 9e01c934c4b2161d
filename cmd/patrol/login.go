package main

import (
	"fmt"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/spf13/cobra"
)

const defaultScope = api.Scope

func newLoginCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "login",
		Short: "Bootstrap unattended sign-in with the device-code flow (once, by a human)",
		Long: `Run the device-code flow for an MFA-protected technical user: patrol prints a
code and a URL, a human signs in once in any browser, and patrol stores the
refresh token in the token cache (--token-cache, PATROL_TOKEN_CACHE,
auth.tokenCache; default $XDG_CONFIG_HOME/patrol/token-cache.json, written 0600
atomically). Later runs with --auth device-code (or auto) redeem and rotate that
refresh token without anyone.

The cache can be a Kubernetes Secret, for a CronJob whose ServiceAccount may
get/update/patch (and create) it:

  --token-cache k8s-secret://<namespace>/<name>[#key]   (key default refresh-token)
  --token-cache k8s-secret:///<name>[#key]              (namespace of the kube config / Pod)

The Kubernetes config is the Pod's (in cluster) or $KUBECONFIG / ~/.kube/config.

Needs AZURE_TENANT_ID and AZURE_CLIENT_ID; the app registration must allow
public client flows.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			opts, err := a.entraOptions()
			if err != nil {
				return err
			}
			opts.Method = entra.MethodDeviceCode
			tok, err := entra.DeviceCodeLogin(ctx, opts, func(msg string) {
				fmt.Fprintln(a.stderr, msg)
			})
			if err != nil {
				return err
			}
			where := a.cacheWhere
			fmt.Fprintf(a.stderr, "Signed in (%s token, expires %s).\nRefresh token stored in %s; run later commands with --auth device-code (or leave --auth auto).\n",
				tok.Kind, tok.ExpiresOn.UTC().Format(time.RFC3339), where)
			return nil
		},
	}
}
