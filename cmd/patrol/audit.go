package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/atomicfile"
	"github.com/patrol-dev/patrol/internal/audit"
	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/spf13/cobra"
)

type auditOpts struct {
	expiring, maxLifetime, since string
	minSeverity, html            string
	noEndpoints                  bool
}

func newAuditCmd(a *app) *cobra.Command {
	var o auditOpts
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Find the organization's PATs that are about to break or should not exist (administrators)",
		Long: `audit lists the PATs of every user of the organization through TokenAdmin and
the Token events of the audit log, and reports findings, most severe first:

  critical  public-discovery  a PAT found in public (the service revoked it)
  high      global            an active global PAT (retired on 2026-12-01: it no longer works)
  high      full-scope        an active full-access PAT (app_token)
  high      system-revoked    a PAT the service revoked
  high      owner-departed    an active PAT whose owner was deleted in Entra ID
  high      owner-disabled    an active PAT whose owner's account is disabled
  high      endpoint-secret-expired   an Azure RM connection whose application
                              has no password left that signs in
  high/medium endpoint-secret-expiring  all (high) or one (medium) of its
                              application's passwords expire within --expiring-within
  medium    long-lived        a lifetime beyond --max-lifetime
  medium    expiring          expires within --expiring-within (low when patrol manages it)
  medium    endpoint-not-ready  a service connection that is not ready
  low       endpoint-secret   an Azure Resource Manager connection with a service
                              principal secret (convertible to workload identity)

It needs an organization administrator (Project Collection Administrators:
TokenAdmin and the "View audit log" permission) signed in as a user, with the
vso.tokenadministration, vso.graph and vso.auditlog permissions (or
user_impersonation). It changes nothing; see "patrol audit revoke".

With Microsoft Graph User.Read.All and Application.Read.All (delegated, admin
consent) it also reads the owners' accounts and the connections' application
passwords, in batches of 20; without them it says so once (a warn notice) and
goes on.

-o table|wide|json|yaml|csv prints the findings (json/yaml: the whole report
with its summary and events); --html FILE also writes a self-contained HTML
report (charts of expiry and findings; no script, no external asset).
Exit code 0 whether or not there are findings.`,
		Example: `  # Findings of the organization, most severe first
  patrol audit --org contoso

  # Only what needs action now, as CSV for a spreadsheet
  patrol audit --min-severity high -o csv > findings.csv

  # A report to attach to a ticket
  patrol audit --html audit.html --since 30d`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runAudit(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.expiring, "expiring-within", "14d", "flag active PATs that expire this soon")
	f.StringVar(&o.maxLifetime, "max-lifetime", "90d", "flag active PATs whose lifetime is longer (0 = off)")
	f.StringVar(&o.since, "since", "30d", "how far back to read the audit log's Token events (at most 90d, the log's retention)")
	f.StringVar(&o.minSeverity, "min-severity", "low", "show findings of this severity and above: critical|high|medium|low")
	f.StringVar(&o.html, "html", "", "also write a self-contained HTML report to this file (0600)")
	f.BoolVar(&o.noEndpoints, "no-endpoints", false, "skip the service connections of every project")
	cmd.AddCommand(newAuditPATsCmd(a), newAuditEndpointsCmd(a), newAuditRevokeCmd(a))
	return cmd
}

func auditDuration(flag, v string, allowZero bool) (time.Duration, error) {
	if allowZero && strings.TrimSpace(v) == "0" {
		return 0, nil
	}
	d, err := config.ParseDuration(v)
	if err != nil || d.D() <= 0 {
		return 0, usageErrorf("--%s %q is not a positive duration: use e.g. 14d, 2w or 72h", flag, v)
	}
	return d.D(), nil
}

func (a *app) runAudit(ctx context.Context, o auditOpts) error {
	expiring, err := auditDuration("expiring-within", o.expiring, true)
	if err != nil {
		return err
	}
	maxLife, err := auditDuration("max-lifetime", o.maxLifetime, true)
	if err != nil {
		return err
	}
	since, err := auditDuration("since", o.since, false)
	if err != nil {
		return err
	}
	if since > 90*24*time.Hour {
		return usageErrorf("--since %s reaches past the audit log's 90-day retention: use at most 90d", o.since)
	}
	minSev, err := audit.ParseSeverity(o.minSeverity)
	if err != nil {
		return usageErrorf("--min-severity: %v", err)
	}
	dc, err := a.adminClient(ctx)
	if err != nil {
		return err
	}
	now := a.now()
	b := audit.NewBuilder(dc.Organization(), audit.Options{Now: now, ExpiringWithin: expiring, MaxLifetime: maxLife}, minSev)
	gl := a.newGraphLookup(b.Notice)
	for p, err := range inventory(ctx, dc, now, func(_ devops.GraphUser, state string) { b.User(); b.UserState(state) }, gl) {
		if err != nil {
			return err
		}
		b.AddPAT(p)
	}
	if !o.noEndpoints {
		for ep, err := range endpointInventory(ctx, dc, gl) {
			if err != nil {
				return err
			}
			b.AddEndpoint(ep)
		}
	}
	for ev, err := range tokenEvents(ctx, dc, now.Add(-since), now) {
		if err != nil {
			return err
		}
		b.AddEvent(ev)
	}
	r := b.Report()
	if o.html != "" {
		var buf bytes.Buffer
		if err := audit.WriteHTML(&buf, r); err != nil {
			return err
		}
		if err := atomicfile.Write(o.html, buf.Bytes(), 0o600); err != nil {
			return usageErrorf("--html %s: %v", o.html, err)
		}
	}
	a.printNotices(r.Notices)
	return a.printer().Print(r)
}

// adminClient is the Azure DevOps client of a signed-in user (TokenAdmin,
// Graph and the audit log accept only users).
func (a *app) adminClient(ctx context.Context) (*devops.Client, error) {
	if _, err := a.userToken(ctx); err != nil {
		return nil, err
	}
	return a.devops(ctx)
}

// inventory yields every PAT of every Entra user of the organization;
// onUser is called once per user with its Entra state (audit.Owner*, ""
// when unknown). Users are looked up in owners ownerChunk at a time
// (owners nil: no lookup beyond Azure DevOps' isDeletedInOrigin).
func inventory(ctx context.Context, dc *devops.Client, now time.Time, onUser func(devops.GraphUser, string), owners *graphLookup) iter.Seq2[audit.PAT, error] {
	return func(yield func(audit.PAT, error) bool) {
		var chunk []devops.GraphUser
		flush := func() bool {
			states := owners.ownerStates(ctx, chunk)
			for _, u := range chunk {
				state := states[u.Descriptor]
				if onUser != nil {
					onUser(u, state)
				}
				for t, err := range dc.ListUserPATs(ctx, u.Descriptor, false) {
					if err != nil {
						yield(audit.PAT{}, fmt.Errorf("PATs of %s: %w", u.PrincipalName, err))
						return false
					}
					p := audit.FromSessionToken(t, u.PrincipalName, u.DisplayName, now)
					p.OwnerState = state
					if !yield(p, nil) {
						return false
					}
				}
			}
			chunk = chunk[:0]
			return true
		}
		for u, err := range dc.ListUsers(ctx) {
			if err != nil {
				yield(audit.PAT{}, err)
				return
			}
			if chunk = append(chunk, u); len(chunk) == ownerChunk && !flush() {
				return
			}
		}
		flush()
	}
}

// tokenEvents yields the audit log's Token events between start and end.
func tokenEvents(ctx context.Context, dc *devops.Client, start, end time.Time) iter.Seq2[audit.Event, error] {
	return func(yield func(audit.Event, error) bool) {
		for en, err := range dc.QueryAuditLog(ctx, start, end) {
			if err != nil {
				yield(audit.Event{}, err)
				return
			}
			area, action, _ := strings.Cut(en.ActionID, ".")
			if !strings.EqualFold(area, "Token") {
				continue
			}
			var data struct {
				AuthorizationID string `json:"AuthorizationId"`
				DisplayName     string `json:"DisplayName"`
			}
			_ = json.Unmarshal(en.Data, &data) // data keys are not documented: best effort
			actor := en.ActorUPN
			if actor == "" {
				actor = en.ActorDisplayName
			}
			if !yield(audit.Event{Time: en.Timestamp, Action: action, Actor: actor, AuthorizationID: data.AuthorizationID,
				DisplayName: data.DisplayName, Details: en.Details}, nil) {
				return
			}
		}
	}
}

func auditPATFormat() output.ListFormat[audit.PAT] {
	return output.ListFormat[audit.PAT]{
		Header: audit.PATHeader(false), Row: func(p audit.PAT) []string { return audit.PATRow(p, false) },
		WideHeader: audit.PATHeader(true), WideRow: func(p audit.PAT) []string { return audit.PATRow(p, true) },
		Name: func(p audit.PAT) string { return "pat/" + p.AuthorizationID },
	}
}

func newAuditPATsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "pats",
		Short: "List the PATs of every user of the organization (administrators)",
		Long: `pats lists every user's PATs through TokenAdmin, as they arrive (memory does not
grow with the number of PATs): owner, name, status (active, expired, revoked),
scope, expiry, whether it is global and whether patrol manages it.`,
		Example: `  patrol audit pats
  patrol audit pats -o csv > pats.csv
  patrol audit pats -o jsonpath='{range [?(@.global)]}{.owner} {.displayName}{"\n"}{end}'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dc, err := a.adminClient(ctx)
			if err != nil {
				return err
			}
			lw, err := output.NewListWriter(a.printer(), auditPATFormat())
			if err != nil {
				return err
			}
			user := 0
			var notices []audit.Notice
			gl := a.newGraphLookup(func(n audit.Notice) { notices = append(notices, n) })
			defer func() { a.printNotices(notices) }()
			for p, err := range inventory(ctx, dc, a.now(), func(devops.GraphUser, string) {
				if user++; user > 1 {
					_ = lw.Flush() // a user's PATs are a page
				}
			}, gl) {
				if err != nil {
					return err
				}
				if err := lw.Add(p); err != nil {
					return err
				}
			}
			return lw.Close()
		},
	}
}

type revokePlan struct {
	Rule           string      `json:"rule"`
	Selected       []audit.PAT `json:"selected"`
	ManagedSkipped int         `json:"managedSkipped"`
	Revoked        bool        `json:"revoked"`
}

func (p revokePlan) Table() output.TableData {
	t := output.TableData{Header: audit.PATHeader(true)}
	for _, s := range p.Selected {
		t.Rows = append(t.Rows, audit.PATRow(s, true))
	}
	return t
}

func newAuditRevokeCmd(a *app) *cobra.Command {
	var rules []string
	var yes, includeManaged bool
	cmd := &cobra.Command{
		Use:   "revoke --rule RULE [--rule RULE…] [--yes]",
		Short: "Revoke the PATs a rule selects, after printing the plan (administrators)",
		Long: `revoke selects active PATs of any user by rules that must all hold:

  global                  global (all-organizations) PATs
  full-scope              full-access PATs (app_token)
  older-than=DURATION     created longer ago than DURATION (e.g. 180d)
  expires-within=DURATION expiring within DURATION
  owner=UPN               of this user
  owner-departed          of owners deleted in Entra ID (Azure DevOps'
                          isDeletedInOrigin, or Microsoft Graph: 404)
  owner-disabled          of owners whose account is disabled (Microsoft Graph
                          User.Read.All; without it nothing is selected, with a warning)
  name=GLOB               display name matching GLOB (* and ?, case-insensitive)

It always prints the plan first; only with --yes does it revoke, through
TokenAdmin revocations. PATs patrol manages (named "patrol:…") are never
selected unless --include-managed: a sink may hold them, and patrol revokes
them itself once replaced.`,
		Example: `  # What would be revoked: global PATs, which stopped working on 2026-12-01
  patrol audit revoke --rule global

  # Revoke full-access PATs older than 180 days
  patrol audit revoke --rule full-scope --rule older-than=180d --yes

  # Revoke the PATs of people who left
  patrol audit revoke --rule owner-departed --yes`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sel, err := audit.ParseRules(rules)
			if err != nil {
				return usageErrorf("%v", err)
			}
			sel.IncludeManaged = includeManaged
			ctx := cmd.Context()
			dc, err := a.adminClient(ctx)
			if err != nil {
				return err
			}
			now := a.now()
			plan := revokePlan{Rule: sel.String(), Selected: []audit.PAT{}}
			var owners *graphLookup
			if sel.NeedsOwners {
				var notices []audit.Notice
				owners = a.newGraphLookup(func(n audit.Notice) { notices = append(notices, n) })
				defer func() { a.printNotices(notices) }()
			}
			for p, err := range inventory(ctx, dc, now, nil, owners) {
				if err != nil {
					return err
				}
				ok, skipped := sel.Match(p, now)
				if skipped {
					plan.ManagedSkipped++
				}
				if ok {
					plan.Selected = append(plan.Selected, p)
				}
			}
			pr := a.printer()
			if yes && len(plan.Selected) > 0 {
				ids := make([]string, 0, len(plan.Selected))
				for _, p := range plan.Selected {
					ids = append(ids, p.AuthorizationID)
				}
				for start := 0; start < len(ids); start += 500 {
					if err := dc.RevokeAuthorizations(ctx, ids[start:min(start+500, len(ids))]); err != nil {
						return fmt.Errorf("revoked %d of %d selected PATs, then: %w", start, len(ids), err)
					}
				}
				plan.Revoked = true
			}
			if err := pr.Print(plan); err != nil {
				return err
			}
			if !pr.Machine() {
				switch {
				case len(plan.Selected) == 0:
					fmt.Fprintf(a.stderr, "no active PAT matches %s\n", plan.Rule)
				case plan.Revoked:
					fmt.Fprintf(a.stderr, "revoked %d PAT(s) matching %s\n", len(plan.Selected), plan.Rule)
				default:
					fmt.Fprintf(a.stderr, "%d PAT(s) match %s; nothing revoked: run again with --yes to revoke them\n", len(plan.Selected), plan.Rule)
				}
				if plan.ManagedSkipped > 0 {
					fmt.Fprintf(a.stderr, "%d PAT(s) managed by patrol also match and were left out (--include-managed selects them)\n", plan.ManagedSkipped)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&rules, "rule", nil, "selection rule (repeatable; all must hold): global, full-scope, older-than=D, expires-within=D, owner=UPN, owner-departed, owner-disabled, name=GLOB")
	cmd.Flags().BoolVar(&yes, "yes", false, "revoke the selected PATs (without it, only the plan is printed)")
	cmd.Flags().BoolVar(&includeManaged, "include-managed", false, "also select PATs patrol manages (named patrol:…)")
	return cmd
}

// endpointInventory yields every service connection of every project, a
// connection shared by several projects once (under the first), with the
// expiry of its service principal's secret where secrets can tell.
func endpointInventory(ctx context.Context, dc *devops.Client, secrets *graphLookup) iter.Seq2[audit.Endpoint, error] {
	return func(yield func(audit.Endpoint, error) bool) {
		seen := map[string]bool{}
		for p, err := range dc.ListProjects(ctx) {
			if err != nil {
				yield(audit.Endpoint{}, err)
				return
			}
			eps, err := dc.ListServiceEndpoints(ctx, p.Name, devops.EndpointFilter{IncludeFailed: true})
			if err != nil {
				yield(audit.Endpoint{}, fmt.Errorf("service connections of project %s: %w", p.Name, err))
				return
			}
			var batch []audit.Endpoint
			for _, ep := range eps {
				if seen[ep.ID] {
					continue
				}
				seen[ep.ID] = true
				batch = append(batch, audit.FromServiceEndpoint(p.Name, ep))
			}
			secrets.secretExpiry(ctx, batch)
			for _, e := range batch {
				if !yield(e, nil) {
					return
				}
			}
		}
	}
}

func newAuditEndpointsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "endpoints",
		Short: "List the service connections of every project (type, scheme, secret, workload-identity convertible)",
		Long: `endpoints lists every project's service connections: type, authentication
scheme, whether the scheme holds a secret (service principal key, password,
token) and, for Azure Resource Manager connections with a secret, that they can
be converted to workload identity federation; shared, ready and who created it.
A connection shared by several projects is listed once.`,
		Example: `  patrol audit endpoints
  patrol audit endpoints -o jsonpath='{range [?(@.convertibleToWif)]}{.project}/{.name}{"\n"}{end}'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dc, err := a.adminClient(ctx)
			if err != nil {
				return err
			}
			lw, err := output.NewListWriter(a.printer(), output.ListFormat[audit.Endpoint]{
				Header: audit.EndpointHeader(), Row: audit.EndpointRow,
				Name: func(e audit.Endpoint) string { return "endpoint/" + e.ID },
			})
			if err != nil {
				return err
			}
			var notices []audit.Notice
			gl := a.newGraphLookup(func(n audit.Notice) { notices = append(notices, n) })
			defer func() { a.printNotices(notices) }()
			for ep, err := range endpointInventory(ctx, dc, gl) {
				if err != nil {
					return err
				}
				if err := lw.Add(ep); err != nil {
					return err
				}
			}
			return lw.Close()
		},
	}
}
