package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/graph"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/patrol-dev/patrol/internal/wif"
)

// wifRow is one line of convert-to-wif's plan or report.
type wifRow struct {
	wif.Result
	Action string `json:"action"` // plan, converted, reverted, failed, skipped
	Error  string `json:"error,omitempty"`
}

type wifReport []wifRow

// Table has the columns REMOVE SECRETS and REMOVED only when a row
// removes secrets (--remove-secret).
func (r wifReport) Table() output.TableData {
	secrets := slices.ContainsFunc(r, func(x wifRow) bool { return len(x.RemoveSecrets) > 0 })
	t := output.TableData{Header: []string{"NAME", "ID", "ACTION", "FROM", "TO", "APP", "ISSUER", "SUBJECT", "REVERT DEADLINE"}}
	if secrets {
		t.Header = append(t.Header, "REMOVE SECRETS", "REMOVED")
	}
	t.Header = append(t.Header, "ERROR")
	for _, x := range r {
		dl := x.RevertDeadline
		if dl == "" {
			dl = x.Deadline
		}
		row := []string{x.Name, x.ID, x.Action, x.From, x.To, x.AppID, x.Issuer, x.Subject, dl}
		if secrets {
			planned := make([]string, 0, len(x.RemoveSecrets))
			for _, s := range x.RemoveSecrets {
				planned = append(planned, s.String())
			}
			row = append(row, strings.Join(planned, ", "), strings.Join(x.RemovedSecrets, ", "))
		}
		t.Rows = append(t.Rows, append(row, x.Error))
	}
	return t
}

// wifVerifyDelay is the pause between TestConnection attempts (0 = the
// converter's default); tests shorten it.
var wifVerifyDelay time.Duration

// graphClient builds the Graph client with the configured identity (a
// token for the .default scope of the authority's cloud's Graph, or of
// endpoints.graph).
func (a *app) graphClient() (*graph.Client, error) {
	opts, err := a.entraOptions()
	if err != nil {
		return nil, err
	}
	conn, err := a.connection()
	if err != nil {
		return nil, err
	}
	base := conn.Endpoints.Graph // the authority's cloud, or endpoints.graph
	opts.Scope = graph.ScopeFor(base, opts.AuthorityHost)
	ts, err := entra.New(opts)
	if err != nil {
		return nil, err
	}
	return graph.New(graph.Options{BaseURL: base, Token: entra.ReuseTokenSource(ts, 0), HTTPClient: opts.HTTPClient})
}

func newEndpointConvertWIFCmd(a *app, o *endpointOpts) *cobra.Command {
	var yes, all, revert bool
	var removeSecrets []string
	cmd := &cobra.Command{
		Use:   "convert-to-wif NAME|ID --project P [--remove-secret KEYID]… [--yes] | --all [--revert]",
		Short: "Convert Azure RM service connections from a secret to workload identity federation (plan; act with --yes)",
		Long: `Convert an Azure Resource Manager service connection that signs in with a
service principal's secret or certificate to workload identity federation, in
place: patrol adds the federated identity credential Azure DevOps expects
(issuer https://vstoken.dev.azure.com/{orgId}, subject sc://{org}/{project}/{name})
to the connection's application through Microsoft Graph, converts the
connection (operation=ConvertAuthenticationScheme), waits until it is ready and
verifies it with TestConnection. A conversion that does not verify is reverted
at once. --revert converts back while the service allows it (the deadline is
reported). --all takes every convertible connection of the project.

--remove-secret KEYID (repeatable, one connection only) removes the
application's password KEYID through Graph once the converted connection
verified, then runs TestConnection again. Before anything changes patrol checks
that each KEYID is one of the application's passwords (an unknown one lists
them) and refuses if another ServicePrincipal connection of the project signs
in as the same application. A conversion that does not verify removes nothing.

Without --yes nothing changes: the plan is printed. The identity patrol signs
in with needs Graph permission on the application (an owner with
Application.ReadWrite.OwnedBy, or Application.ReadWrite.All) and may manage the
connections of the project. See docs/entra-apps.md.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) == 1) {
				return usageErrorf("name one connection (NAME or ID) or pass --all, not both")
			}
			if len(removeSecrets) > 0 && (all || revert) {
				return usageErrorf("--remove-secret removes the secret of one connection after its conversion: it cannot be combined with --all or --revert")
			}
			project, err := a.endpointProject(o)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := a.devops(ctx)
			if err != nil {
				return err
			}
			targets, err := a.wifTargets(ctx, c, project, args, revert, all)
			if err != nil {
				return err
			}
			cd, err := c.ConnectionData(ctx)
			if err != nil {
				return err
			}
			conv := &wif.Converter{DevOps: c, OrgID: cd.InstanceID, VerifyDelay: wifVerifyDelay}
			var remove []wif.Secret
			if len(removeSecrets) > 0 {
				// Checked before anything changes, for the plan too.
				if conv.Graph, err = a.graphClient(); err != nil {
					return err
				}
				if remove, err = conv.SecretsToRemove(ctx, targets[0].Authorization.Param("serviceprincipalid"), removeSecrets); err != nil {
					return err
				}
				if err := conv.SharedSecretUsers(ctx, project, targets[0]); err != nil {
					return err
				}
			}
			var report wifReport
			if !yes {
				for _, ep := range targets {
					p := conv.PlanFor(ep, revert)
					p.RemoveSecrets = remove
					report = append(report, wifRow{Result: wif.Result{Plan: p}, Action: "plan"})
				}
				return a.printer().Print(report)
			}
			if conv.Graph == nil {
				if conv.Graph, err = a.graphClient(); err != nil {
					return err
				}
			}
			var failed []error
			for _, ep := range targets {
				var res wif.Result
				var err error
				action := "converted"
				if revert {
					action = "reverted"
					res, err = conv.Revert(ctx, project, ep)
				} else {
					res, err = conv.Convert(ctx, project, ep, remove)
				}
				row := wifRow{Result: res, Action: action}
				if err != nil {
					row.Action, row.Error = "failed", err.Error()
					failed = append(failed, err)
				}
				report = append(report, row)
			}
			if err := a.printer().Print(report); err != nil {
				return err
			}
			switch {
			case len(failed) == 0:
				return nil
			case len(failed) == len(targets) && len(targets) == 1:
				return failed[0]
			}
			return errkind.New(errkind.Partial, fmt.Errorf("%d of %d connections failed: %w", len(failed), len(targets), errors.Join(failed...)))
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "act: without it only the plan is printed")
	cmd.Flags().BoolVar(&all, "all", false, "every convertible Azure RM connection of the project")
	cmd.Flags().BoolVar(&revert, "revert", false, "convert back to the service principal secret (while the service allows it)")
	cmd.Flags().StringArrayVar(&removeSecrets, "remove-secret", nil, "after the conversion verified, remove the application's password with this keyId (repeatable; one connection only)")
	return cmd
}

// wifTargets are the connections to convert: the one named, or with --all
// every Azure RM connection of the project in the right scheme.
func (a *app) wifTargets(ctx context.Context, c *devops.Client, project string, args []string, revert, all bool) ([]api.ServiceEndpoint, error) {
	if !all {
		ep, err := a.findRemote(ctx, c, project, args[0])
		if err != nil {
			return nil, err
		}
		if err := wif.Convertible(ep, revert); err != nil {
			return nil, errkind.New(errkind.Usage, err)
		}
		return []api.ServiceEndpoint{ep}, nil
	}
	want := wif.SchemeServicePrincipal
	if revert {
		want = wif.SchemeWIF
	}
	eps, err := c.ListServiceEndpoints(ctx, project, devops.EndpointFilter{Type: "azurerm", AuthSchemes: []string{want}})
	if err != nil {
		return nil, err
	}
	var out []api.ServiceEndpoint
	for _, ep := range eps {
		if wif.Convertible(ep, revert) == nil {
			out = append(out, ep)
		}
	}
	return out, nil
}
