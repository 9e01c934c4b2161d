package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/patrol-dev/patrol/internal/endpointlint"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/output"
)

type lintReport struct{ *endpointlint.Report }

func (r lintReport) Table() output.TableData {
	t := output.TableData{Header: []string{"SEVERITY", "RULE", "CONTRIBUTION", "PATH", "PROBLEM", "FIX"}}
	for _, f := range r.Findings {
		t.Rows = append(t.Rows, []string{string(f.Severity), f.Rule, f.Contribution, f.Path, f.Message, f.Fix})
	}
	if len(t.Rows) == 0 {
		t.Rows = append(t.Rows, []string{"ok", "-", "-", "-", fmt.Sprintf("%d endpoint type(s), no findings", r.Types), "-"})
	}
	return t
}

func newEndpointLintCmd(a *app, o *endpointOpts) *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "lint --manifest FILE [--strict]",
		Short: "Check every service-endpoint type of a manifest (.json or .js) for what tfx does not validate",
		Long: `Lint every ms.vss-endpoint.service-endpoint-type contribution of an extension
manifest (vss-extension.json, or a JavaScript manifest evaluated sandboxed): scheme
types outside the closed set, input ids and data types, required inputs nobody can
set, headers using inputs that do not exist, Mustache that does not parse or calls
unknown helpers, unknown resultSelector kinds, a missing TestConnection data
source, URLs neither absolute nor relative to the endpoint, confidential inputs
written into URLs. Each finding names the contribution, the JSON path and the fix.

Exit codes: 0 no error findings (warnings are printed), 2 at least one error
finding (with --strict: any finding) or a file that is not a manifest.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.manifest == "" {
				return usageErrorf("--manifest FILE is required (vss-extension.json or vss-extension.js)")
			}
			jo, err := o.jsOptions()
			if err != nil {
				return err
			}
			r, err := endpointlint.File(o.manifest, jo)
			if err != nil {
				return err
			}
			if err := a.printer().Print(lintReport{r}); err != nil {
				return err
			}
			if r.Errors > 0 || (strict && r.Warnings > 0) {
				return errkind.WithHint(errkind.Usage,
					fmt.Errorf("manifest %s: %d error(s), %d warning(s) in %d endpoint type(s)", o.manifest, r.Errors, r.Warnings, r.Types),
					"fix the findings above: each names the contribution, the JSON path and the fix (exit 2)")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "fail (exit 2) on warnings too")
	return cmd
}
