package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/spf13/cobra"
)

// defaultEmulatorAddr is a fixed port so that exported variables stay valid
// across restarts; use --addr 127.0.0.1:0 for a random one.
const defaultEmulatorAddr = "127.0.0.1:8443"

func newEmulatorCmd(a *app) *cobra.Command {
	var (
		addr, seedFile, stateFile, caFile string
		printCreds                        bool
		allowOutbound                     []string
		f                                 struct {
			latency, retryAfter, tokenLifetime  time.Duration
			throttle, serverErrors, signInPages float64
			routes                              []string
			seed                                int64
			rateLimit, rateCost                 float64
			rateWindow                          time.Duration
		}
	)
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Run the Entra ID + Azure DevOps emulator in the foreground on 127.0.0.1",
		Long: `Run patrol's emulator of Microsoft Entra ID, Azure DevOps (PAT API, service
endpoints, variable groups) and Azure Key Vault until interrupted. It listens on
127.0.0.1 only, writes its CA certificate to --ca-file and prints the export
lines that point patrol (and azidentity-based tools) at it. Its endpointproxy
(running service-connection data sources) calls only loopback addresses
unless --allow-outbound names more hosts.

stdout carries only the export lines and is closed after them, so a
command substitution returns as soon as the emulator listens, and the
emulator keeps running in the background:

  eval "$(patrol emulator --print-credentials &)"   # or copy the lines
  patrol pat list
  kill "$PATROL_EMULATOR_PID"                       # stop it (frees the port)

The default seed's users, apps and passwords are emulator-only values
(docs/emulator.md). --print-credentials adds export lines for the default
technical user's password and the app's client secret. The default --addr
is 127.0.0.1:8443, or PATROL_EMULATOR_ADDR when set.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if v, ok := a.env("PATROL_EMULATOR_ADDR"); ok && v != "" && !cmd.Flags().Changed("addr") {
				addr = v
			}
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return usageErrorf("--addr (or PATROL_EMULATOR_ADDR) %q is not host:port: use e.g. 127.0.0.1:8443", addr)
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return usageErrorf("--addr %q: the emulator binds to 127.0.0.1 only; use 127.0.0.1:PORT", addr)
			}
			for _, r := range []struct {
				name string
				v    float64
			}{{"--throttle-rate", f.throttle}, {"--server-error-rate", f.serverErrors}, {"--sign-in-page-rate", f.signInPages}} {
				if r.v < 0 || r.v > 1 {
					return usageErrorf("%s %g must be between 0 and 1", r.name, r.v)
				}
			}
			if err := emulator.ParseAllowOutbound(allowOutbound); err != nil {
				return usageErrorf("--allow-outbound: %v", err)
			}
			opts := emulator.Options{
				Addr:          addr,
				StateFile:     stateFile,
				Logger:        a.logger(),
				AllowOutbound: allowOutbound,
				Faults: emulator.Faults{
					Latency:         emulator.Duration(f.latency),
					ThrottleRate:    f.throttle,
					RetryAfter:      emulator.Duration(f.retryAfter),
					ServerErrorRate: f.serverErrors,
					SignInPageRate:  f.signInPages,
					TokenLifetime:   emulator.Duration(f.tokenLifetime),
					Routes:          f.routes,
					Seed:            f.seed,
					RateLimit:       emulator.RateLimit{Limit: f.rateLimit, Window: emulator.Duration(f.rateWindow), Cost: f.rateCost},
				},
			}
			if err := opts.Faults.RateLimit.Validate(); err != nil {
				return usageErrorf("--rate-limit, --rate-limit-window, --rate-limit-cost: %v", err)
			}
			if seedFile != "" {
				s, err := emulator.LoadSeed(seedFile)
				if err != nil {
					return usageErrorf("--seed %s: %v", seedFile, err)
				}
				opts.Seed = &s
			}
			ctx := cmd.Context()
			e, err := emulator.Start(ctx, opts)
			if errors.Is(err, syscall.EADDRINUSE) {
				return errkind.WithHint(errkind.Usage, err, fmt.Sprintf("another process already listens on %s: stop it or pick another --addr (127.0.0.1:0 picks a free port)", addr))
			}
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return errkind.WithHint(errkind.Usage, err, "--state and --seed must name files (the state file is created if missing), not directories; check the path")
			}
			if err != nil {
				return err
			}
			defer e.Close()
			if caFile == "" {
				caFile = filepath.Join(os.TempDir(), "patrol-emulator-ca.pem")
			}
			if abs, err := filepath.Abs(caFile); err == nil {
				caFile = abs
			}
			if err := e.WriteCA(caFile); err != nil {
				return errkind.WithHint(errkind.Usage, fmt.Errorf("writing the emulator CA to --ca-file %s: %w", caFile, err),
					"--ca-file must name a file in a writable directory (not a directory itself)")
			}
			env := e.Env(caFile)
			keys := make([]string, 0, len(env))
			for k := range env {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var b strings.Builder
			fmt.Fprintf(&b, "# patrol emulator at %s (CA: %s)\n", e.URL(), caFile)
			for _, k := range keys {
				fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(env[k]))
			}
			fmt.Fprintf(&b, "export PATROL_EMULATOR_PID=%d  # kill \"$PATROL_EMULATOR_PID\" stops the emulator\n", os.Getpid())
			fmt.Fprintf(&b, "export AZURE_USERNAME=%s\n", shellQuote(emulator.DefaultUser))
			if printCreds {
				fmt.Fprintf(&b, "export AZURE_PASSWORD=%s  # emulator-only value\n", shellQuote(emulator.DefaultPassword))
				fmt.Fprintf(&b, "export AZURE_CLIENT_SECRET=%s  # emulator-only value\n", shellQuote(emulator.DefaultClientSecret))
			} else {
				b.WriteString("# set AZURE_PASSWORD to the default user's emulator-only password (see docs/emulator.md), or rerun with --print-credentials\n")
			}
			if _, err := fmt.Fprint(a.stdout, b.String()); err != nil {
				return err
			}
			// Nothing else goes to stdout: closing it lets
			// eval "$(patrol emulator &)" return once the lines are out
			// (a command substitution waits for EOF).
			if c, ok := a.stdout.(io.Closer); ok {
				if err := c.Close(); err != nil {
					return fmt.Errorf("closing stdout after the export lines: %w", err)
				}
			}
			fmt.Fprintln(a.stderr, "emulator running; press Ctrl-C to stop")
			<-ctx.Done()
			fmt.Fprintln(a.stderr, "emulator stopped")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&addr, "addr", defaultEmulatorAddr, "listen address (127.0.0.1 only; port 0 = random; env PATROL_EMULATOR_ADDR)")
	fl.StringVar(&seedFile, "seed", "", "seed file (YAML/JSON) describing tenants, users, apps, orgs and policies (default: built-in seed)")
	fl.StringVar(&stateFile, "state", "", "state file: loaded at start, rewritten after every change (keeps PATs across restarts)")
	fl.StringVar(&caFile, "ca-file", "", "where to write the CA certificate PEM (default $TMPDIR/patrol-emulator-ca.pem)")
	fl.BoolVar(&printCreds, "print-credentials", false, "also print export lines for the default user's password and client secret (emulator-only values)")
	fl.StringSliceVar(&allowOutbound, "allow-outbound", nil, "HOST[:PORT] the endpointproxy may call besides loopback (repeatable or comma-separated; default: loopback only)")
	fl.DurationVar(&f.latency, "latency", 0, "fault: latency added to each request")
	fl.Float64Var(&f.throttle, "throttle-rate", 0, "fault: fraction (0..1) of requests answered 429 with Retry-After")
	fl.DurationVar(&f.retryAfter, "retry-after", 0, "fault: Retry-After of injected 429s (default 1s)")
	fl.Float64Var(&f.serverErrors, "server-error-rate", 0, "fault: fraction (0..1) of requests answered 503")
	fl.Float64Var(&f.signInPages, "sign-in-page-rate", 0, "fault: fraction (0..1) of Azure DevOps requests answered 203 with an HTML sign-in page")
	fl.DurationVar(&f.tokenLifetime, "token-lifetime", 0, "lifetime of issued access tokens (default 3599s)")
	fl.StringArrayVar(&f.routes, "fault-route", nil, "restrict faults to routes containing this substring (repeatable)")
	fl.Int64Var(&f.seed, "fault-seed", 0, "seed of the fault sequence (deterministic faults)")
	fl.Float64Var(&f.rateLimit, "rate-limit", 0, "usage budget of the Azure DevOps routes in units (0 = off; Azure DevOps: 200 TSTUs): X-RateLimit-* headers from half of it, 429 with Retry-After past it")
	fl.DurationVar(&f.rateWindow, "rate-limit-window", 0, "time the budget's usage takes to decay from --rate-limit to zero (default 5m)")
	fl.Float64Var(&f.rateCost, "rate-limit-cost", 0, "units one request costs (default 1)")
	return cmd
}

// shellQuote quotes s for POSIX shells when needed.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
