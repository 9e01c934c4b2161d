package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/spf13/cobra"
)

// app is what every command receives: the parsed global options, the
// process's I/O and environment, and lazily built shared things (each built
// at most once per process, so one sign-in serves every API call).
//
// Commands written by other engineers use:
//
//	a.connection()        config.Connection (file < env < flags), validated
//	a.httpClient()        *http.Client (proxy from env, CA bundle, TLS 1.2+, timeouts, User-Agent)
//	a.tokenSource(ctx)    entra.TokenSource (cached; refresh ≥5 min early)
//	a.userToken(ctx)      a token checked with entra.RequireUser (PAT API)
//	a.devops(ctx)         *devops.Client for the configured organisation
//	a.printer()           output.Printer for -o table|wide|json|yaml|name|jsonpath=… (default table) and --no-headers
//	a.logger()            *slog.Logger (never logs secrets; redacting ReplaceAttr)
//	a.stdin / a.stdout / a.stderr, a.env (environment lookup), a.now()
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	env    config.LookupEnv
	now    func() time.Time

	root *cobra.Command

	// global flags
	configFile   string
	flags        config.ConnectionFlags
	outputFormat string
	noHeaders    bool
	timeout      time.Duration

	connOnce sync.Once
	conn     config.Connection
	connErr  error

	fileOnce sync.Once // patrol.yaml, read strictly once (config_file.go)
	file     *config.File
	fileErr  error

	logOnce sync.Once
	log     *slog.Logger

	hcOnce sync.Once
	hc     *http.Client
	hcErr  error

	tsMu sync.Mutex
	ts   entra.TokenSource

	dcMu sync.Mutex
	dc   *devops.Client

	accts accounts // per identity and organisation (rotate_accounts.go)

	prog atomic.Pointer[progress] // the active progress line (progress.go), nil off a terminal

	// refresh-token store of a k8s-secret:// token cache (login_cache.go),
	// built once per process so login and later sign-ins share it.
	kubeMu        sync.Mutex
	kubeStore     entra.RefreshTokenStore
	kubeStoreRef  secretRef
	kubeStoreName string
	cacheWhere    string

	// defaultLogLevel applies when neither --log-level, PATROL_LOG_LEVEL
	// nor log.level is set. A command may change it in its PreRunE (e.g.
	// rotate, which runs unattended, prefers info).
	defaultLogLevel slog.Level
}

func newApp(env config.LookupEnv, stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{
		stdin: stdin, stdout: stdout, stderr: stderr, env: env,
		now:             time.Now,
		defaultLogLevel: slog.LevelWarn,
	}
}

// newRootCmd builds the command tree. Other engineers register their
// commands with one AddCommand line in the marked block.
func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "patrol",
		Short: "Keep Azure DevOps credentials alive with no human in the loop",
		Long: `patrol signs in to Microsoft Entra ID without interaction, manages Azure DevOps
personal access tokens through the PAT lifecycle API, rotates them declaratively
into sinks, and ships an emulator of Entra ID + Azure DevOps for offline use.

Configuration: flags > environment (AZURE_*, PATROL_*) > config file (--config).
Secrets are read only from the environment or from files, never from flags.
Exit codes: 0 ok, 1 unknown, 2 usage, 3 auth, 4 permission/policy, 5 not found,
6 transient, 7 conflict, 8 partial, 130 interrupted.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true,
		Version:           versionInfo().Version,
	}
	root.SetVersionTemplate("patrol {{.Version}}\n")
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return errkind.New(errkind.Usage, fmt.Errorf("%w (see `%s --help`)", err, c.CommandPath()))
	})

	pf := root.PersistentFlags()
	pf.StringVar(&a.configFile, "config", "", "patrol.yaml to read connection settings from (env PATROL_CONFIG)")
	pf.StringVar(&a.flags.Organization, "org", "", "Azure DevOps organisation: its name or URL, https://dev.azure.com/ORG or https://ORG.visualstudio.com (env AZURE_DEVOPS_ORG: the name)")
	pf.StringVar(&a.flags.AuthMethod, "auth", "", "sign-in method: "+strings.Join(config.AuthMethods, "|")+" (env PATROL_AUTH; default auto)")
	pf.StringVar(&a.flags.TenantID, "tenant-id", "", "Entra tenant GUID or domain (env AZURE_TENANT_ID)")
	pf.StringVar(&a.flags.ClientID, "client-id", "", "app registration's Application (client) ID (env AZURE_CLIENT_ID)")
	pf.StringVar(&a.flags.Username, "username", "", "technical user's UPN for ropc (env AZURE_USERNAME)")
	pf.StringVar(&a.flags.PasswordFile, "password-file", "", "file holding the technical user's password (env AZURE_PASSWORD or PATROL_PASSWORD_FILE)")
	pf.StringVar(&a.flags.ClientSecretFile, "client-secret-file", "", "file holding the client secret (env AZURE_CLIENT_SECRET or PATROL_CLIENT_SECRET_FILE)")
	pf.StringVar(&a.flags.CertificatePath, "certificate", "", "PEM or PKCS#12 client certificate (env AZURE_CLIENT_CERTIFICATE_PATH)")
	pf.StringVar(&a.flags.FederatedTokenFile, "federated-token-file", "", "workload identity token file (env AZURE_FEDERATED_TOKEN_FILE)")
	pf.StringVar(&a.flags.ManagedIdentityClientID, "managed-identity-client-id", "", "client ID of a user-assigned managed identity (env PATROL_MANAGED_IDENTITY_CLIENT_ID)")
	pf.StringArrayVar(&a.flags.AuthScopes, "auth-scope", nil, "Azure DevOps delegated permission to request for user sign-ins, e.g. vso.pats_manage (repeatable; env PATROL_AUTH_SCOPES; default .default = every consented permission)")
	pf.StringVar(&a.flags.TokenCache, "token-cache", "", "device-code refresh-token cache: a file, or k8s-secret://<namespace>/<name>[#key] (env PATROL_TOKEN_CACHE)")
	pf.StringVar(&a.flags.AuthorityHost, "authority-host", "", "Entra authority host (env AZURE_AUTHORITY_HOST; default https://login.microsoftonline.com/)")
	pf.Bool("disable-instance-discovery", false, "skip Entra instance discovery, for private authorities (env PATROL_DISABLE_INSTANCE_DISCOVERY)")
	pf.StringVar(&a.flags.VSSPS, "vssps-url", "", "VSSPS base URL (env PATROL_VSSPS_URL; default https://vssps.dev.azure.com)")
	pf.StringVar(&a.flags.DevOps, "devops-url", "", "Azure DevOps base URL (env PATROL_DEVOPS_URL; default https://dev.azure.com)")
	pf.StringVar(&a.flags.APIVersion, "api-version", "", "PAT API version (env PATROL_API_VERSION; default "+config.DefaultAPIVersion+")")
	pf.StringVar(&a.flags.CABundle, "ca-bundle", "", "extra PEM CA bundle to trust (env PATROL_CA_BUNDLE; SSL_CERT_FILE also works)")
	pf.StringVarP(&a.outputFormat, "output", "o", "", "output format: table|wide|json|yaml|name|jsonpath=TEMPLATE (default table, also when piped)")
	pf.BoolVar(&a.noHeaders, "no-headers", false, "omit the header line of table and wide output")
	pf.StringVar(&a.flags.LogFormat, "log-format", "", "log format on stderr: text|json (env PATROL_LOG_FORMAT)")
	pf.StringVar(&a.flags.LogLevel, "log-level", "", "log level: debug|info|warn|error (env PATROL_LOG_LEVEL; default warn)")
	pf.DurationVar(&a.timeout, "timeout", httpx.DefaultTimeout, "timeout of one HTTP request")
	pf.IntVar(&a.flags.MaxPages, "max-pages", 0, fmt.Sprintf("pages one Azure DevOps listing follows at most (env PATROL_MAX_PAGES; default %d)", config.DefaultMaxPages))

	a.root = root
	// Subcommands may define their own PersistentPreRunE; run the root's too.
	cobra.EnableTraverseRunHooks = true
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if _, err := output.ParseFormat(a.outputFormat); err != nil {
			return err
		}
		// --org also takes the organisation's URL, as az does.
		org, err := config.OrganizationArg("--org", a.flags.Organization)
		if err != nil {
			return err
		}
		a.flags.Organization = org
		return checkDurationFlags(cmd)
	}

	registerGlobalCompletions(root)
	root.AddCommand(
		newVersionCmd(a),
		newCompletionCmd(a),
		newPATCmd(a),
		newTokenCmd(a),
		newLoginCmd(a),
		newEmulatorCmd(a),
		newDemoCmd(a),
	)

	// --- commands of other engineers: one AddCommand line each ---
	root.AddCommand(newRotateCmd(a))
	root.AddCommand(newStatusCmd(a))
	root.AddCommand(newConfigCmd(a))
	root.AddCommand(newEndpointCmd(a))
	root.AddCommand(newDoctorCmd(a))
	root.AddCommand(newAuditCmd(a))
	root.AddCommand(newControllerCmd(a))
	// --- end ---

	root.AddCommand(newOptionsCmd(a))
	rejectUnknownSubcommands(root)
	addExamples(root)
	setHelpTemplate(root)
	return root
}

// rejectUnknownSubcommands makes every group command (one with subcommands
// and no action of its own) fail on an unknown subcommand with cobra's
// suggestions, exit 2, instead of printing its help and exiting 0. The
// group alone still prints its help.
func rejectUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		rejectUnknownSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.SuggestionsMinimumDistance = 2 // cobra's default, applied only in its own path
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		return unknownCommandError(cmd, args[0])
	}
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// unknownCommandError names the unknown subcommand and cobra's closest
// matches (SuggestionsFor: edit distance and prefixes) on one line.
func unknownCommandError(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += "; did you mean " + quoteJoin(s) + "?"
	} else {
		msg += fmt.Sprintf(" (`%s --help` lists its commands)", cmd.CommandPath())
	}
	return errkind.New(errkind.Usage, errors.New(msg))
}

// quoteJoin renders names as "a", "b" or "c".
func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// run executes patrol with args and returns the process exit code. Errors
// are reported on stderr as one "patrol: …" line plus one "hint: …" line.
func run(ctx context.Context, args []string, env config.LookupEnv, stdin io.Reader, stdout, stderr io.Writer) int {
	a := newApp(env, stdin, stdout, stderr)
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec) // a verdict, not a failure: nothing to report
	}
	if ctx.Err() != nil {
		// Interrupted (SIGINT/SIGTERM): whatever the error says, the cause
		// is the signal.
		if a.errorMode(context.Background()) == errJSON {
			writeJSONError(stderr, "interrupted", "interrupted: "+redact.Error(err), fmt.Sprintf("stopped by a signal; rerun the command (exit %d)", exitInterrupted), exitInterrupted, err)
			return exitInterrupted
		}
		fmt.Fprintf(stderr, "patrol: interrupted: %s\nhint: stopped by a signal; rerun the command (exit %d)\n", redact.Error(err), exitInterrupted)
		return exitInterrupted
	}
	if a.outputFormat == "" {
		// A flag error stops cobra before it reads a later -o.
		a.outputFormat = outputArg(args)
	}
	return reportErrorMode(stderr, err, a.errorMode(ctx))
}

// outputArg is the value of the last -o/--output in args ("" if none),
// read without cobra for errors that stop flag parsing before it.
func outputArg(args []string) string {
	v := ""
	for i, s := range args {
		switch {
		case s == "--":
			return v
		case (s == "-o" || s == "--output") && i+1 < len(args):
			v = args[i+1]
		case strings.HasPrefix(s, "--output="):
			v = strings.TrimPrefix(s, "--output=")
		case strings.HasPrefix(s, "-o") && len(s) > 2 && !strings.HasPrefix(s, "--"):
			v = strings.TrimPrefix(strings.TrimPrefix(s, "-o"), "=")
		}
	}
	return v
}

// errorMode is how run prints a failure: with -o json|yaml as one JSON
// document; in full at --log-level debug; otherwise a Summarizer's summary,
// and on a terminal a long message cut to one line.
func (a *app) errorMode(ctx context.Context) errMode {
	if sp, err := output.Parse(a.outputFormat); err == nil && (sp.Format == output.JSON || sp.Format == output.YAML) {
		return errJSON
	}
	if a.logger().Enabled(ctx, slog.LevelDebug) {
		return errFull
	}
	if output.IsTerminal(a.stderr) {
		return errShort
	}
	return errSummary
}

// errMode: see errorMode.
type errMode int

const (
	errSummary errMode = iota // a Summarizer's summary, else the message
	errFull                   // the whole message
	errShort                  // errSummary, long messages cut at maxShortError
	errJSON                   // the whole message in a JSON document (errors_json.go)
)

// maxShortError is the longest error message printed whole on a terminal.
const maxShortError = 160

// exitCode is a command's verdict that is not a failure (rotate
// --detailed-exitcode): run exits with it and prints nothing.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// exitInterrupted is returned when SIGINT/SIGTERM cancelled the command.
const exitInterrupted = 130

// reportError prints err and its advice and returns the exit code.
func reportError(w io.Writer, err error) int { return reportErrorMode(w, err, errSummary) }

// reportErrorMode prints err as mode says (one line) and its advice (one
// line) and returns the exit code.
func reportErrorMode(w io.Writer, err error, mode errMode) int {
	kind := errkind.Of(err)
	if kind == errkind.Unknown && isCobraUsageError(err) {
		kind = errkind.Usage
	}
	msg := strings.TrimSpace(redact.Error(err)) // whatever a server echoed into it
	if s := errkind.SummaryOf(err); s != "" && mode != errFull && mode != errJSON {
		msg = redact.String(s)
	}
	if mode == errShort {
		msg = shortError(msg)
	}
	canceled := errors.Is(err, context.Canceled) && kind == errkind.Unknown
	hint := errkind.HintOf(err)
	switch {
	case canceled:
		hint = "interrupted; nothing further was done"
	case hint == "":
		hint = advice(kind)
	default:
		hint = fmt.Sprintf("%s (exit %d)", hint, kind.ExitCode())
	}
	hint = redact.String(hint)
	code := kind.ExitCode()
	if canceled {
		code = exitInterrupted
	}
	if mode == errJSON {
		k := kind.String()
		if canceled {
			k = "interrupted"
		}
		writeJSONError(w, k, msg, hint, code, err)
		return code
	}
	fmt.Fprintf(w, "patrol: %s\n", msg)
	fmt.Fprintf(w, "hint: %s\n", hint)
	return code
}

// shortError cuts msg to one line of at most maxShortError runes, at a word
// boundary, and says where the rest is.
func shortError(msg string) string {
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	r := []rune(msg)
	if len(r) <= maxShortError {
		return msg
	}
	cut := string(r[:maxShortError])
	if i := strings.LastIndexByte(cut, ' '); i > maxShortError/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,;:") + " … (whole error: --log-level debug or -o json)"
}

// isCobraUsageError recognises cobra's own argument and command errors,
// which are plain errors.
func isCobraUsageError(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "requires at most", "required flag(s)", "if any flags in the group", "none of the others can be"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// advice is the one-line hint printed under an error of each kind.
func advice(k errkind.Kind) string {
	switch k {
	case errkind.Usage:
		return "fix the flag, variable or file named above; `patrol <command> --help` lists the options (exit 2)"
	case errkind.Auth:
		return "sign-in failed or the token was refused: check AZURE_TENANT_ID, AZURE_CLIENT_ID, the credentials and --auth; rerun with --log-level debug for details (exit 3)"
	case errkind.Permission:
		return "signed in, but the identity lacks a permission: ask an Azure DevOps administrator to grant it (exit 4)"
	case errkind.Policy:
		return "an Azure DevOps or Entra policy refused the operation: the message names the policy; change the request or ask an administrator for an exemption (exit 4)"
	case errkind.NotFound:
		return "the thing named above does not exist (or is in another organisation or project): check its name or id (exit 5)"
	case errkind.Transient:
		return "the service is throttling or unavailable; patrol already retried within its limits, so try again later (exit 6)"
	case errkind.Conflict:
		return "someone else changed the resource or holds the lock; run again (exit 7)"
	case errkind.Partial:
		return "some items failed and the others succeeded; the report above says which (exit 8)"
	}
	return "unexpected failure; rerun with --log-level debug and report a bug if it persists (exit 1)"
}

// usageErrorf returns an errkind.Usage error.
func usageErrorf(format string, args ...any) error {
	return errkind.New(errkind.Usage, fmt.Errorf(format, args...))
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q (see `%s --help`)", cmd.CommandPath(), args, cmd.CommandPath())
	}
	return nil
}

// exactArgs requires n positional arguments, described by what.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s needs %s (got %d arguments; see `%s --help`)", cmd.CommandPath(), what, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// connection returns the effective connection settings (file < env < flags),
// validated for format. It is computed once.
func (a *app) connection() (config.Connection, error) {
	a.connOnce.Do(func() {
		if a.root != nil {
			if f := a.root.PersistentFlags().Lookup("disable-instance-discovery"); f != nil && f.Changed {
				v := f.Value.String() == "true"
				a.flags.DisableInstanceDiscovery = &v
			}
		}
		opts := config.LoadOptions{File: a.configFile, Env: a.env, Flags: a.flags}
		if a.configFileNamed() {
			// Every command reads patrol.yaml as strictly as `config validate`.
			f, err := a.loadRotationFile()
			if err != nil {
				a.connErr = err
				return
			}
			opts.FileConnection = &f.Connection
		}
		a.conn, a.connErr = config.LoadConnection(opts)
	})
	return a.conn, a.connErr
}

// logger returns the process logger (stderr). If the configuration cannot be
// loaded it still returns a logger built from the flags alone.
func (a *app) logger() *slog.Logger {
	a.logOnce.Do(func() {
		format, level := a.flags.LogFormat, a.flags.LogLevel
		if c, err := a.connection(); err == nil {
			format, level = c.Log.Format, c.Log.Level
		}
		l, err := output.NewLogger(a.stderr, format, level, a.defaultLogLevel)
		if err != nil {
			l, _ = output.NewLogger(a.stderr, "text", "", a.defaultLogLevel)
		}
		a.log = l
	})
	return a.log
}

// printer returns the printer for -o (default table) and --no-headers.
func (a *app) printer() output.Printer {
	sp, err := output.Parse(a.outputFormat)
	if err != nil {
		sp = output.Spec{} // PersistentPreRunE already rejected bad values
	}
	return output.New(sp, a.stdout, a.noHeaders)
}

// printerFor is printer with a different default than table, for commands
// whose human form is another format.
func (a *app) printerFor(def output.Format) (output.Printer, error) {
	sp, err := output.Parse(a.outputFormat)
	if err != nil {
		return output.Printer{}, err
	}
	if sp.Format == output.Auto {
		sp.Format = def
	}
	return output.New(sp, a.stdout, a.noHeaders), nil
}

// httpClient returns the shared HTTP client.
func (a *app) httpClient() (*http.Client, error) {
	a.hcOnce.Do(func() {
		c, err := a.connection()
		if err != nil {
			a.hcErr = err
			return
		}
		a.hc, a.hcErr = httpx.New(httpx.Options{
			CABundle:  c.Endpoints.CABundle,
			Timeout:   a.timeout,
			UserAgent: httpx.UserAgent(versionInfo().Version),
		})
	})
	return a.hc, a.hcErr
}

// entraOptions maps the connection settings to entra.Options.
func (a *app) entraOptions() (entra.Options, error) {
	c, err := a.connection()
	if err != nil {
		return entra.Options{}, err
	}
	opts, where, err := a.entraOptionsFor(c)
	a.cacheWhere = where
	return opts, err
}

// entraOptionsFor maps connection settings c (the default ones, or an
// identity's: config.Connection.ForIdentity) to entra.Options; where is
// the token cache in use.
func (a *app) entraOptionsFor(c config.Connection) (_ entra.Options, where string, _ error) {
	hc, err := a.httpClient()
	if err != nil {
		return entra.Options{}, "", err
	}
	m, err := entra.ParseMethod(c.Auth.Method)
	if err != nil {
		return entra.Options{}, "", err
	}
	scope, err := entra.ParseAuthScopes(c.Auth.Scopes)
	if err != nil {
		return entra.Options{}, "", err
	}
	opts := entra.Options{
		Scope:                    scope,
		Method:                   m,
		AuthorityHost:            c.Endpoints.AuthorityHost,
		TenantID:                 c.Auth.TenantID,
		ClientID:                 c.Auth.ClientID,
		ClientSecret:             c.Auth.ClientSecret,
		Username:                 c.Auth.Username,
		Password:                 c.Auth.Password,
		CertificatePath:          c.Auth.CertificatePath,
		CertificatePassword:      c.Auth.CertificatePassword,
		SendCertificateChain:     c.Auth.SendCertificateChain,
		FederatedTokenFile:       c.Auth.FederatedTokenFile,
		ManagedIdentityClientID:  c.Auth.ManagedIdentityClientID,
		CachePath:                c.Auth.TokenCache,
		DisableInstanceDiscovery: c.Endpoints.DisableInstanceDiscovery,
		HTTPClient:               hc,
		Logger:                   a.logger(),
		Now:                      a.now,
		LookupEnv:                a.env,
	}
	// auth.tokenCache: a file path or k8s-secret://<namespace>/<name>[#key].
	if where, err = a.applyTokenCache(&opts); err != nil {
		return entra.Options{}, "", err
	}
	return opts, where, nil
}

// tokenSource returns the process's Entra token source (built once; tokens
// cached and refreshed ≥5 minutes before expiry).
func (a *app) tokenSource(_ context.Context) (entra.TokenSource, error) {
	a.tsMu.Lock()
	defer a.tsMu.Unlock()
	if a.ts != nil {
		return a.ts, nil
	}
	opts, err := a.entraOptions()
	if err != nil {
		return nil, err
	}
	ts, err := entra.New(opts)
	if err != nil {
		return nil, err
	}
	a.ts = ts
	return ts, nil
}

// userToken signs in and checks that the token belongs to a user, the only
// identity the PAT API accepts (fail fast for service principals and
// managed identities, with the reason).
func (a *app) userToken(ctx context.Context) (entra.Token, error) {
	ts, err := a.tokenSource(ctx)
	if err != nil {
		return entra.Token{}, err
	}
	tok, err := ts.Token(ctx)
	if err != nil {
		return entra.Token{}, err
	}
	if err := entra.RequireUser(tok); err != nil {
		return entra.Token{}, err
	}
	return tok, nil
}

// devops returns the Azure DevOps client for the configured organisation.
func (a *app) devops(ctx context.Context) (*devops.Client, error) {
	a.dcMu.Lock()
	defer a.dcMu.Unlock()
	if a.dc != nil {
		return a.dc, nil
	}
	c, err := a.connection()
	if err != nil {
		return nil, err
	}
	if err := c.RequireOrganization(); err != nil {
		return nil, err
	}
	ts, err := a.tokenSource(ctx)
	if err != nil {
		return nil, err
	}
	dc, err := a.newDevops(c, c.Organization, ts)
	if err != nil {
		return nil, err
	}
	a.dc = dc
	return dc, nil
}

// newDevops builds an Azure DevOps client of organisation org with c's
// endpoints, signing in through ts.
func (a *app) newDevops(c config.Connection, org string, ts entra.TokenSource) (*devops.Client, error) {
	hc, err := a.httpClient()
	if err != nil {
		return nil, err
	}
	return devops.New(devops.Options{
		Organization: org,
		VSSPSURL:     c.Endpoints.VSSPS,
		AuditURL:     c.Endpoints.Audit,
		DevOpsURL:    c.Endpoints.DevOps,
		APIVersion:   c.Endpoints.APIVersion,
		Token:        ts,
		HTTPClient:   hc,
		Logger:       a.logger(),
		UserAgent:    httpx.UserAgent(versionInfo().Version),
		MaxPages:     c.Endpoints.MaxPages,
		OnWait:       a.onWait,
	})
}

// marshalJSON is json.Marshal without HTML escaping.
func marshalJSON(v any) ([]byte, error) {
	var b strings.Builder
	if err := output.WriteJSON(&b, v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimRight(b.String(), "\n")), nil
}
