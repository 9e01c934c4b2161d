// Command patrol keeps Azure DevOps credentials alive with no human in the
// loop: Entra ID sign-in, the PAT lifecycle API, declarative rotation into
// sinks, service-endpoint authentication schemes, and an embedded emulator.
//
// This package holds only CLI wiring; the work happens in internal/….
// See README.md and docs/cli.md for every command, flag and exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
