package main

import (
	"context"
	"fmt"
	"math"
	"strings"
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
held, days to expiry and health: ok, due (rotation is due), expired, missing
(a sink holds nothing), drift (sinks disagree or hold a revoked, unknown or
global PAT) or error (a sink cannot be read). It changes nothing and takes no lock.

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
type StatusSink struct {
	Name         string    `json:"name"`
	Holds        string    `json:"holds,omitempty"`
	State        string    `json:"state"`
	ValidTo      time.Time `json:"validTo,omitzero"`
	DaysToExpiry *float64  `json:"daysToExpiry,omitempty"`
	Error        string    `json:"error,omitempty"`
}

// StatusCredential is one credential.
type StatusCredential struct {
	Credential   string       `json:"credential"`
	Kind         string       `json:"kind"`
	Health       string       `json:"health"`
	ValidTo      time.Time    `json:"validTo,omitzero"`
	DueAt        time.Time    `json:"dueAt,omitzero"`
	DaysToExpiry *float64     `json:"daysToExpiry,omitempty"`
	Clamped      bool         `json:"clamped,omitempty"`
	Detail       string       `json:"detail,omitempty"`
	Sinks        []StatusSink `json:"sinks"`
	PendingClean []string     `json:"pendingRevocations,omitempty"`
}

// Status is the status document.
type Status struct {
	Now         time.Time          `json:"now"`
	Credentials []StatusCredential `json:"credentials"`
}

func days(now, t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	d := math.Round(t.Sub(now).Hours()/24*10) / 10
	return &d
}

// statusOf derives health from a plan item (see docs/rotation.md).
func statusOf(now time.Time, it rotation.Item) StatusCredential {
	sc := StatusCredential{Credential: it.Credential, Kind: it.Kind, DueAt: it.DueAt, Clamped: it.Clamped, Detail: strings.Join(it.Reasons, "; ")}
	if it.Current != nil {
		sc.ValidTo = it.Current.ValidTo
	}
	var earliest time.Time
	for _, s := range it.Sinks {
		ss := StatusSink{Name: s.Name, Holds: s.Holds, State: s.Status, ValidTo: s.ValidTo, DaysToExpiry: days(now, s.ValidTo), Error: s.Error}
		if !s.ValidTo.IsZero() && (earliest.IsZero() || s.ValidTo.Before(earliest)) {
			earliest = s.ValidTo
		}
		sc.Sinks = append(sc.Sinks, ss)
	}
	if sc.ValidTo.IsZero() {
		sc.ValidTo = earliest
	}
	sc.DaysToExpiry = days(now, sc.ValidTo)
	for _, r := range it.Revoke {
		sc.PendingClean = append(sc.PendingClean, r.AuthorizationID)
	}
	switch it.Action {
	case rotation.ActionFail:
		sc.Health, sc.Detail = "error", it.Error
	case rotation.ActionCreate:
		sc.Health = "missing"
	case rotation.ActionNone:
		sc.Health = "ok"
	default:
		switch {
		case !sc.ValidTo.IsZero() && !now.Before(sc.ValidTo):
			sc.Health = "expired"
		case it.Current != nil:
			sc.Health = "due"
		default:
			sc.Health = "drift"
			for _, s := range it.Sinks {
				if s.Status == "missing" {
					sc.Health = "missing"
				}
			}
		}
	}
	return sc
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
	st := Status{Now: plan.Now}
	bad := 0
	for _, it := range plan.Items {
		sc := statusOf(plan.Now, it)
		if sc.Health != "ok" && sc.Health != "due" {
			bad++
		}
		st.Credentials = append(st.Credentials, sc)
	}
	if err := a.printer().Print(st); err != nil {
		return err
	}
	if bad > 0 {
		return errorsPartial(fmt.Errorf("%d of %d credential(s) are not healthy (expired, missing, drift or error); run `patrol rotate` to repair", bad, len(st.Credentials)))
	}
	return nil
}

// Table renders the human form.
func (s Status) Table() output.TableData {
	td := output.TableData{Header: []string{"CREDENTIAL", "HEALTH", "VALID TO", "DAYS LEFT", "DUE AT", "SINK", "HOLDS", "SINK STATE"}}
	for _, c := range s.Credentials {
		for i, sk := range c.Sinks {
			row := []string{"", "", "", "", "", sk.Name, sk.Holds, sk.State}
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
			}
			if sk.Error != "" {
				row[7] += ": " + sk.Error
			}
			td.Rows = append(td.Rows, row)
		}
	}
	return td
}

func errorsPartial(err error) error { return errkind.New(errkind.Partial, err) }
