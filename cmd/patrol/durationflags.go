package main

import (
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// positiveDurationFlags must be greater than zero: zero would mean "no limit"
// to the library that gets them (an http.Client without a timeout).
var positiveDurationFlags = map[string]bool{"timeout": true}

// checkDurationFlags refuses a negative duration in any flag of cmd (its own
// and the inherited ones), and zero in positiveDurationFlags, as a usage
// error naming the flag. pflag accepts "-5s" as a valid time.Duration.
func checkDurationFlags(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Value.Type() != "duration" {
			return
		}
		d, perr := time.ParseDuration(f.Value.String())
		if perr != nil {
			return // pflag already parsed it; nothing to add
		}
		switch {
		case d < 0:
			err = usageErrorf("--%s %s: a duration must not be negative; give e.g. --%s %s (see `%s --help`)", f.Name, f.Value, f.Name, f.DefValue, cmd.CommandPath())
		case d == 0 && positiveDurationFlags[f.Name]:
			err = usageErrorf("--%s %s: must be greater than zero (zero would mean no limit); give e.g. --%s %s (see `%s --help`)", f.Name, f.Value, f.Name, f.DefValue, cmd.CommandPath())
		}
	})
	return err
}
