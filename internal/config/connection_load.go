package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/graph"
	"sigs.k8s.io/yaml"
)

// Environment variable names read by LoadConnection. The AZURE_* names are
// the seed's and azidentity's; PATROL_* are patrol's own.
const (
	EnvConfig                   = "PATROL_CONFIG"
	EnvOrganization             = "AZURE_DEVOPS_ORG"
	EnvAuth                     = "PATROL_AUTH"
	EnvTenantID                 = "AZURE_TENANT_ID"
	EnvClientID                 = "AZURE_CLIENT_ID"
	EnvClientSecret             = "AZURE_CLIENT_SECRET"
	EnvClientSecretFile         = "PATROL_CLIENT_SECRET_FILE"
	EnvUsername                 = "AZURE_USERNAME"
	EnvPassword                 = "AZURE_PASSWORD"
	EnvPasswordFile             = "PATROL_PASSWORD_FILE"
	EnvCertificatePath          = "AZURE_CLIENT_CERTIFICATE_PATH"
	EnvCertificatePassword      = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	EnvSendCertificateChain     = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"
	EnvFederatedTokenFile       = "AZURE_FEDERATED_TOKEN_FILE"
	EnvManagedIdentityClientID  = "PATROL_MANAGED_IDENTITY_CLIENT_ID"
	EnvTokenCache               = "PATROL_TOKEN_CACHE"
	EnvAuthScopes               = "PATROL_AUTH_SCOPES"
	EnvAuthorityHost            = "AZURE_AUTHORITY_HOST"
	EnvDisableInstanceDiscovery = "PATROL_DISABLE_INSTANCE_DISCOVERY"
	EnvVSSPSURL                 = "PATROL_VSSPS_URL"
	EnvAuditURL                 = "PATROL_AUDIT_URL"
	EnvGraphURL                 = "PATROL_GRAPH_URL"
	EnvDevOpsURL                = "PATROL_DEVOPS_URL"
	EnvAPIVersion               = "PATROL_API_VERSION"
	EnvCABundle                 = "PATROL_CA_BUNDLE"
	EnvMaxPages                 = "PATROL_MAX_PAGES"
	EnvLogFormat                = "PATROL_LOG_FORMAT"
	EnvLogLevel                 = "PATROL_LOG_LEVEL"
)

// Defaults applied by LoadConnection for values left empty.
const (
	DefaultAuthorityHost = "https://login.microsoftonline.com/"
	DefaultVSSPSURL      = "https://vssps.dev.azure.com"
	DefaultAuditURL      = "https://auditservice.dev.azure.com"
	DefaultDevOpsURL     = "https://dev.azure.com"
	DefaultAPIVersion    = "7.1-preview.1"
	DefaultAuthMethod    = "auto"
	DefaultMaxPages      = 1000
	MaxMaxPages          = 1000000
)

// AuthMethods lists the valid values of auth.method / --auth / PATROL_AUTH.
var AuthMethods = []string{"auto", "ropc", "client-secret", "client-certificate", "workload-identity", "managed-identity", "azure-cli", "device-code"}

// LookupEnv looks up an environment variable (os.LookupEnv in production).
type LookupEnv func(name string) (string, bool)

// ConnectionFlags are the command-line overrides. Empty strings and nil
// pointers mean "flag not given". There are deliberately no fields for
// secret values: secrets come from the environment or files only.
type ConnectionFlags struct {
	Organization             string
	AuthMethod               string
	TenantID                 string
	ClientID                 string
	Username                 string
	PasswordFile             string
	ClientSecretFile         string
	CertificatePath          string
	FederatedTokenFile       string
	ManagedIdentityClientID  string
	TokenCache               string
	AuthScopes               []string
	AuthorityHost            string
	DisableInstanceDiscovery *bool
	VSSPS                    string
	DevOps                   string
	APIVersion               string
	CABundle                 string
	MaxPages                 int // 0: not given
	LogFormat                string
	LogLevel                 string
}

// LoadOptions say where LoadConnection reads from.
type LoadOptions struct {
	// File is the patrol.yaml path (--config); "" means PATROL_CONFIG, and if
	// that is empty too no file is read.
	File string
	// Env looks up environment variables; nil means os.LookupEnv.
	Env LookupEnv
	// Flags are the command-line overrides.
	Flags ConnectionFlags
	// FileConnection, when set, is the Connection of a patrol.yaml the
	// caller already read and validated strictly (LoadFile); File and
	// PATROL_CONFIG are then not read again.
	FileConnection *Connection
}

// ConfigError is a missing or malformed configuration value. Source names
// where the value came from (env var, flag, file field) so the user knows
// what to change.
type ConfigError struct {
	Source  string // e.g. "AZURE_DEVOPS_ORG (flag --org, organization in patrol.yaml)"
	Problem string // what is wrong
	Fix     string // what to do
}

func (e *ConfigError) Error() string {
	s := e.Source + ": " + e.Problem
	if e.Fix != "" {
		s += "; " + e.Fix
	}
	return s
}

// Kind is errkind.Usage: fix the input.
func (e *ConfigError) Kind() errkind.Kind { return errkind.Usage }

// LoadConnection reads the connection settings with precedence
// file < environment < flags, reads secret files, applies defaults and
// validates formats. It does not require an organisation or credentials;
// commands that need them call RequireOrganization and the sign-in code
// reports missing credentials for the chosen method.
func LoadConnection(opts LoadOptions) (Connection, error) {
	env := opts.Env
	if env == nil {
		env = os.LookupEnv
	}
	var c Connection
	path := opts.File
	if path == "" {
		path, _ = env(EnvConfig)
	}
	if opts.FileConnection != nil {
		c = *opts.FileConnection
	} else if path != "" {
		fc, err := ReadConnectionFile(path)
		if err != nil {
			return Connection{}, err
		}
		c = fc
	}
	if err := applyEnv(&c, env); err != nil {
		return Connection{}, err
	}
	applyFlags(&c, opts.Flags)
	if err := readSecretFiles(&c); err != nil {
		return Connection{}, err
	}
	applyDefaults(&c)
	if err := c.Validate(); err != nil {
		return Connection{}, err
	}
	return c, nil
}

// connectionKeys are the top-level keys of patrol.yaml that belong to the
// Connection; the rest (rotation, credentials, …) are read by the file
// loader of the rotation configuration.
var connectionKeys = map[string]bool{"organization": true, "auth": true, "endpoints": true, "log": true}

// secretYAMLFields are fields a user might try to put in YAML that are only
// accepted from env or files.
var secretYAMLFields = map[string]string{
	"password":            "set AZURE_PASSWORD or auth.passwordFile",
	"clientSecret":        "set AZURE_CLIENT_SECRET or auth.clientSecretFile",
	"certificatePassword": "set AZURE_CLIENT_CERTIFICATE_PASSWORD",
}

// ReadConnectionFile reads the Connection part of a patrol.yaml strictly:
// unknown fields inside organization/auth/endpoints/log are errors; other
// top-level keys are left to the rotation configuration loader.
func ReadConnectionFile(path string) (Connection, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return Connection{}, &ConfigError{Source: "config file " + path + " (--config / PATROL_CONFIG)", Problem: "cannot be read: " + err.Error(), Fix: "check the path, or unset PATROL_CONFIG to run from environment variables only"}
	}
	return ParseConnectionYAML(path, data)
}

// ParseConnectionYAML is ReadConnectionFile on data; name is used in errors.
func ParseConnectionYAML(name string, data []byte) (Connection, error) {
	src := "config file " + name
	if len(bytes.TrimSpace(data)) == 0 {
		return Connection{}, nil
	}
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return Connection{}, &ConfigError{Source: src, Problem: "is not valid YAML: " + err.Error(), Fix: "fix the syntax at the position shown"}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(j, &top); err != nil || top == nil {
		if string(bytes.TrimSpace(j)) == "null" {
			return Connection{}, nil
		}
		return Connection{}, &ConfigError{Source: src, Problem: "must be a YAML mapping (key: value) at the top level", Fix: "see docs/cli.md for the file layout"}
	}
	if auth, ok := top["auth"]; ok {
		var m map[string]json.RawMessage
		if json.Unmarshal(auth, &m) == nil {
			for _, k := range sortedKeys(secretYAMLFields) {
				if _, bad := m[k]; bad {
					return Connection{}, &ConfigError{Source: src + ": auth." + k, Problem: "secrets are not accepted in the config file", Fix: secretYAMLFields[k]}
				}
			}
		}
	}
	sub := map[string]json.RawMessage{}
	for k, v := range top {
		if connectionKeys[k] {
			sub[k] = v
		}
	}
	if err := checkExactKeys(sub); err != nil {
		return Connection{}, &ConfigError{Source: src, Problem: err.Error(), Fix: "field names are case-sensitive; see docs/cli.md for the valid fields of organization, auth, endpoints and log"}
	}
	b, _ := json.Marshal(sub)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Connection
	if err := dec.Decode(&c); err != nil {
		return Connection{}, &ConfigError{Source: src, Problem: describeJSONError(err), Fix: "see docs/cli.md for the valid fields of organization, auth, endpoints and log"}
	}
	return c, nil
}

// checkExactKeys rejects keys that encoding/json would match only
// case-insensitively (tenantID for tenantId): the file must use the exact names.
func checkExactKeys(sub map[string]json.RawMessage) error {
	sections := map[string]reflect.Type{
		"auth":      reflect.TypeFor[Auth](),
		"endpoints": reflect.TypeFor[Endpoints](),
		"log":       reflect.TypeFor[Log](),
	}
	for _, name := range sortedKeys(sub) {
		t, ok := sections[name]
		if !ok {
			continue
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(sub[name], &m) != nil {
			continue // type errors are reported by the decoder
		}
		valid := map[string]bool{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if tag != "" && tag != "-" {
				valid[tag] = true
				names = append(names, tag)
			}
		}
		for _, k := range sortedKeys(m) {
			if !valid[k] {
				return fmt.Errorf("unknown field %s.%s (valid: %s)", name, k, strings.Join(names, ", "))
			}
		}
	}
	return nil
}

func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s must be a %s, not a %s", te.Field, te.Type.String(), te.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + f
	}
	return msg
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func applyEnv(c *Connection, env LookupEnv) error {
	str := func(dst *string, name string) {
		if v, ok := env(name); ok && v != "" {
			*dst = v
		}
	}
	boolean := func(dst *bool, name string) error {
		v, ok := env(name)
		if !ok || v == "" {
			return nil
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return &ConfigError{Source: name, Problem: fmt.Sprintf("%q is not a boolean", v), Fix: "use true or false"}
		}
		*dst = b
		return nil
	}
	if v, ok := env(EnvOrganization); ok && v != "" {
		// The organisation's URL works here as it does for --org and organization:.
		org, err := OrganizationArg(EnvOrganization, v)
		if err != nil {
			return err
		}
		c.Organization = org
	}
	str(&c.Auth.Method, EnvAuth)
	str(&c.Auth.TenantID, EnvTenantID)
	str(&c.Auth.ClientID, EnvClientID)
	str(&c.Auth.ClientSecret, EnvClientSecret)
	str(&c.Auth.ClientSecretFile, EnvClientSecretFile)
	str(&c.Auth.Username, EnvUsername)
	str(&c.Auth.Password, EnvPassword)
	str(&c.Auth.PasswordFile, EnvPasswordFile)
	str(&c.Auth.CertificatePath, EnvCertificatePath)
	str(&c.Auth.CertificatePassword, EnvCertificatePassword)
	if err := boolean(&c.Auth.SendCertificateChain, EnvSendCertificateChain); err != nil {
		return err
	}
	str(&c.Auth.FederatedTokenFile, EnvFederatedTokenFile)
	str(&c.Auth.ManagedIdentityClientID, EnvManagedIdentityClientID)
	str(&c.Auth.TokenCache, EnvTokenCache)
	if v, ok := env(EnvAuthScopes); ok && strings.TrimSpace(v) != "" {
		c.Auth.Scopes = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	}
	str(&c.Endpoints.AuthorityHost, EnvAuthorityHost)
	if err := boolean(&c.Endpoints.DisableInstanceDiscovery, EnvDisableInstanceDiscovery); err != nil {
		return err
	}
	str(&c.Endpoints.VSSPS, EnvVSSPSURL)
	str(&c.Endpoints.Audit, EnvAuditURL)
	str(&c.Endpoints.Graph, EnvGraphURL)
	str(&c.Endpoints.DevOps, EnvDevOpsURL)
	str(&c.Endpoints.APIVersion, EnvAPIVersion)
	str(&c.Endpoints.CABundle, EnvCABundle)
	if v, ok := env(EnvMaxPages); ok && strings.TrimSpace(v) != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return &ConfigError{Source: EnvMaxPages, Problem: fmt.Sprintf("%q is not a whole number", v), Fix: fmt.Sprintf("use a page count in 1..%d (default %d)", MaxMaxPages, DefaultMaxPages)}
		}
		c.Endpoints.MaxPages = n
	}
	str(&c.Log.Format, EnvLogFormat)
	str(&c.Log.Level, EnvLogLevel)
	return nil
}

func applyFlags(c *Connection, f ConnectionFlags) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&c.Organization, f.Organization)
	set(&c.Auth.Method, f.AuthMethod)
	set(&c.Auth.TenantID, f.TenantID)
	set(&c.Auth.ClientID, f.ClientID)
	set(&c.Auth.Username, f.Username)
	if f.PasswordFile != "" {
		c.Auth.PasswordFile = f.PasswordFile
		c.Auth.Password = "" // the file given on the command line wins over AZURE_PASSWORD
	}
	if f.ClientSecretFile != "" {
		c.Auth.ClientSecretFile = f.ClientSecretFile
		c.Auth.ClientSecret = ""
	}
	set(&c.Auth.CertificatePath, f.CertificatePath)
	set(&c.Auth.FederatedTokenFile, f.FederatedTokenFile)
	set(&c.Auth.ManagedIdentityClientID, f.ManagedIdentityClientID)
	set(&c.Auth.TokenCache, f.TokenCache)
	if len(f.AuthScopes) > 0 {
		c.Auth.Scopes = f.AuthScopes
	}
	set(&c.Endpoints.AuthorityHost, f.AuthorityHost)
	if f.DisableInstanceDiscovery != nil {
		c.Endpoints.DisableInstanceDiscovery = *f.DisableInstanceDiscovery
	}
	set(&c.Endpoints.VSSPS, f.VSSPS)
	set(&c.Endpoints.DevOps, f.DevOps)
	set(&c.Endpoints.APIVersion, f.APIVersion)
	set(&c.Endpoints.CABundle, f.CABundle)
	if f.MaxPages != 0 {
		c.Endpoints.MaxPages = f.MaxPages
	}
	set(&c.Log.Format, f.LogFormat)
	set(&c.Log.Level, f.LogLevel)
}

// readSecretFiles fills Password/ClientSecret from their *File fields when the
// value itself was not given (an explicit env value wins over a file from the
// YAML; a file given by flag already cleared the env value).
func readSecretFiles(c *Connection) error {
	read := func(path, what, source string) (string, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", &ConfigError{Source: source, Problem: fmt.Sprintf("the %s file %q cannot be read: %v", what, path, err), Fix: "point it at a readable file containing only the " + what}
		}
		v := strings.TrimRight(string(data), "\r\n")
		if v == "" {
			return "", &ConfigError{Source: source, Problem: fmt.Sprintf("the %s file %q is empty", what, path), Fix: "write the " + what + " into it"}
		}
		return v, nil
	}
	var err error
	if c.Auth.Password == "" && c.Auth.PasswordFile != "" {
		if c.Auth.Password, err = read(c.Auth.PasswordFile, "password", "--password-file / PATROL_PASSWORD_FILE / auth.passwordFile"); err != nil {
			return err
		}
	}
	if c.Auth.ClientSecret == "" && c.Auth.ClientSecretFile != "" {
		if c.Auth.ClientSecret, err = read(c.Auth.ClientSecretFile, "client secret", "--client-secret-file / PATROL_CLIENT_SECRET_FILE / auth.clientSecretFile"); err != nil {
			return err
		}
	}
	return nil
}

func applyDefaults(c *Connection) {
	if c.Auth.Method == "" {
		c.Auth.Method = DefaultAuthMethod
	}
	if c.Endpoints.AuthorityHost == "" {
		c.Endpoints.AuthorityHost = DefaultAuthorityHost
	}
	if c.Endpoints.Audit == "" {
		c.Endpoints.Audit = DefaultAuditURL
	}
	if c.Endpoints.Graph == "" {
		c.Endpoints.Graph = graph.URLFor(c.Endpoints.AuthorityHost)
	}
	if c.Endpoints.VSSPS == "" {
		c.Endpoints.VSSPS = DefaultVSSPSURL
	}
	if c.Endpoints.DevOps == "" {
		c.Endpoints.DevOps = DefaultDevOpsURL
	}
	if c.Endpoints.APIVersion == "" {
		c.Endpoints.APIVersion = DefaultAPIVersion
	}
	if c.Endpoints.MaxPages == 0 {
		c.Endpoints.MaxPages = DefaultMaxPages
	}
}

var (
	orgNameRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,48}[A-Za-z0-9]$|^[A-Za-z0-9]$`)
	})
	apiVersionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\d+\.\d+(-preview(\.\d+)?)?$`) })
	guidRE       = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	})
	domainRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$`)
	})
)

// Validate checks the formats of the values that are set. It does not
// require any value.
func (c Connection) Validate() error {
	if c.Organization != "" && !orgNameRE().MatchString(c.Organization) {
		return &ConfigError{Source: EnvOrganization + " (flag --org, organization)", Problem: fmt.Sprintf("%q is not an Azure DevOps organisation name", c.Organization), Fix: "use the name only (e.g. contoso for https://dev.azure.com/contoso): letters, digits and hyphens, 1-50 characters"}
	}
	if c.Auth.Method != "" {
		ok := false
		for _, m := range AuthMethods {
			if c.Auth.Method == m {
				ok = true
			}
		}
		if !ok {
			return &ConfigError{Source: EnvAuth + " (flag --auth, auth.method)", Problem: fmt.Sprintf("%q is not a sign-in method", c.Auth.Method), Fix: "use one of " + strings.Join(AuthMethods, ", ")}
		}
	}
	if t := c.Auth.TenantID; t != "" && !guidRE().MatchString(t) && !domainRE().MatchString(t) && t != "organizations" && t != "common" {
		return &ConfigError{Source: EnvTenantID + " (flag --tenant-id, auth.tenantId)", Problem: fmt.Sprintf("%q is neither a tenant GUID nor a verified domain", t), Fix: "copy the Directory (tenant) ID from the app registration's overview page"}
	}
	if id := c.Auth.ClientID; id != "" && !guidRE().MatchString(id) {
		return &ConfigError{Source: EnvClientID + " (flag --client-id, auth.clientId)", Problem: fmt.Sprintf("%q is not a GUID", id), Fix: "copy the Application (client) ID from the app registration's overview page"}
	}
	if u := c.Auth.Username; u != "" && !strings.Contains(u, "@") {
		return &ConfigError{Source: EnvUsername + " (flag --username, auth.username)", Problem: fmt.Sprintf("%q is not a user principal name", u), Fix: "use the technical user's UPN, e.g. patrol-bot@contoso.com"}
	}
	if p := c.Auth.Password; p != "" && strings.TrimSpace(p) != p {
		return &ConfigError{Source: EnvPassword + " (or the password file)", Problem: "has leading or trailing whitespace, which Entra ID's password sign-in does not support", Fix: "remove the whitespace (check for a stray newline or space in the secret)"}
	}
	urls := []struct{ v, src string }{
		{c.Endpoints.AuthorityHost, EnvAuthorityHost + " (flag --authority-host, endpoints.authorityHost)"},
		{c.Endpoints.VSSPS, EnvVSSPSURL + " (flag --vssps-url, endpoints.vssps)"},
		{c.Endpoints.DevOps, EnvDevOpsURL + " (flag --devops-url, endpoints.devops)"},
		{c.Endpoints.Audit, EnvAuditURL + " (endpoints.audit)"},
		{c.Endpoints.Graph, EnvGraphURL + " (endpoints.graph)"},
	}
	for _, u := range urls {
		if u.v == "" {
			continue
		}
		if err := checkHTTPSURL(u.v); err != nil {
			return &ConfigError{Source: u.src, Problem: fmt.Sprintf("%q %s", u.v, err.Error()), Fix: "use an absolute https:// URL such as https://dev.azure.com"}
		}
	}
	if v := c.Endpoints.APIVersion; v != "" && !apiVersionRE().MatchString(v) {
		return &ConfigError{Source: EnvAPIVersion + " (flag --api-version, endpoints.apiVersion)", Problem: fmt.Sprintf("%q is not an api-version", v), Fix: "use e.g. 7.1-preview.1 or 7.2-preview.1"}
	}
	if n := c.Endpoints.MaxPages; n < 0 || n > MaxMaxPages {
		return &ConfigError{Source: EnvMaxPages + " (flag --max-pages, endpoints.maxPages)", Problem: fmt.Sprintf("%d is out of range", n), Fix: fmt.Sprintf("use a page count in 1..%d (default %d)", MaxMaxPages, DefaultMaxPages)}
	}
	if f := c.Log.Format; f != "" && f != "text" && f != "json" {
		return &ConfigError{Source: EnvLogFormat + " (flag --log-format, log.format)", Problem: fmt.Sprintf("%q is not a log format", f), Fix: "use text or json"}
	}
	if l := strings.ToLower(c.Log.Level); l != "" && l != "debug" && l != "info" && l != "warn" && l != "warning" && l != "error" {
		return &ConfigError{Source: EnvLogLevel + " (flag --log-level, log.level)", Problem: fmt.Sprintf("%q is not a log level", c.Log.Level), Fix: "use debug, info, warn or error"}
	}
	return nil
}

func checkHTTPSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("does not parse as a URL")
	}
	if u.Scheme != "https" {
		return errors.New("must use https (TLS verification is always on)")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	return nil
}

// RequireOrganization fails with a ConfigError when no organisation is set.
func (c Connection) RequireOrganization() error {
	if c.Organization == "" {
		return &ConfigError{Source: EnvOrganization + " (flag --org, organization in patrol.yaml)", Problem: "is not set", Fix: "set it to your Azure DevOps organisation name, e.g. AZURE_DEVOPS_ORG=contoso for https://dev.azure.com/contoso"}
	}
	return nil
}

// Redacted returns a copy with every secret value replaced by "REDACTED"
// (empty ones stay empty), for printing the effective configuration.
func (c Connection) Redacted() Connection {
	r := func(s string) string {
		if s == "" {
			return ""
		}
		return "REDACTED"
	}
	c.Auth.Password = r(c.Auth.Password)
	c.Auth.ClientSecret = r(c.Auth.ClientSecret)
	c.Auth.CertificatePassword = r(c.Auth.CertificatePassword)
	return c
}

// String never shows secrets.
func (a Auth) String() string {
	set := func(s string) string {
		if s == "" {
			return "unset"
		}
		return "set"
	}
	return fmt.Sprintf("Auth{method=%s tenant=%s client=%s username=%s password=%s clientSecret=%s certificate=%s}",
		a.Method, a.TenantID, a.ClientID, a.Username, set(a.Password), set(a.ClientSecret), a.CertificatePath)
}

// GoString never shows secrets.
func (a Auth) GoString() string { return a.String() }
