package main

import (
	"fmt"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Help pages in kubectl's style: every command has Examples; the global
// flags (the root's persistent flags) are listed once, by `patrol options`,
// and each page points there instead of repeating them. Flags a group
// gives its subcommands (endpoint --project, --endpoint…) stay on their
// pages, under "Inherited Flags".

const usageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{with patrolLocalFlags .}}

Flags:
{{.FlagUsages | trimTrailingWhitespaces}}{{end}}{{with patrolInheritedFlags .}}

Inherited Flags:
{{.FlagUsages | trimTrailingWhitespaces}}{{end}}

{{if .HasAvailableSubCommands}}Use "{{.CommandPath}} [command] --help" for more information about a command.
{{end}}Use "patrol options" for a list of global command-line options (applies to all commands).
`

var templateFuncsOnce sync.Once

// setHelpTemplate installs the usage template on root (inherited by every
// command).
func setHelpTemplate(root *cobra.Command) {
	templateFuncsOnce.Do(func() {
		cobra.AddTemplateFunc("patrolLocalFlags", func(c *cobra.Command) *pflag.FlagSet { return withoutGlobal(c, c.LocalFlags()) })
		cobra.AddTemplateFunc("patrolInheritedFlags", func(c *cobra.Command) *pflag.FlagSet { return withoutGlobal(c, c.InheritedFlags()) })
	})
	root.SetUsageTemplate(usageTemplate)
}

// withoutGlobal is fs without the root's persistent flags (nil if empty).
func withoutGlobal(c *cobra.Command, fs *pflag.FlagSet) *pflag.FlagSet {
	global := c.Root().PersistentFlags()
	out := pflag.NewFlagSet(c.Name(), pflag.ContinueOnError)
	fs.VisitAll(func(f *pflag.Flag) {
		if global.Lookup(f.Name) == nil && !f.Hidden {
			out.AddFlag(f)
		}
	})
	if !out.HasFlags() {
		return nil
	}
	return out
}

func newOptionsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "options",
		Short: "Print the global command-line options (they apply to every command)",
		Example: `  # Every option that works with any command
  patrol options

  # Global options go before or after the command
  patrol --org contoso pat list
  patrol pat list --org https://dev.azure.com/contoso -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(a.stdout, "The following options can be passed to any command:\n\n%s", cmd.Root().PersistentFlags().FlagUsages())
			return err
		},
	}
}

// commandExamples are the Examples sections of the commands that do not set
// their own (keyed by command path without "patrol "); a function, so
// nothing is built at package init.
func commandExamples() map[string]string {
	return map[string]string{
		"": `  # The PATs of the signed-in technical user
  patrol pat list --org contoso

  # Keep the credentials of patrol.yaml fresh (a CronJob runs this)
  patrol rotate --config patrol.yaml`,
		"completion": `  # Load completion into the current bash
  source <(patrol completion bash)

  # zsh, permanently
  patrol completion zsh > "${fpath[1]}/_patrol"`,
		"config": `  patrol config validate --config patrol.yaml
  patrol config schema > patrol.schema.json`,
		"config schema": `  # The JSON Schema, for editors (yaml-language-server)
  patrol config schema > patrol.schema.json`,
		"config validate": `  # Check patrol.yaml offline; exit 2 names each problem's field and line
  patrol config validate --config patrol.yaml`,
		"demo": `  # The whole PAT lifecycle against an embedded emulator, narrated
  patrol demo`,
		"emulator": `  # In the foreground on a random port, its CA written to ./ca.pem
  patrol emulator --addr 127.0.0.1:0 --ca-file ca.pem

  # Keep its PATs across restarts, with 10% throttling
  patrol emulator --state emu.json --throttle-rate 0.1`,
		"endpoint": `  patrol endpoint list --project web
  patrol endpoint validate --endpoint sonar.json`,
		"endpoint create": `  patrol endpoint create --project web --endpoint sonar.json`,
		"endpoint get":    `  patrol endpoint get --project web sonarqube -o json`,
		"endpoint header": `  # What patrol would send (masked), and unmasked for debugging
  patrol endpoint header --endpoint sonar.json
  patrol endpoint header --endpoint sonar.json --reveal`,
		"endpoint lint": `  patrol endpoint lint --manifest vss-extension.json --strict`,
		"endpoint list": `  patrol endpoint list --project web --type sonarqube
  patrol endpoint list --project web -o name`,
		"endpoint convert-to-wif": `  # What would change (nothing is changed without --yes)
  patrol endpoint convert-to-wif --project web deploy-prod

  # Convert, verify with TestConnection, report the revert deadline
  patrol endpoint convert-to-wif --project web deploy-prod --yes

  # Convert, then remove the now unused secret (keyId from the plan or the portal)
  patrol endpoint convert-to-wif --project web deploy-prod --remove-secret 6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5 --yes

  # Every convertible Azure RM connection of the project; back again
  patrol endpoint convert-to-wif --project web --all --yes
  patrol endpoint convert-to-wif --project web deploy-prod --revert --yes`,
		"endpoint request": `  patrol endpoint request --endpoint sonar.json --data-source TestConnection
  patrol endpoint request --endpoint oauth.json --binding AccessToken --configuration-file oauth-config.json`,
		"endpoint schemes": `  patrol endpoint schemes
  patrol endpoint schemes UsernamePassword -o json`,
		"endpoint set-credential": `  # Rotate a service connection's secret from a variable, never an argument
  patrol endpoint set-credential --project web sonarqube --secret-env NEW_SONAR_TOKEN

  # From stdin
  patrol pat create --name sonar --scope vso.code | patrol endpoint set-credential --project web sonarqube`,
		"endpoint test": `  patrol endpoint test --endpoint sonar.json`,
		"endpoint types": `  patrol endpoint types
  patrol endpoint types --manifest vss-extension.json -o json`,
		"endpoint update": `  patrol endpoint update --project web --endpoint sonar.json`,
		"endpoint validate": `  patrol endpoint validate --endpoint sonar.json
  patrol endpoint validate --endpoint custom.json --manifest vss-extension.json --strict`,
		"login": `  # Once, by a human: sign the technical user in and cache the refresh token
  patrol login --org contoso --tenant-id contoso.onmicrosoft.com --client-id "$APP_ID"`,
		"pat": `  patrol pat list
  patrol pat create --name ci --scope vso.build_execute --expires-in 30d`,
		"pat create": `  # Capture the secret (printed once, alone on stdout)
  SECRET=$(patrol pat create --name ci --scope vso.code --expires-in 30d)

  # Everything as JSON, friendly scope names
  patrol pat create --name feed --scope "Packaging (read)" -o json`,
		"pat get": `  patrol pat get 4ab5764f-4193-4f1d-b995-64144880b7d7
  patrol pat get ci -o jsonpath='{.validTo}'`,
		"pat list": `  patrol pat list
  patrol pat list --filter all -o wide
  patrol pat list --name-prefix patrol: -o name`,
		"pat revoke": `  patrol pat revoke 4ab5764f-4193-4f1d-b995-64144880b7d7
  patrol pat revoke ci -o json`,
		"pat scopes": `  patrol pat scopes
  patrol pat scopes -o name | grep packaging`,
		"pat update": `  patrol pat update 4ab5764f-4193-4f1d-b995-64144880b7d7 --extend-by 30d
  patrol pat update 4ab5764f-4193-4f1d-b995-64144880b7d7 --name ci-2 --scope vso.code`,
		"rotate": `  # What would change; exit 10 if something would (for CI gates)
  patrol rotate --config patrol.yaml --dry-run --detailed-exitcode

  # Rotate one credential now, due or not
  patrol rotate --config patrol.yaml --only agents --force`,
		"status": `  patrol status --config patrol.yaml
  patrol status --config patrol.yaml --only agents -o json

  # Keep watching (redraws on a terminal; in a pipe, one line per change)
  patrol status --config patrol.yaml --watch --interval 1m`,
		"token": `  # An Entra token for Azure DevOps REST calls
  curl -H "Authorization: Bearer $(patrol token)" https://dev.azure.com/contoso/_apis/projects

  # Another resource
  patrol token --scope https://vault.azure.net/.default`,
		"version": `  patrol version
  patrol version -o json`,
	}
}

// addExamples sets the Example of every command in the tree that has none.
func addExamples(c *cobra.Command) { setExamples(c, commandExamples()) }

func setExamples(c *cobra.Command, examples map[string]string) {
	if c.Example == "" {
		key := c.CommandPath()
		if key == c.Root().Name() {
			key = ""
		} else {
			key = key[len(c.Root().Name())+1:]
		}
		c.Example = examples[key]
	}
	for _, sub := range c.Commands() {
		setExamples(sub, examples)
	}
}
