package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/spf13/cobra"
)

// TokenView is `patrol token -o json|yaml`. The access token is printed
// because printing it is what the user asked for.
type TokenView struct {
	AccessToken string    `json:"accessToken"`
	TokenType   string    `json:"tokenType"`
	ExpiresOn   time.Time `json:"expiresOn"`
	Identity    string    `json:"identity"`
	Scope       string    `json:"scope"`
}

func newTokenCmd(a *app) *cobra.Command {
	var scope string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print an Entra access token for Azure DevOps (the SP way to replace a PAT)",
		Long: `Sign in with the configured method and print an Entra ID access token for
Azure DevOps on stdout. Consumers that accept Entra tokens (agent registration,
git with "Authorization: Bearer", the REST API) can use it instead of a PAT;
it lives about an hour, so fetch a fresh one for every use.

Default output is the bare token (for TOKEN=$(patrol token)); -o json or -o yaml
prints {accessToken, tokenType, expiresOn, identity, scope}.

Works with every --auth method, including service principals and managed
identities.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			opts, err := a.entraOptions()
			if err != nil {
				return err
			}
			if scope != "" {
				opts.Scope = scope
			}
			ts, err := entra.New(opts)
			if err != nil {
				return err
			}
			tok, err := ts.Token(ctx)
			if err != nil {
				return err
			}
			f, err := output.ParseFormat(a.outputFormat)
			if err != nil {
				return err
			}
			if f != output.Auto && f != output.Table && f != output.Wide {
				sc := opts.Scope
				if sc == "" {
					sc = defaultScope
				}
				return a.printer().Print(TokenView{AccessToken: tok.AccessToken, TokenType: "Bearer", ExpiresOn: tok.ExpiresOn.UTC(), Identity: tok.Kind.String(), Scope: sc})
			}
			if f == output.Table || f == output.Wide {
				fmt.Fprintf(a.stderr, "%s token, expires %s\n", tok.Kind, tok.ExpiresOn.UTC().Format(time.RFC3339))
			}
			_, err = fmt.Fprintln(a.stdout, strings.TrimSpace(tok.AccessToken))
			return err
		},
	}
	cmd.Flags().StringVar(&scope, "scope", "", "scope to request (default the Azure DevOps resource: "+defaultScope+")")
	return cmd
}
