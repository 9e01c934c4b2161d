package main

import (
	"context"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/spf13/cobra"
)

// fixedCompletion completes a flag from a fixed list.
func fixedCompletion(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// registerGlobalCompletions completes the enumerated global flags.
func registerGlobalCompletions(root *cobra.Command) {
	_ = root.RegisterFlagCompletionFunc("output", fixedCompletion("table", "json", "yaml"))
	_ = root.RegisterFlagCompletionFunc("auth", fixedCompletion(config.AuthMethods...))
	_ = root.RegisterFlagCompletionFunc("log-format", fixedCompletion("text", "json"))
	_ = root.RegisterFlagCompletionFunc("log-level", fixedCompletion("debug", "info", "warn", "error"))
}

// completePATIDs completes authorization IDs of active PATs (description:
// display name). It signs in like any command; on any failure it offers
// nothing rather than an error, and gives up after 10 seconds.
func completePATIDs(a *app) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		parent := cmd.Context()
		if parent == nil {
			parent = context.Background()
		}
		ctx, cancel := context.WithTimeout(parent, 10*time.Second)
		defer cancel()
		dc, err := a.patClient(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for p, err := range dc.ListPATs(ctx, devops.ListOptions{Filter: api.FilterActive, Sort: api.SortDisplayName, Ascending: true, PageSize: api.MaxPageSize}) {
			if err != nil {
				break
			}
			out = append(out, p.AuthorizationID+"\t"+p.DisplayName)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// newCompletionCmd replaces cobra's default completion command with one that
// documents installation for each shell; generation is cobra's.
func newCompletionCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a shell completion script to stdout.

  bash:       source <(patrol completion bash)
              (persist: patrol completion bash > /etc/bash_completion.d/patrol)
  zsh:        patrol completion zsh > "${fpath[1]}/_patrol"
  fish:       patrol completion fish > ~/.config/fish/completions/patrol.fish
  powershell: patrol completion powershell | Out-String | Invoke-Expression`,
		Args:      exactArgs(1, "a shell name: bash, zsh, fish or powershell"),
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			out := a.stdout
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return usageErrorf("unknown shell %q: use bash, zsh, fish or powershell", args[0])
		},
	}
	return cmd
}
