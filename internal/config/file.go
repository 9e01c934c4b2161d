package config

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/sink"
)

// File is patrol.yaml: how to connect (the embedded Connection), how runs
// behave (Rotation) and what to rotate (Credentials).
//
// Every field is decoded strictly: unknown fields, wrong types, bad
// durations, duplicate names, unknown sink types and unknown scopes are
// errors naming the field path, its line and the fix (see *FileError).
type File struct {
	// APIVersion is the version of the file format, patrol.dev/v1 (see
	// docs/config.md). Absent: read as patrol.dev/v1 with a warning.
	APIVersion string `json:"apiVersion,omitempty"`
	Connection
	// Rotation settings shared by all credentials.
	Rotation Rotation `json:"rotation,omitempty"`
	// Identities are named sign-in settings (the fields of auth:) that a
	// credential selects with identity: (identity.go). The top-level auth:
	// (with the environment and flags) is the default identity.
	Identities map[string]Auth `json:"identities,omitempty"`
	// Credentials patrol manages.
	Credentials []Credential `json:"credentials,omitempty"`
	// Notify lists where notices about runs go (failures, rotations,
	// credentials expiring without rotation).
	Notify []Notifier `json:"notify,omitempty"`

	// Path the file was loaded from ("" when parsed from bytes).
	Path string `json:"-"`
	// Warnings are things to fix that do not stop patrol yet (a missing
	// apiVersion); the CLI prints each once on stderr.
	Warnings []string `json:"-"`
}

// File format versions (apiVersion). A new version is added here with its
// migration (docs/config.md); versions are never changed in place.
const (
	APIVersionV1 = "patrol.dev/v1"
	// CurrentAPIVersion is what new files should say.
	CurrentAPIVersion = APIVersionV1
)

// APIVersions are the file format versions this patrol reads.
var APIVersions = []string{APIVersionV1}

// MissingAPIVersionWarning is the warning for a file without apiVersion.
const MissingAPIVersionWarning = "apiVersion is missing; add the line \"apiVersion: " + CurrentAPIVersion + "\" at the top (the file is read as " + CurrentAPIVersion + " for now; a later release will require it, see docs/config.md)"

// Rotation configures a rotation run.
type Rotation struct {
	// Concurrency is how many credentials are rotated at once (default 32, max 64).
	Concurrency int `json:"concurrency,omitempty"`
	// Lock keeps two runs from overlapping.
	Lock Lock `json:"lock,omitempty"`
	// Metrics export.
	Metrics Metrics `json:"metrics,omitempty"`
	// StateFile is where patrol remembers each run's outcome per credential,
	// the last success and the counters (internal/runstate). Default:
	// <metrics.textfile>.state.json, else $XDG_STATE_HOME/patrol/ (none in a
	// Pod without a textfile).
	StateFile string `json:"stateFile,omitempty"`
	// OrphanAge is how old a managed PAT that no sink holds must be before it
	// is revoked as an orphan (default 1h). It protects a run on another
	// machine that has created a PAT but not yet delivered it.
	OrphanAge Duration `json:"orphanAge,omitempty"`
}

// Lock types.
const (
	LockFile  = "file"
	LockLease = "lease"
	LockNone  = "none"
)

// Lock selects the run lock.
type Lock struct {
	// Type: file (default; flock on Path) | lease (Kubernetes coordination/v1
	// Lease) | none.
	Type string `json:"type,omitempty"`
	// Path of the lock file (type file). Default: $XDG_RUNTIME_DIR/patrol/rotate.lock,
	// else <os.TempDir()>/patrol-rotate-<uid>.lock.
	Path string `json:"path,omitempty"`
	// LeaseName (type lease), default "patrol-rotate".
	LeaseName string `json:"leaseName,omitempty"`
	// LeaseNamespace (type lease), default the pod's namespace (POD_NAMESPACE
	// or the service account namespace file).
	LeaseNamespace string `json:"leaseNamespace,omitempty"`
	// LeaseDuration (type lease): how long a lease held by a crashed run blocks
	// others (default 15m).
	LeaseDuration Duration `json:"leaseDuration,omitempty"`
	// Identity written into the lease/lock file (default hostname/pid).
	Identity string `json:"identity,omitempty"`
	// Wait is how long to wait for a held lock before failing (default 0: fail at once).
	Wait Duration `json:"wait,omitempty"`
}

// Metrics configures metric export after a run.
type Metrics struct {
	// Textfile: write Prometheus text format here (atomically), e.g. for the
	// node-exporter textfile collector.
	Textfile string `json:"textfile,omitempty"`
	// Pushgateway URL to push to.
	Pushgateway string `json:"pushgateway,omitempty"`
	// Job label for the Pushgateway (default "patrol").
	Job string `json:"job,omitempty"`
}

// Credential kinds.
const (
	KindPAT        = "pat"
	KindEntraToken = "entra-token"
	// KindEntraAppSecret rotates a client secret (password credential) of
	// an Entra application through Microsoft Graph.
	KindEntraAppSecret = "entra-app-secret"
)

// Application names the Entra application whose client secret a credential
// of kind entra-app-secret rotates: its appId (Application (client) ID) or
// the object id of its application object — exactly one of them.
type Application struct {
	AppID    string `json:"appId,omitempty"`
	ObjectID string `json:"objectId,omitempty"`
}

// Credential is one managed credential.
type Credential struct {
	// Name identifies the credential; it is part of the PAT display name
	// "patrol:<name>:<yyyymmddThhmmssZ>-<attempt>" and must not contain ':'.
	Name string `json:"name"`
	// Kind: pat (default) | entra-token | entra-app-secret.
	Kind string `json:"kind,omitempty"`
	// Application whose secret is rotated (kind entra-app-secret only).
	Application Application `json:"application,omitzero"`
	// Scopes of the PAT (kind pat), e.g. [vso.code, vso.packaging]. app_token = full access.
	Scopes []string `json:"scopes,omitempty"`
	// Lifetime of each new PAT (default 30d; at most 1 year).
	Lifetime Duration `json:"lifetime,omitempty"`
	// RenewBefore: duration before expiry or percentage of the lifetime
	// (default 33.3%: one third of the lifetime).
	RenewBefore RenewBefore `json:"renewBefore,omitzero"`
	// AllowFullAccess permits the app_token (full access) scope.
	AllowFullAccess bool `json:"allowFullAccess,omitempty"`
	// AllOrgs creates global PATs (default false). Global PATs stopped working
	// on 2026-12-01: from then on allOrgs: true is refused by validation.
	AllOrgs bool `json:"allOrgs,omitempty"`
	// GracePeriod keeps the replaced PAT alive this long after a rotation
	// (default 0: revoke it in the same run once the new one is delivered and verified).
	GracePeriod Duration `json:"gracePeriod,omitempty"`
	// Organization the credential's PATs belong to (default: the top-level
	// organization / AZURE_DEVOPS_ORG / --org).
	Organization string `json:"organization,omitempty"`
	// Identity names the entry of identities: that signs in for this
	// credential (default: the top-level auth:).
	Identity string `json:"identity,omitempty"`
	// Sinks receive the credential.
	Sinks []SinkSpec `json:"sinks"`

	// Line of the entry in the file (0 when unknown).
	Line int `json:"-"`
}

// SinkSpec is one sink entry: its type and all its parameters. Sinks decode
// their parameters themselves (sink.Register).
type SinkSpec struct {
	Type   string          `json:"-"`
	Params json.RawMessage `json:"-"`
	Line   int             `json:"-"`
	Where  string          `json:"-"`
}

// MarshalJSON writes the params (which include type).
func (s SinkSpec) MarshalJSON() ([]byte, error) {
	if len(s.Params) == 0 {
		return []byte("{}"), nil
	}
	return s.Params, nil
}

// Spec converts s for sink.Build / sink.Validate.
func (s SinkSpec) Spec() sink.Spec {
	return sink.Spec{Type: s.Type, Params: s.Params, Where: s.Where}
}

// Defaults.
const (
	// DefaultConcurrency: 32 rotates 200 due PATs at 50 ms latency within
	// 2× of the fastest concurrency measured (docs/rotation.md,
	// "Concurrency"); the devops client paces on Azure DevOps' usage budget.
	DefaultConcurrency = 32
	MaxConcurrency     = 64
	DefaultLifetime    = Duration(30 * 24 * time.Hour)
	MaxLifetime        = Duration(365 * 24 * time.Hour)
	MinLifetime        = Duration(time.Hour)
	// DefaultAppSecretLifetime and MaxAppSecretLifetime bound the lifetime
	// of an application secret (kind entra-app-secret); Entra itself allows
	// at most 2 years (an app management policy may allow less).
	DefaultAppSecretLifetime = Duration(90 * 24 * time.Hour)
	MaxAppSecretLifetime     = Duration(730 * 24 * time.Hour)
	DefaultOrphanAge         = Duration(time.Hour)
	DefaultLeaseName         = "patrol-rotate"
	DefaultLeaseTTL          = Duration(15 * time.Minute)
	MaxLeaseTTL              = Duration(24 * time.Hour)
	MaxLockWait              = Duration(24 * time.Hour)
	DefaultMetricsJob        = "patrol"
)

// Problem is one thing wrong with patrol.yaml.
type Problem struct {
	// Path of the field, e.g. "credentials[1].lifetime".
	Path string
	// Line in the file (1-based; 0 when unknown).
	Line int
	// Msg says what is wrong and how to fix it.
	Msg string
}

func (p Problem) String() string {
	if p.Line > 0 && p.Path != "" {
		return fmt.Sprintf("line %d: %s: %s", p.Line, p.Path, p.Msg)
	}
	if p.Line > 0 {
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	}
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// MaxReportedProblems bounds the problems FileError's message lists (the
// first ones by line); Problems keeps them all.
const MaxReportedProblems = 100

// FileError lists every problem found in patrol.yaml. Kind is Usage.
type FileError struct {
	File     string
	Problems []Problem
}

func (e *FileError) Error() string {
	name := e.File
	if name == "" {
		name = "patrol.yaml"
	}
	var b strings.Builder
	if len(e.Problems) == 1 {
		fmt.Fprintf(&b, "%s: %s", name, e.Problems[0])
		return b.String()
	}
	fmt.Fprintf(&b, "%s: %d problems:", name, len(e.Problems))
	for i, p := range e.Problems {
		if i == MaxReportedProblems {
			fmt.Fprintf(&b, "\n  … and %d more (fix these first and validate again)", len(e.Problems)-i)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Kind is errkind.Usage: fix the file.
func (e *FileError) Kind() errkind.Kind { return errkind.Usage }

// ValidateOptions are the checks that need other packages.
type ValidateOptions struct {
	// Scopes checks a credential's scope list (devops.ParseScopes, with
	// AllowFullAccess when allowFullAccess); nil skips scope checks.
	Scopes func(scopes []string, allowFullAccess bool) error
	// SkipSinks skips sink.Validate (tests of the file format only).
	SkipSinks bool
	// Now is the clock for date-dependent rules (allOrgs after the
	// global-PAT retirement); nil = time.Now.
	Now func() time.Time
	// Organization is the organisation the flags or environment set
	// (--org, AZURE_DEVOPS_ORG), which overrides the file's organization:
	// for credentials without their own; "" = the file's. The sink
	// duplicate check places Azure DevOps sinks in it.
	Organization string
}

// LoadFile reads and validates patrol.yaml.
func LoadFile(path string, opts ValidateOptions) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errkind.New(errkind.Usage, fmt.Errorf("config file %s (--config, else PATROL_CONFIG, else ./patrol.yaml) does not exist; pass --config PATH, fix PATROL_CONFIG or create the file (see deploy/patrol.example.yaml)", path))
		}
		return nil, errkind.New(errkind.Usage, fmt.Errorf("read config file %s (--config, else PATROL_CONFIG, else ./patrol.yaml): %w", path, err))
	}
	f, err := ParseFile(b, path, opts)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// ParseFile decodes and validates patrol.yaml content. name is used in errors.
// Defaults are filled in (see the Default* constants).
func ParseFile(data []byte, name string, opts ValidateOptions) (*File, error) {
	f := &File{Path: name}
	d := &decoder{}
	if d.decodeDocument(data, f) {
		// Validate what decoded, skipping fields that already have a problem.
		f.applyDefaults()
		// A validation problem is dropped when a decoding problem is at
		// the same path, at one of its parents, or at a field below it
		// (one index of the decoding problems: linear, not pairwise).
		bad, below := map[string]bool{}, map[string]bool{}
		for _, b := range d.problems {
			if b.Path == "" {
				continue
			}
			bad[b.Path] = true
			for i := 0; i < len(b.Path); i++ {
				if b.Path[i] == '.' {
					below[b.Path[:i]] = true
				}
			}
		}
		for _, p := range f.validate(opts, d) {
			dup := below[p.Path]
			for q := p.Path; q != "" && !dup; {
				dup = bad[q]
				i := strings.LastIndexAny(q, ".[")
				if i < 0 {
					break
				}
				q = q[:i]
			}
			if !dup {
				d.problems = append(d.problems, p)
			}
		}
	}
	if len(d.problems) > 0 {
		sort.SliceStable(d.problems, func(i, j int) bool { return d.problems[i].Line < d.problems[j].Line })
		return nil, &FileError{File: name, Problems: d.problems}
	}
	return f, nil
}

func (f *File) applyDefaults() {
	r := &f.Rotation
	if r.Concurrency == 0 {
		r.Concurrency = DefaultConcurrency
	}
	if r.OrphanAge == 0 {
		r.OrphanAge = DefaultOrphanAge
	}
	if r.Lock.Type == "" {
		r.Lock.Type = LockFile
	}
	if r.Lock.Type == LockLease {
		if r.Lock.LeaseName == "" {
			r.Lock.LeaseName = DefaultLeaseName
		}
		if r.Lock.LeaseDuration == 0 {
			r.Lock.LeaseDuration = DefaultLeaseTTL
		}
	}
	if r.Metrics.Job == "" {
		r.Metrics.Job = DefaultMetricsJob
	}
	f.notifyDefaults()
	for i := range f.Credentials {
		c := &f.Credentials[i]
		if c.Kind == "" {
			c.Kind = KindPAT
		}
		if c.Kind == KindPAT && c.Lifetime == 0 {
			c.Lifetime = DefaultLifetime
		}
		if c.Kind == KindEntraAppSecret && c.Lifetime == 0 {
			c.Lifetime = DefaultAppSecretLifetime
		}
	}
}

// DefaultLockPath is the file lock used when rotation.lock.path is empty.
func DefaultLockPath() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return d + "/patrol/rotate.lock"
	}
	return fmt.Sprintf("%s/patrol-rotate-%d.lock", strings.TrimRight(os.TempDir(), "/"), os.Getuid())
}

// nameRE: lowercase letters, digits, '-', '_', '.'; starts and ends alphanumeric.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,62}[a-zA-Z0-9])?$`) })

func (f *File) validate(opts ValidateOptions, d *decoder) []Problem {
	var ps []Problem
	add := func(path, msg string) { ps = append(ps, Problem{Path: path, Line: d.line(path), Msg: msg}) }

	f.validateAPIVersion(add)
	normalizeOrganization("organization", &f.Organization, add)

	// Connection settings as written in the file (env and flags are checked
	// again when the connection is loaded).
	if err := f.Connection.Validate(); err != nil {
		var ce *ConfigError
		path := ""
		if errors.As(err, &ce) {
			for _, k := range []string{"organization", "auth.method", "auth.tenantId", "auth.clientId", "auth.username", "endpoints.authorityHost", "endpoints.vssps", "endpoints.devops", "endpoints.apiVersion", "endpoints.maxPages", "log.format", "log.level"} {
				if strings.Contains(ce.Source, k+")") || strings.HasSuffix(ce.Source, ", "+k) {
					path = k
				}
			}
		}
		ps = append(ps, Problem{Path: path, Line: d.line(path), Msg: err.Error()})
	}
	r := f.Rotation
	if r.OrphanAge > MaxLifetime {
		add("rotation.orphanAge", fmt.Sprintf("%s is longer than any PAT lives (at most %s), so orphans would never be revoked; use at most %s (default %s)", r.OrphanAge, MaxLifetime, MaxLifetime, DefaultOrphanAge))
	}
	if r.Lock.Wait > MaxLockWait {
		add("rotation.lock.wait", fmt.Sprintf("%s is too long; use at most %s (default 0: fail at once when the lock is held)", r.Lock.Wait, MaxLockWait))
	}
	if r.Concurrency < 1 || r.Concurrency > MaxConcurrency {
		add("rotation.concurrency", fmt.Sprintf("%d is out of range; use 1..%d (default %d)", r.Concurrency, MaxConcurrency, DefaultConcurrency))
	}
	switch r.Lock.Type {
	case LockFile:
		if r.Lock.LeaseName != "" || r.Lock.LeaseNamespace != "" || r.Lock.LeaseDuration != 0 {
			add("rotation.lock", "leaseName/leaseNamespace/leaseDuration apply to type lease only; set type: lease or remove them")
		}
	case LockLease:
		if r.Lock.Path != "" {
			add("rotation.lock.path", "path applies to type file only; remove it or set type: file")
		}
		if r.Lock.LeaseDuration.D() < time.Minute || r.Lock.LeaseDuration > MaxLeaseTTL {
			add("rotation.lock.leaseDuration", fmt.Sprintf("%s is out of range; use 1m..%s (default %s)", r.Lock.LeaseDuration, MaxLeaseTTL, DefaultLeaseTTL))
		}
	case LockNone:
	default:
		add("rotation.lock.type", fmt.Sprintf("unknown lock type %q; use file, lease or none", r.Lock.Type))
	}
	if u := r.Metrics.Pushgateway; u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			add("rotation.metrics.pushgateway", fmt.Sprintf("%q is not an absolute http(s) URL; write e.g. https://pushgateway.monitoring:9091", u))
		}
	}

	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	f.validateNotify(add)
	f.validateIdentities(add)

	seen := map[string]int{}
	sinkSeen := map[string]string{} // canonical sink → where
	for i := range f.Credentials {
		c := &f.Credentials[i]
		p := fmt.Sprintf("credentials[%d]", i)
		c.Line = d.line(p)
		switch {
		case c.Name == "":
			add(p+".name", "missing; give every credential a unique name (letters, digits, '-', '_', '.')")
		case !nameRE().MatchString(c.Name):
			add(p+".name", fmt.Sprintf("%q is not a valid name; use 1-64 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (it becomes part of the PAT display name patrol:<name>:<time>)", c.Name))
		default:
			key := strings.ToLower(c.Name)
			if j, dup := seen[key]; dup {
				add(p+".name", fmt.Sprintf("%q is also the name of credentials[%d] (line %d); names must be unique (case-insensitive)", c.Name, j, d.line(fmt.Sprintf("credentials[%d]", j))))
			} else {
				seen[key] = i
			}
		}
		switch c.Kind {
		case KindPAT:
			if len(c.Scopes) == 0 {
				add(p+".scopes", "missing; list the PAT scopes, e.g. [vso.code, vso.packaging] (app_token = full access)")
			}
			sc := map[string]bool{}
			for k, s := range c.Scopes {
				sp := fmt.Sprintf("%s.scopes[%d]", p, k)
				if sc[strings.ToLower(s)] {
					add(sp, fmt.Sprintf("scope %q is listed twice; remove the duplicate", s))
				}
				sc[strings.ToLower(s)] = true
				if opts.Scopes != nil {
					if err := opts.Scopes([]string{s}, c.AllowFullAccess); err != nil {
						add(sp, err.Error())
					}
				}
			}
			if c.AllOrgs && api.GlobalPATsRetired(now()) {
				add(p+".allOrgs", "true asks for a global PAT, but "+api.GlobalPATRetiredAdvice+"; remove allOrgs: true")
			}
			validateSchedule(p, c, MaxLifetime, DefaultLifetime, "PAT", add)
			if c.Application != (Application{}) {
				add(p+".application", "used by kind entra-app-secret only; remove it, or set kind: entra-app-secret to rotate that application's secret")
			}
		case KindEntraToken:
			if len(c.Scopes) > 0 {
				add(p+".scopes", "not used by kind entra-token (the token is always for Azure DevOps); remove it")
			}
			if c.Lifetime != 0 {
				add(p+".lifetime", "not used by kind entra-token (Entra decides the token lifetime); remove it")
			}
			if c.AllOrgs {
				add(p+".allOrgs", "not used by kind entra-token; remove it")
			}
			if c.GracePeriod != 0 {
				add(p+".gracePeriod", "not used by kind entra-token (access tokens cannot be revoked); remove it")
			}
			if c.Application != (Application{}) {
				add(p+".application", "used by kind entra-app-secret only; remove it")
			}
		case KindEntraAppSecret:
			validateAppSecret(p, c, add)
		default:
			add(p+".kind", fmt.Sprintf("unknown kind %q; use pat (default), entra-token or entra-app-secret", c.Kind))
		}
		f.validateAccount(p, c, add)
		org := c.Organization // the organisation Azure DevOps sinks write to
		if org == "" {
			org = cmp.Or(opts.Organization, f.Organization)
		}
		if len(c.Sinks) == 0 {
			add(p+".sinks", "missing; list at least one sink, e.g. - {type: file, path: /var/run/patrol/pat}")
		}
		for k := range c.Sinks {
			s := &c.Sinks[k]
			sp := fmt.Sprintf("%s.sinks[%d]", p, k)
			s.Line = d.line(sp)
			s.Where = sp
			if s.Line > 0 {
				s.Where = fmt.Sprintf("%s (line %d)", sp, s.Line)
			}
			if s.Type == "" {
				add(sp+".type", fmt.Sprintf("missing; use one of: %s", strings.Join(sink.Types(), ", ")))
				continue
			}
			spec := s.Spec()
			spec.Organization = org
			if key := sink.Identity(spec); key != "" {
				if prev, dup := sinkSeen[key]; dup {
					ps = append(ps, Problem{Path: sp, Line: s.Line, Msg: fmt.Sprintf("the same sink is already configured at %s; two credentials writing one place would replace each other's PAT on every run — remove one", prev)})
					continue
				}
				sinkSeen[key] = s.Where
			}
			if opts.SkipSinks {
				continue
			}
			if err := sink.Validate(s.Spec()); err != nil {
				msg := strings.TrimPrefix(err.Error(), s.Where+": ")
				msg = strings.TrimPrefix(msg, s.Where+" ")
				ps = append(ps, Problem{Path: sp, Line: s.Line, Msg: msg})
			}
		}
	}
	return ps
}

// Credential returns the credential named name (case-insensitive).
func (f *File) Credential(name string) (*Credential, bool) {
	for i := range f.Credentials {
		if strings.EqualFold(f.Credentials[i].Name, name) {
			return &f.Credentials[i], true
		}
	}
	return nil, false
}

// validateAPIVersion refuses a version this patrol does not read and warns
// about a missing one.
func (f *File) validateAPIVersion(add func(path, msg string)) {
	switch {
	case f.APIVersion == "":
		f.Warnings = append(f.Warnings, MissingAPIVersionWarning)
	case !slices.Contains(APIVersions, f.APIVersion):
		add("apiVersion", fmt.Sprintf("unknown version %q; this patrol reads %s: write apiVersion: %s, or upgrade patrol if the file was written for a newer release (see docs/config.md)", f.APIVersion, strings.Join(APIVersions, ", "), CurrentAPIVersion))
	}
}
