package main

import (
	"fmt"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/sink"
	"github.com/spf13/cobra"
)

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check patrol.yaml and print its JSON Schema",
		Args:  noArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate",
		Short: "Validate patrol.yaml (--config, PATROL_CONFIG or ./patrol.yaml) without touching the network",
		Long: `validate reads patrol.yaml strictly: unknown fields, wrong types, bad durations,
renewBefore not shorter than lifetime, duplicate names, unknown sink types or
sink parameters and unknown scopes are reported with the field path, the line
and the fix. Exit code 0 when valid, 2 otherwise.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := a.loadRotationFile()
			if err != nil {
				return err
			}
			sinks := 0
			for _, c := range f.Credentials {
				sinks += len(c.Sinks)
			}
			fmt.Fprintf(a.stdout, "%s is valid: %d credential(s), %d sink(s)\n", f.Path, len(f.Credentials), sinks)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of patrol.yaml (also in docs/patrol.schema.json)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := config.Schema(sink.Types())
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(b)
			return err
		},
	})
	return cmd
}
