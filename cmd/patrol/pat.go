package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/spf13/cobra"
)

var durationRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\d+)([dw])$`) })

// parseLifetime parses a positive duration: Go syntax (720h, 90m, 1h30m) or
// whole days/weeks (30d, 2w). The flag name goes into the error.
func parseLifetime(flag, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if m := durationRE().FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 100000 {
			return 0, usageErrorf("%s %q is too large", flag, s)
		}
		unit := 24 * time.Hour
		if m[2] == "w" {
			unit *= 7
		}
		d = time.Duration(n) * unit
	} else {
		var err error
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, usageErrorf("%s %q is not a duration: use e.g. 720h, 30d or 2w", flag, s)
		}
	}
	if d <= 0 {
		return 0, usageErrorf("%s %q must be positive", flag, s)
	}
	return d, nil
}

var guidRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
})

// authorizationIDArg validates the PAT id argument.
func authorizationIDArg(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageErrorf("%s needs one argument, the PAT's authorization ID (a GUID; `patrol pat list` shows them), got %d", cmd.CommandPath(), len(args))
	}
	if !guidRE().MatchString(args[0]) {
		return usageErrorf("%q is not an authorization ID: expected a GUID such as 4ab5764f-4193-4f1d-b995-64144880b7d7 (`patrol pat list` shows them)", args[0])
	}
	return nil
}

func newPATCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pat",
		Short: "List, create, get, update and revoke personal access tokens",
		Long: `Manage the signed-in user's Azure DevOps personal access tokens through the
PAT lifecycle API. The API accepts only user identities (a technical user via
--auth ropc or --auth device-code); service-principal and managed-identity
sign-ins are refused before any call is made.

Commands are non-interactive: revoke does not ask for confirmation.`,
		Args: noArgs,
	}
	cmd.AddCommand(newPATListCmd(a), newPATCreateCmd(a), newPATGetCmd(a), newPATUpdateCmd(a), newPATRevokeCmd(a), newPATScopesCmd(a))
	return cmd
}

// patClient signs in as a user (fail fast otherwise) and returns the client.
func (a *app) patClient(ctx context.Context) (*devops.Client, error) {
	c, err := a.connection()
	if err != nil {
		return nil, err
	}
	if err := c.RequireOrganization(); err != nil {
		return nil, err
	}
	if _, err := a.userToken(ctx); err != nil {
		return nil, err
	}
	return a.devops(ctx)
}

func newPATListCmd(a *app) *cobra.Command {
	var (
		filter, sort, prefix string
		ascending            bool
		top                  int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List PATs, following every page",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch filter {
			case api.FilterActive, api.FilterRevoked, api.FilterExpired, api.FilterAll:
			default:
				return usageErrorf("--filter %q is not valid: use active, revoked, expired or all", filter)
			}
			switch sort {
			case api.SortDisplayName, api.SortDisplayDate, api.SortStatus:
			default:
				return usageErrorf("--sort %q is not valid: use displayName, displayDate or status", sort)
			}
			if top < 0 {
				return usageErrorf("--top %d must be 0 (all) or positive", top)
			}
			ctx := cmd.Context()
			dc, err := a.patClient(ctx)
			if err != nil {
				return err
			}
			defer a.listGC()()
			// Each page is printed as it arrives (output.ListWriter): memory
			// stays that of one page however many PATs there are.
			now := a.now()
			pr := a.printer()
			w, err := output.NewListWriter(pr, patListFormat(now))
			if err != nil {
				return err
			}
			// The API marks no PAT as revoked: with --filter all, one listing
			// of the revoked ones first says which are.
			revoked := map[string]bool{}
			if filter == api.FilterAll {
				if revoked, err = revokedIDs(ctx, dc, prefix); err != nil {
					return err
				}
			}
			globals := 0
			prog := a.progress() // stderr on a terminal: "page 3, 300 PATs…", throttling
			defer prog.done()
			for p, err := range dc.ListPATs(ctx, devops.ListOptions{Filter: filter, Sort: sort, Ascending: ascending, PageSize: api.MaxPageSize, NamePrefix: prefix}) {
				if err != nil {
					return err
				}
				v := viewOf(p, now, filter == api.FilterRevoked || revoked[strings.ToLower(p.AuthorizationID)])
				if v.Global {
					globals++
				}
				if err := w.Add(v); err != nil {
					return err
				}
				if top > 0 && w.Len() >= top {
					break
				}
				if w.Len()%api.MaxPageSize == 0 {
					prog.clear()
					if err := w.Flush(); err != nil {
						return err
					}
					prog.show("page %d, %d PATs…", w.Len()/api.MaxPageSize, w.Len())
				}
			}
			prog.clear()
			if err := w.Close(); err != nil {
				return err
			}
			warnGlobal(a, globals)
			if w.Len() == 0 && !pr.Machine() {
				fmt.Fprintf(a.stderr, "no %s PATs", filter)
				if prefix != "" {
					fmt.Fprintf(a.stderr, " named %s…", prefix)
				}
				fmt.Fprintln(a.stderr)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&filter, "filter", api.FilterActive, "which PATs: active|revoked|expired|all")
	f.StringVar(&sort, "sort", api.SortDisplayName, "sort by displayName|displayDate|status")
	f.BoolVar(&ascending, "ascending", false, "sort ascending (default descending: Z→A by displayName)")
	f.StringVar(&prefix, "name-prefix", "", "only PATs whose display name starts with this")
	f.IntVar(&top, "top", 0, "show at most N PATs (0 = all; paging stops early)")
	_ = cmd.RegisterFlagCompletionFunc("filter", fixedCompletion(api.FilterActive, api.FilterRevoked, api.FilterExpired, api.FilterAll))
	_ = cmd.RegisterFlagCompletionFunc("sort", fixedCompletion(api.SortDisplayName, api.SortDisplayDate, api.SortStatus))
	return cmd
}

// warnGlobal warns on stderr about n global PATs listed.
func warnGlobal(a *app, n int) {
	switch {
	case n == 0:
	case api.GlobalPATsRetired(a.now()):
		fmt.Fprintf(a.stderr, "warning: %d global PAT(s) (all organisations) listed: global PATs stopped working on %s and no longer authenticate; create organisation-scoped PATs in their place and revoke these\n", n, api.GlobalPATRetirement.Format("2006-01-02"))
	default:
		fmt.Fprintf(a.stderr, "warning: %d global PAT(s) (all organisations) listed: every global PAT stops working on %s; replace them with organisation-scoped PATs\n", n, api.GlobalPATRetirement.Format("2006-01-02"))
	}
}

// validToFlags resolves --expires-in / --valid-to.
func validToFrom(now time.Time, expiresIn, validTo string, expiresSet, validToSet bool) (time.Time, error) {
	if expiresSet && validToSet {
		return time.Time{}, usageErrorf("--expires-in and --valid-to are mutually exclusive: give one")
	}
	if validToSet {
		t, err := time.Parse(time.RFC3339, validTo)
		if err != nil {
			return time.Time{}, usageErrorf("--valid-to %q is not an RFC 3339 time: use e.g. 2027-01-31T00:00:00Z", validTo)
		}
		if !t.After(now) {
			return time.Time{}, usageErrorf("--valid-to %s is not in the future", t.UTC().Format(time.RFC3339))
		}
		return t.UTC(), nil
	}
	d, err := parseLifetime("--expires-in", expiresIn)
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(d).UTC(), nil
}

func newPATCreateCmd(a *app) *cobra.Command {
	var (
		name, expiresIn, validTo string
		scopes                   []string
		fullAccess, allOrgs      bool
		allowUnknown             bool
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME --scope SCOPE [--scope SCOPE…] [--expires-in 30d | --valid-to TIME]",
		Short: "Create a PAT and print its secret (the only time it is shown)",
		Long: `Create an organisation-scoped PAT. The secret is printed on stdout exactly once;
with -o json it is the "token" field. Scopes are vso.* strings or friendly names
(see docs/cli.md); full access (app_token) needs --full-access.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(name) == "" {
				return usageErrorf("--name is required: the PAT's display name")
			}
			if len(scopes) == 0 && !fullAccess {
				return usageErrorf("at least one --scope is required (e.g. --scope vso.code), or --full-access for all scopes")
			}
			if fullAccess && len(scopes) == 0 {
				scopes = []string{"app_token"}
			}
			scope, err := parseScopes(scopes, fullAccess, allowUnknown)
			if err != nil {
				return err
			}
			now := a.now()
			vt, err := validToFrom(now, expiresIn, validTo, cmd.Flags().Changed("expires-in"), cmd.Flags().Changed("valid-to"))
			if err != nil {
				return err
			}
			if allOrgs && api.GlobalPATsRetired(now) {
				return usageErrorf("--all-orgs asks for a global PAT, but %s", api.GlobalPATRetiredAdvice)
			}
			if allOrgs {
				fmt.Fprintf(a.stderr, "warning: --all-orgs creates a global PAT; every global PAT stops working on %s and tenant policy may block creating them: prefer an organisation-scoped PAT\n", api.GlobalPATRetirement.Format("2006-01-02"))
			}
			ctx := cmd.Context()
			dc, err := a.patClient(ctx)
			if err != nil {
				return err
			}
			p, err := dc.CreatePAT(ctx, api.PatTokenCreateRequest{DisplayName: name, Scope: scope, ValidTo: vt, AllOrgs: allOrgs})
			if err != nil {
				return err
			}
			v := viewOf(p, now, false)
			if p.Token != nil {
				v.Token = *p.Token
			}
			if devops.Clamped(vt, p.ValidTo) {
				v.Clamped, v.RequestedValidTo = true, &vt
				fmt.Fprintf(a.stderr, "note: the organisation's maximum-lifespan policy clamped validTo to %s (asked for %s)\n", p.ValidTo.UTC().Format(time.RFC3339), vt.Format(time.RFC3339))
			}
			pr := a.printer()
			if pr.Machine() {
				return pr.Print(v)
			}
			if v.Token == "" {
				return fmt.Errorf("the service created PAT %s but returned no secret: revoke it with `patrol pat revoke %s` and try again", v.AuthorizationID, v.AuthorizationID)
			}
			fmt.Fprintf(a.stderr, "Created PAT %q (authorization ID %s), valid to %s.\nThe secret follows on stdout; it is shown only this once — store it now.\n", v.DisplayName, v.AuthorizationID, v.ValidTo.UTC().Format(time.RFC3339))
			_, err = fmt.Fprintln(a.stdout, v.Token)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "display name (required)")
	f.StringArrayVar(&scopes, "scope", nil, "scope: vso.* string or friendly name; repeatable, or space-separated")
	f.BoolVar(&fullAccess, "full-access", false, "allow full access (app_token); without --scope creates a full-access PAT")
	f.BoolVar(&allowUnknown, "allow-unknown-scope", false, "pass vso.* scopes that are not in patrol's catalogue through unchanged (for scopes newer than this release)")
	f.StringVar(&expiresIn, "expires-in", "30d", "lifetime from now: Go duration (720h) or days/weeks (30d, 2w)")
	f.StringVar(&validTo, "valid-to", "", "expiry as RFC 3339 time (instead of --expires-in)")
	_ = cmd.RegisterFlagCompletionFunc("scope", completeScopes)
	f.BoolVar(&allOrgs, "all-orgs", false, "create a global PAT for all organisations (retired by Microsoft: refused from "+api.GlobalPATRetirement.Format("2006-01-02")+")")
	return cmd
}

func newPATGetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:               "get AUTHORIZATION_ID|NAME",
		Short:             "Show one PAT (never its secret), by authorization ID or unique display name",
		Args:              patRefArg,
		ValidArgsFunction: completePATIDs(a),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dc, err := a.patClient(ctx)
			if err != nil {
				return err
			}
			p, revoked, err := resolvePAT(ctx, dc, args[0])
			if err != nil {
				return err
			}
			v := viewOf(p, a.now(), revoked)
			if v.Global {
				warnGlobal(a, 1)
			}
			return a.printer().Print(patDetail{PATView: v, now: a.now()})
		},
	}
}

func newPATUpdateCmd(a *app) *cobra.Command {
	var (
		name, validTo, extendBy string
		scopes                  []string
		fullAccess              bool
		allowUnknown            bool
	)
	cmd := &cobra.Command{
		Use:   "update AUTHORIZATION_ID [--name NAME] [--scope SCOPE…] [--valid-to TIME | --extend-by 30d]",
		Short: "Rename a PAT, change its scope or move its expiry",
		Long: `Update a PAT in place (same authorization ID, same secret). The maximum-lifespan
policy limits validTo to creation date + maximum lifespan; when the service
clamps the date, patrol says so (and -o json carries "clamped": true).`,
		Args:              authorizationIDArg,
		ValidArgsFunction: completePATIDs(a),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			if !fl.Changed("name") && !fl.Changed("scope") && !fl.Changed("valid-to") && !fl.Changed("extend-by") && !fullAccess {
				return usageErrorf("nothing to update: give --name, --scope, --valid-to or --extend-by")
			}
			if fl.Changed("valid-to") && fl.Changed("extend-by") {
				return usageErrorf("--valid-to and --extend-by are mutually exclusive: give one")
			}
			req := api.PatTokenUpdateRequest{AuthorizationID: args[0]}
			if fl.Changed("name") {
				if strings.TrimSpace(name) == "" {
					return usageErrorf("--name must not be empty")
				}
				req.DisplayName = &name
			}
			if fl.Changed("scope") || fullAccess {
				if fullAccess && len(scopes) == 0 {
					scopes = []string{"app_token"}
				}
				s, err := parseScopes(scopes, fullAccess, allowUnknown)
				if err != nil {
					return err
				}
				req.Scope = &s
			}
			var ext time.Duration
			if fl.Changed("extend-by") {
				var err error
				if ext, err = parseLifetime("--extend-by", extendBy); err != nil {
					return err
				}
			}
			var want *time.Time
			if fl.Changed("valid-to") {
				t, err := validToFrom(a.now(), "", validTo, false, true)
				if err != nil {
					return err
				}
				want = &t
			}
			ctx := cmd.Context()
			dc, err := a.patClient(ctx)
			if err != nil {
				return err
			}
			if ext > 0 {
				cur, err := dc.GetPAT(ctx, args[0])
				if err != nil {
					return err
				}
				t := cur.ValidTo.Add(ext).UTC()
				want = &t
			}
			req.ValidTo = want
			p, err := dc.UpdatePAT(ctx, req)
			if err != nil {
				return err
			}
			v := viewOf(p, a.now(), false) // only valid PATs can be updated
			if want != nil && devops.Clamped(*want, p.ValidTo) {
				v.Clamped, v.RequestedValidTo = true, want
				fmt.Fprintf(a.stderr, "note: the maximum-lifespan policy clamped validTo to %s (asked for %s); updates cannot go past creation date + maximum lifespan — create a new PAT to go further\n", p.ValidTo.UTC().Format(time.RFC3339), want.Format(time.RFC3339))
			}
			return a.printer().Print(patDetail{PATView: v, now: a.now()})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "new display name")
	f.StringArrayVar(&scopes, "scope", nil, "new scope(s), replacing the old ones; repeatable")
	f.BoolVar(&fullAccess, "full-access", false, "allow full access (app_token)")
	f.BoolVar(&allowUnknown, "allow-unknown-scope", false, "pass vso.* scopes that are not in patrol's catalogue through unchanged")
	f.StringVar(&validTo, "valid-to", "", "new expiry as RFC 3339 time")
	f.StringVar(&extendBy, "extend-by", "", "move the current expiry later by a duration (720h, 30d)")
	_ = cmd.RegisterFlagCompletionFunc("scope", completeScopes)
	return cmd
}

// Names implements output.Namer.
func (r RevokeResult) Names() []string { return []string{r.AuthorizationID} }

// RevokeResult is the output of `pat revoke`. AlreadyRevoked: the PAT was
// revoked before this command, which changed nothing (exit 0: the PAT is
// revoked, as asked).
type RevokeResult struct {
	AuthorizationID string `json:"authorizationId"`
	DisplayName     string `json:"displayName"`
	Revoked         bool   `json:"revoked"`
	AlreadyRevoked  bool   `json:"alreadyRevoked"`
}

// Table implements output.Tabler.
func (r RevokeResult) Table() output.TableData {
	msg := fmt.Sprintf("Revoked PAT %s (%q).", r.AuthorizationID, r.DisplayName)
	if r.AlreadyRevoked {
		msg = fmt.Sprintf("PAT %s (%q) was already revoked; nothing changed.", r.AuthorizationID, r.DisplayName)
	}
	return output.TableData{Rows: [][]string{{msg}}}
}

func newPATRevokeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke AUTHORIZATION_ID|NAME",
		Short: "Revoke a PAT immediately, by authorization ID or unique display name (no confirmation prompt)",
		Long: `Revoke a PAT at once. The argument is its authorization ID or its display name
when exactly one PAT (active, expired or revoked) has it; several PATs of that
name are a usage error listing their authorization IDs. Revoking a PAT that is
already revoked changes nothing, says so and exits 0 (-o json: "alreadyRevoked": true).`,
		Args:              patRefArg,
		ValidArgsFunction: completePATIDs(a),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dc, err := a.patClient(ctx)
			if err != nil {
				return err
			}
			p, revoked, err := resolvePAT(ctx, dc, args[0])
			if err != nil {
				return err
			}
			res := RevokeResult{AuthorizationID: p.AuthorizationID, DisplayName: p.DisplayName, Revoked: true, AlreadyRevoked: revoked}
			if !revoked {
				if err := dc.RevokePAT(ctx, p.AuthorizationID); err != nil {
					return err
				}
			}
			return a.printer().Print(res)
		},
	}
}
