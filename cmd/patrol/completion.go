package main

import (
	"github.com/spf13/cobra"
)

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
