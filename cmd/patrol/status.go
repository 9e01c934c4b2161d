package main

import (
	"context"
	"fmt"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/spf13/cobra"
)

func newStatusCmd(a *app) *cobra.Command {
	var only []string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each managed credential, what its sinks hold and its health",
		Long: `status reads patrol.yaml and reports, for every credential and sink, the PAT
held, days to expiry, the outcome of the last run and health: ok, due
(rotation is due), failed (the last run failed for it, e.g. the consumer
refused the new PAT), expired, missing (a sink holds nothing), drift (sinks
disagree or hold a revoked, unknown or global PAT) or error (a sink cannot be
read). It changes nothing and takes no lock.

Exit code 0 when every credential is ok or due, 8 otherwise.`,
		Args: noArgs,
		PreRunE: func(*cobra.Command, []string) error {
			a.configFile = a.rotationConfigPath()
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runStatus(cmd.Context(), only) },
	}
	cmd.Flags().StringSliceVar(&only, "only", nil, "show only these credentials")
	return cmd
}

// StatusSink is one sink row.
type StatusSink = rotation.SinkStatus

// StatusCredential is one credential (rotation.Assess).
type StatusCredential = rotation.CredentialStatus

// Status is the status document.
type Status struct {
	Now         time.Time          `json:"now"`
	Credentials []StatusCredential `json:"credentials"`
}

func (a *app) runStatus(ctx context.Context, only []string) error {
	f, err := a.loadRotationFile()
	if err != nil {
		return err
	}
	creds, err := selectCredentials(f, only)
	if err != nil {
		return err
	}
	eng, err := a.buildEngine(ctx, f, creds, a.logger())
	if err != nil {
		return err
	}
	plan, err := eng.Plan(ctx, false)
	if err != nil {
		return err
	}
	_, state := a.loadState(f, a.logger())
	st := Status{Now: plan.Now}
	bad := 0
	for _, it := range plan.Items {
		sc := rotation.Assess(plan.Now, it, state.Last(it.Credential))
		if !sc.Ready {
			bad++
		}
		st.Credentials = append(st.Credentials, sc)
	}
	if err := a.printer().Print(st); err != nil {
		return err
	}
	if bad > 0 {
		return errorsPartial(fmt.Errorf("%d of %d credential(s) are not healthy (failed, expired, missing, drift or error); run `patrol rotate` to repair", bad, len(st.Credentials)))
	}
	return nil
}

// Table renders the human form.
func (s Status) Table() output.TableData {
	td := output.TableData{Header: []string{"CREDENTIAL", "HEALTH", "VALID TO", "DAYS LEFT", "DUE AT", "LAST RUN", "SINK", "HOLDS", "SINK STATE"}}
	for _, c := range s.Credentials {
		for i, sk := range c.Sinks {
			row := []string{"", "", "", "", "", "", sk.Name, sk.Holds, sk.State}
			if i == 0 {
				row[0], row[1] = c.Credential, c.Health
				if !c.ValidTo.IsZero() {
					row[2] = c.ValidTo.UTC().Format(time.RFC3339)
				}
				if c.DaysToExpiry != nil {
					row[3] = fmt.Sprintf("%.1f", *c.DaysToExpiry)
				}
				if !c.DueAt.IsZero() {
					row[4] = c.DueAt.UTC().Format(time.RFC3339)
				}
				if c.Last != nil {
					row[5] = c.Last.Result
					if c.Last.Reason != "" {
						row[5] += " (" + c.Last.Reason + ")"
					}
				}
			}
			if sk.Error != "" {
				row[8] += ": " + sk.Error
			}
			td.Rows = append(td.Rows, row)
		}
	}
	return td
}

func errorsPartial(err error) error { return errkind.New(errkind.Partial, err) }
