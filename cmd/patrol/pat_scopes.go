package main

import (
	"strings"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/spf13/cobra"
)

// parseScopes maps the --scope values through the devops scope catalogue.
func parseScopes(scopes []string, fullAccess, allowUnknown bool) (string, error) {
	opts := []devops.ScopeOption{devops.FullAccessSwitch("--full-access")}
	if fullAccess {
		opts = append(opts, devops.AllowFullAccess())
	}
	if allowUnknown {
		opts = append(opts, devops.AllowUnknownScopes())
	}
	s, err := devops.ParseScopes(scopes, opts...)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", usageErrorf("--scope is empty: give at least one scope, e.g. --scope vso.code")
	}
	return s, nil
}

// ScopeView is one catalogue entry of `patrol pat scopes`.
type ScopeView struct {
	Scope         string `json:"scope"`
	Name          string `json:"name"`
	Area          string `json:"area"`
	HighPrivilege bool   `json:"highPrivilege"`
}

// ScopeList is `patrol pat scopes`.
type ScopeList []ScopeView

// Table implements output.Tabler.
func (l ScopeList) Table() output.TableData {
	t := output.TableData{Header: []string{"SCOPE", "NAME", "AREA", "HIGH PRIVILEGE"}}
	for _, s := range l {
		hp := ""
		if s.HighPrivilege {
			hp = "yes"
		}
		t.Rows = append(t.Rows, []string{s.Scope, s.Name, s.Area, hp})
	}
	return t
}

// Names implements output.Namer: the wire names.
func (l ScopeList) Names() []string {
	n := make([]string, len(l))
	for i, s := range l {
		n[i] = s.Scope
	}
	return n
}

func newPATScopesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "scopes",
		Short: "List the PAT scopes patrol knows (wire names and friendly names for --scope)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l := ScopeList{}
			for _, s := range devops.Scopes {
				l = append(l, ScopeView{Scope: s.Name, Name: s.Friendly, Area: s.Area, HighPrivilege: s.HighPrivilege})
			}
			return a.printer().Print(l)
		},
	}
}

// completeScopes completes --scope with the catalogue's wire names (the
// friendly name as the description), case-insensitively by prefix.
func completeScopes(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, s := range devops.Scopes {
		if strings.HasPrefix(strings.ToLower(s.Name), strings.ToLower(toComplete)) {
			out = append(out, s.Name+"\t"+s.Friendly)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
