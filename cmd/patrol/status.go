package main

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/spf13/cobra"
)

func newStatusCmd(a *app) *cobra.Command {
	var (
		only     []string
		watch    bool
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each managed credential, what its sinks hold and its health",
		Long: `status reads patrol.yaml and reports, for every credential and sink, the PAT
held, days to expiry, the outcome of the last run and health: ok, due
(rotation is due), failed (the last run failed for it, e.g. the consumer
refused the new PAT), expired, missing (a sink holds nothing), drift (sinks
disagree or hold a revoked, unknown or global PAT) or error (a sink cannot be
read). It changes nothing and takes no lock.

Exit code 0 when every credential is ok or due, 8 otherwise.

--watch re-evaluates every --interval until Ctrl-C (then exit 0): on a
terminal it redraws the table; otherwise it prints the status once, then one
line per credential whose health or sinks changed (-o json|yaml: the whole
document again when anything changed). An evaluation that fails is reported
on stderr and the watch goes on.`,
		Args: noArgs,
		PreRunE: func(*cobra.Command, []string) error {
			a.configFile = a.rotationConfigPath()
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval <= 0 {
				return usageErrorf("--interval %s must be positive, e.g. 30s", interval)
			}
			return a.runStatus(cmd.Context(), only, watch, interval)
		},
	}
	cmd.Flags().StringSliceVar(&only, "only", nil, "show only these credentials")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "re-evaluate every --interval until interrupted: redraw on a terminal, else print only the changes")
	cmd.Flags().DurationVar(&interval, "interval", 30*time.Second, "time between evaluations with --watch")
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

func (a *app) runStatus(ctx context.Context, only []string, watch bool, interval time.Duration) error {
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
	eval := func() (Status, int, error) {
		plan, err := eng.Plan(ctx, false)
		if err != nil {
			return Status{}, 0, err
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
		return st, bad, nil
	}
	if watch {
		return a.watchStatus(ctx, eval, interval)
	}
	st, bad, err := eval()
	if err != nil {
		return err
	}
	if err := a.printer().Print(st); err != nil {
		return err
	}
	if bad > 0 {
		return errorsPartial(fmt.Errorf("%d of %d credential(s) are not healthy (failed, expired, missing, drift or error); run `patrol rotate` to repair", bad, len(st.Credentials)))
	}
	return nil
}

// watchStatus re-evaluates until ctx ends (exit 0): on a terminal it
// redraws; otherwise it prints the first status, then only what changed.
func (a *app) watchStatus(ctx context.Context, eval func() (Status, int, error), interval time.Duration) error {
	pr := a.printer()
	tty := output.IsTerminal(a.stdout)
	var prev map[string]string
	for {
		st, _, err := eval()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			fmt.Fprintf(a.stderr, "patrol: %s (watching on)\n", shortError(redact.Error(err)))
		case tty:
			fmt.Fprintf(a.stdout, "\x1b[H\x1b[2JEvery %s: patrol status    %s\n\n", interval, st.Now.UTC().Format(time.RFC3339))
			if err := pr.Print(st); err != nil {
				return err
			}
		default:
			cur := statusDigest(st)
			if prev == nil || pr.Machine() && !maps.Equal(prev, cur) {
				if err := pr.Print(st); err != nil {
					return err
				}
			} else {
				for _, c := range st.Credentials {
					if was, now := prev[c.Credential], cur[c.Credential]; was != now {
						fmt.Fprintf(a.stdout, "%s %s: %s → %s\n", st.Now.UTC().Format(time.RFC3339), c.Credential, orNone(was), now)
					}
				}
			}
			prev = cur
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// statusDigest is each credential's health and sink states, what --watch
// compares between evaluations.
func statusDigest(st Status) map[string]string {
	d := map[string]string{}
	for _, c := range st.Credentials {
		var sinks []string
		for _, sk := range c.Sinks {
			sinks = append(sinks, sk.Name+"="+sk.State)
		}
		d[c.Credential] = c.Health + " (" + strings.Join(sinks, ", ") + ")"
	}
	return d
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

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
