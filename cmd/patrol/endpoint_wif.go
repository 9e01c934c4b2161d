package main

import (
	"context"
	"errors"
	"fmt"

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

func (r wifReport) Table() output.TableData {
	t := output.TableData{Header: []string{"NAME", "ID", "ACTION", "FROM", "TO", "APP", "ISSUER", "SUBJECT", "REVERT DEADLINE", "ERROR"}}
	for _, x := range r {
		dl := x.RevertDeadline
		if dl == "" {
			dl = x.Deadline
		}
		t.Rows = append(t.Rows, []string{x.Name, x.ID, x.Action, x.From, x.To, x.AppID, x.Issuer, x.Subject, dl, x.Error})
	}
	return t
}

// graphClient builds the Graph client with the configured identity (a
// token for https://graph.microsoft.com/.default).
func (a *app) graphClient() (*graph.Client, error) {
	opts, err := a.entraOptions()
	if err != nil {
		return nil, err
	}
	opts.Scope = graph.Scope
	ts, err := entra.New(opts)
	if err != nil {
		return nil, err
	}
	base, _ := a.env("PATROL_GRAPH_URL")
	return graph.New(graph.Options{BaseURL: base, Token: entra.ReuseTokenSource(ts, 0), HTTPClient: opts.HTTPClient})
}

func newEndpointConvertWIFCmd(a *app, o *endpointOpts) *cobra.Command {
	var yes, all, revert bool
	cmd := &cobra.Command{
		Use:   "convert-to-wif NAME|ID --project P [--yes] | --all [--revert]",
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

Without --yes nothing changes: the plan is printed. The identity patrol signs
in with needs Graph permission on the application (an owner with
Application.ReadWrite.OwnedBy, or Application.ReadWrite.All) and may manage the
connections of the project. See docs/entra-apps.md.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) == 1) {
				return usageErrorf("name one connection (NAME or ID) or pass --all, not both")
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
			conv := &wif.Converter{DevOps: c, OrgID: cd.InstanceID}
			var report wifReport
			if !yes {
				for _, ep := range targets {
					report = append(report, wifRow{Result: wif.Result{Plan: conv.PlanFor(ep, revert)}, Action: "plan"})
				}
				return a.printer().Print(report)
			}
			if conv.Graph, err = a.graphClient(); err != nil {
				return err
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
					res, err = conv.Convert(ctx, project, ep)
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
