package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/spf13/cobra"
)

// patRefArg validates the argument of get and revoke: one authorization ID
// or display name.
func patRefArg(cmd *cobra.Command, args []string) error {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return usageErrorf("%s needs one argument, the PAT's authorization ID (a GUID) or its display name when that is unique (`patrol pat list` shows both), got %d", cmd.CommandPath(), len(args))
	}
	return nil
}

// revokedIDs returns the authorization IDs (lower case) of the caller's
// revoked PATs whose display names start with prefix. The PAT API says a PAT
// is revoked only through displayFilterOption=revoked.
func revokedIDs(ctx context.Context, dc *devops.Client, prefix string) (map[string]bool, error) {
	ids := map[string]bool{}
	for p, err := range dc.ListPATs(ctx, devops.ListOptions{Filter: api.FilterRevoked, PageSize: api.MaxPageSize, NamePrefix: prefix}) {
		if err != nil {
			return nil, err
		}
		ids[strings.ToLower(p.AuthorizationID)] = true
	}
	return ids, nil
}

// resolvePAT finds the PAT ref names: an authorization ID, or a display name
// that exactly one of the caller's PATs (active, expired or revoked) has. It
// also says whether that PAT is revoked.
func resolvePAT(ctx context.Context, dc *devops.Client, ref string) (api.PatToken, bool, error) {
	var p api.PatToken
	if guidRE().MatchString(ref) {
		var err error
		if p, err = dc.GetPAT(ctx, ref); err != nil {
			return api.PatToken{}, false, err
		}
	} else {
		var matches []api.PatToken
		for q, err := range dc.ListPATs(ctx, devops.ListOptions{Filter: api.FilterAll, PageSize: api.MaxPageSize, NamePrefix: ref}) {
			if err != nil {
				return api.PatToken{}, false, err
			}
			if q.DisplayName == ref {
				matches = append(matches, q)
			}
		}
		switch len(matches) {
		case 0:
			return api.PatToken{}, false, errkind.New(errkind.NotFound, fmt.Errorf("no PAT is named %q: give its authorization ID or exact display name (`patrol pat list --filter all` lists them)", ref))
		case 1:
			p = matches[0]
		default:
			ids := make([]string, len(matches))
			for i, m := range matches {
				ids[i] = m.AuthorizationID
			}
			return api.PatToken{}, false, usageErrorf("%d PATs are named %q: give one of their authorization IDs instead: %s", len(matches), ref, strings.Join(ids, ", "))
		}
	}
	revoked, err := revokedIDs(ctx, dc, p.DisplayName)
	if err != nil {
		return api.PatToken{}, false, err
	}
	return p, revoked[strings.ToLower(p.AuthorizationID)], nil
}
