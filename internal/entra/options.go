package entra

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/redact"
)

// Method is a sign-in flow.
type Method string

// The sign-in methods. MethodAuto picks one from the options (see Resolve).
const (
	MethodAuto              Method = "auto"
	MethodROPC              Method = "ropc"
	MethodClientSecret      Method = "client-secret"
	MethodClientCertificate Method = "client-certificate"
	MethodWorkloadIdentity  Method = "workload-identity"
	MethodManagedIdentity   Method = "managed-identity"
	MethodAzureCLI          Method = "azure-cli"
	MethodDeviceCode        Method = "device-code"
)

// Methods lists every method in documentation order.
var Methods = []Method{
	MethodAuto, MethodROPC, MethodClientSecret, MethodClientCertificate,
	MethodWorkloadIdentity, MethodManagedIdentity, MethodAzureCLI, MethodDeviceCode,
}

// DefaultAuthorityHost is the public-cloud Entra authority.
const DefaultAuthorityHost = "https://login.microsoftonline.com/"

// ParseMethod parses a method name (case-insensitive, surrounding spaces
// ignored; "" means auto). The error lists the valid names.
func ParseMethod(s string) (Method, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	if v == "" {
		return MethodAuto, nil
	}
	for _, m := range Methods {
		if string(m) == v {
			return m, nil
		}
	}
	names := make([]string, len(Methods))
	for i, m := range Methods {
		names[i] = string(m)
	}
	return "", errkind.New(errkind.Usage, fmt.Errorf("unknown sign-in method %q (flag --auth, env PATROL_AUTH): use one of %s", s, strings.Join(names, ", ")))
}

// IsUserFlow reports whether m signs in a user (the only identity the PAT
// API accepts). azure-cli may be either and reports false.
func (m Method) IsUserFlow() bool { return m == MethodROPC || m == MethodDeviceCode }

// Options configure New, Resolve and DeviceCodeLogin. Secret fields are
// never printed: String, GoString, LogValue and JSON encoding omit them.
type Options struct {
	// Method to use; "" or auto lets Resolve pick.
	Method Method
	// AuthorityHost (AZURE_AUTHORITY_HOST); default DefaultAuthorityHost.
	AuthorityHost string
	// TenantID (AZURE_TENANT_ID): tenant GUID or verified domain.
	TenantID string
	// ClientID (AZURE_CLIENT_ID): the app registration's Application (client) ID.
	ClientID string
	// ClientSecret (AZURE_CLIENT_SECRET). Secret.
	ClientSecret string `json:"-"`
	// Username (AZURE_USERNAME): the technical user's UPN (ROPC).
	Username string
	// Password (AZURE_PASSWORD). Secret.
	Password string `json:"-"`
	// CertificatePath (AZURE_CLIENT_CERTIFICATE_PATH): PEM or PKCS#12 with an RSA key.
	CertificatePath string
	// CertificatePassword (AZURE_CLIENT_CERTIFICATE_PASSWORD). Secret.
	CertificatePassword string `json:"-"`
	// SendCertificateChain (AZURE_CLIENT_SEND_CERTIFICATE_CHAIN) sends x5c (subject name/issuer auth).
	SendCertificateChain bool
	// FederatedTokenFile (AZURE_FEDERATED_TOKEN_FILE) for workload identity.
	FederatedTokenFile string
	// FederatedToken, when set, supplies the workload identity's federated
	// token (a Kubernetes ServiceAccount token) instead of FederatedTokenFile;
	// it is called whenever a sign-in needs an assertion, so it should cache
	// what it obtains. Its errors should name what to fix.
	FederatedToken func(ctx context.Context) (string, error) `json:"-"`
	// ManagedIdentityClientID selects a user-assigned managed identity.
	ManagedIdentityClientID string
	// Cache stores the device-code refresh token; nil means a FileTokenCache at CachePath.
	Cache RefreshTokenStore `json:"-"`
	// CachePath of the refresh-token file (PATROL_TOKEN_CACHE); default DefaultCachePath().
	CachePath string
	// Scope to request; default api.Scope (Azure DevOps .default).
	Scope string
	// DisableInstanceDiscovery (PATROL_DISABLE_INSTANCE_DISCOVERY) for private authorities such as the emulator.
	DisableInstanceDiscovery bool
	// HTTPClient for every request; nil means http.DefaultClient.
	HTTPClient *http.Client `json:"-"`
	// Logger for debug lines (never secrets); nil discards.
	Logger *slog.Logger `json:"-"`
	// Now is the clock; nil means time.Now.
	Now func() time.Time `json:"-"`
	// Settings renames the environment variables the sign-in hints name
	// (AZURE_PASSWORD, …) to where these options really came from, e.g.
	// {"AZURE_PASSWORD": "identities.ops.passwordFile"} for an identity of
	// the config file; nil keeps the variables' names.
	Settings map[string]string `json:"-"`
	// LookupEnv reads the environment for Resolve's managed-identity detection;
	// nil means os.LookupEnv.
	LookupEnv func(key string) (string, bool) `json:"-"`

	// test hooks
	pollUnit  time.Duration // device-code interval unit (default 1s)
	retryBase time.Duration // first retry delay (default 500ms)
	waitHook  func(time.Duration)
}

// String describes the options without any secret.
func (o Options) String() string {
	var b strings.Builder
	b.WriteString("entra.Options{method=")
	b.WriteString(string(o.Method))
	field := func(k, v string) {
		if v != "" {
			b.WriteString(", " + k + "=" + v)
		}
	}
	set := func(k, v string) {
		if v != "" {
			b.WriteString(", " + k + "=REDACTED")
		}
	}
	field("authority", o.AuthorityHost)
	field("tenant", o.TenantID)
	field("client", o.ClientID)
	set("clientSecret", o.ClientSecret)
	field("username", o.Username)
	set("password", o.Password)
	field("certificate", o.CertificatePath)
	set("certificatePassword", o.CertificatePassword)
	field("federatedTokenFile", o.FederatedTokenFile)
	field("managedIdentityClientId", o.ManagedIdentityClientID)
	field("cache", o.CachePath)
	field("scope", o.Scope)
	b.WriteString("}")
	return b.String()
}

// GoString is String, so %#v does not reveal secrets either.
func (o Options) GoString() string { return o.String() }

// LogValue logs the options without secrets.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("method", string(o.Method)),
		slog.String("tenant", o.TenantID),
		slog.String("client", o.ClientID),
		slog.String("username", o.Username),
		slog.Bool("clientSecretSet", o.ClientSecret != ""),
		slog.Bool("passwordSet", o.Password != ""),
	)
}

// DefaultCachePath is $XDG_CONFIG_HOME/patrol/token-cache.json (os.UserConfigDir),
// or "" when no config directory is known.
func DefaultCachePath() string {
	dir, err := os.UserConfigDir()
	if err != nil || dir == "" {
		return ""
	}
	return filepath.Join(dir, "patrol", "token-cache.json")
}

// withDefaults returns a copy with defaults filled in.
func (o Options) withDefaults() Options {
	if o.Method == "" {
		o.Method = MethodAuto
	}
	if o.AuthorityHost == "" {
		o.AuthorityHost = DefaultAuthorityHost
	}
	if !strings.HasSuffix(o.AuthorityHost, "/") {
		o.AuthorityHost += "/"
	}
	if o.Scope == "" {
		o.Scope = api.Scope
	}
	// Token endpoints are never redirected and their answers are bounded
	// (internal/httpx, purpose Token), whatever client the caller passed.
	o.HTTPClient = httpx.For(o.HTTPClient, httpx.Token)
	// The secrets this process now holds: no error may quote them.
	redact.Register(o.Password, o.ClientSecret, o.CertificatePassword)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.CachePath == "" && o.Cache == nil {
		o.CachePath = DefaultCachePath()
	}
	if o.pollUnit <= 0 {
		o.pollUnit = time.Second
	}
	if o.retryBase <= 0 {
		o.retryBase = 500 * time.Millisecond
	}
	return o
}

// store returns the configured refresh-token store.
func (o Options) store() RefreshTokenStore {
	if o.Cache != nil {
		return o.Cache
	}
	return &FileTokenCache{Path: o.CachePath, TenantID: o.TenantID, ClientID: o.ClientID}
}

// requirement describes one missing setting.
type requirement struct {
	env, flag, what string
}

var (
	reqTenant   = requirement{"AZURE_TENANT_ID", "--tenant-id", "the Directory (tenant) ID or verified domain"}
	reqClient   = requirement{"AZURE_CLIENT_ID", "--client-id", "the app registration's Application (client) ID"}
	reqSecret   = requirement{"AZURE_CLIENT_SECRET", "", "a client secret of the app registration (env or file only)"}
	reqUser     = requirement{"AZURE_USERNAME", "--username", "the technical user's UPN"}
	reqPassword = requirement{"AZURE_PASSWORD", "", "the technical user's password (env or file only)"}
	reqCert     = requirement{"AZURE_CLIENT_CERTIFICATE_PATH", "--certificate", "a PEM or PKCS#12 file with the app's certificate and RSA private key"}
	reqFedToken = requirement{"AZURE_FEDERATED_TOKEN_FILE", "--federated-token-file", "the projected service-account token file (set by the workload identity webhook)"}
)

// ConfigError reports missing or contradictory sign-in settings. Kind is Usage.
type ConfigError struct {
	Method Method
	// Missing lists the environment variables that must be set.
	Missing []string
	Msg     string
}

func (e *ConfigError) Error() string { return e.Msg }

// Kind is errkind.Usage.
func (e *ConfigError) Kind() errkind.Kind { return errkind.Usage }

func missing(m Method, reqs ...requirement) error {
	if len(reqs) == 0 {
		return nil
	}
	parts := make([]string, len(reqs))
	envs := make([]string, len(reqs))
	for i, r := range reqs {
		envs[i] = r.env
		s := r.env
		if r.flag != "" {
			s += " (flag " + r.flag + ")"
		}
		parts[i] = fmt.Sprintf("%s is required for --auth %s: %s", s, m, r.what)
	}
	return &ConfigError{Method: m, Missing: envs, Msg: strings.Join(parts, "; ")}
}

// Resolve returns the method New would use. For auto it picks, in order:
// ropc (AZURE_USERNAME+AZURE_PASSWORD; confidential when a client secret is
// also set), client-secret, client-certificate, workload-identity,
// device-code (a refresh-token cache exists), managed-identity
// (IDENTITY_ENDPOINT or MSI_ENDPOINT in the environment). azure-cli is never
// picked automatically. For an explicit method it checks the required
// settings; errors are *ConfigError naming the env vars and flags.
func Resolve(opts Options) (Method, error) {
	o := opts.withDefaults()
	m := o.Method
	if m == MethodAuto {
		switch {
		case o.Username != "" || o.Password != "":
			if o.Username == "" || o.Password == "" {
				r := reqPassword
				if o.Username == "" {
					r = reqUser
				}
				return "", missing(MethodROPC, r)
			}
			m = MethodROPC
		case o.ClientSecret != "":
			m = MethodClientSecret
		case o.CertificatePath != "":
			m = MethodClientCertificate
		case o.FederatedTokenFile != "" || o.FederatedToken != nil:
			m = MethodWorkloadIdentity
		case o.Cache != nil || fileExists(o.CachePath):
			m = MethodDeviceCode
		case envSet(o.LookupEnv, "IDENTITY_ENDPOINT") || envSet(o.LookupEnv, "MSI_ENDPOINT"):
			m = MethodManagedIdentity
		default:
			return "", &ConfigError{Method: MethodAuto, Missing: []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID"}, Msg: "no sign-in method fits the settings (--auth auto): set one of\n" +
				"  ropc:               AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_USERNAME, AZURE_PASSWORD (+ AZURE_CLIENT_SECRET for a confidential app)\n" +
				"  client-secret:      AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET\n" +
				"  client-certificate: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_CERTIFICATE_PATH (+ AZURE_CLIENT_CERTIFICATE_PASSWORD)\n" +
				"  workload-identity:  AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE\n" +
				"  device-code:        AZURE_TENANT_ID, AZURE_CLIENT_ID and run `patrol login` once (cache PATROL_TOKEN_CACHE)\n" +
				"  managed-identity:   run where IDENTITY_ENDPOINT or MSI_ENDPOINT is set (App Service, Functions, Arc)\n" +
				"or choose explicitly with --auth (e.g. --auth azure-cli after `az login`)"}
		}
	}
	var reqs []requirement
	need := func(v string, r requirement) {
		if v == "" {
			reqs = append(reqs, r)
		}
	}
	switch m {
	case MethodROPC:
		need(o.TenantID, reqTenant)
		need(o.ClientID, reqClient)
		need(o.Username, reqUser)
		need(o.Password, reqPassword)
		if strings.EqualFold(o.TenantID, "common") || strings.EqualFold(o.TenantID, "consumers") {
			return "", &ConfigError{Method: m, Missing: []string{"AZURE_TENANT_ID"},
				Msg: fmt.Sprintf("AZURE_TENANT_ID %q cannot be used with --auth ropc: Entra rejects ROPC on the common and consumers authorities; set the tenant GUID or a verified domain", o.TenantID)}
		}
		if o.Password != "" && strings.TrimSpace(o.Password) != o.Password {
			return "", &ConfigError{Method: m, Missing: []string{"AZURE_PASSWORD"},
				Msg: "AZURE_PASSWORD has leading or trailing whitespace, which Entra ROPC does not support: check the secret source (a trailing newline in the password file?)"}
		}
	case MethodClientSecret:
		need(o.TenantID, reqTenant)
		need(o.ClientID, reqClient)
		need(o.ClientSecret, reqSecret)
	case MethodClientCertificate:
		need(o.TenantID, reqTenant)
		need(o.ClientID, reqClient)
		need(o.CertificatePath, reqCert)
	case MethodWorkloadIdentity:
		need(o.TenantID, reqTenant)
		need(o.ClientID, reqClient)
		if o.FederatedToken == nil {
			need(o.FederatedTokenFile, reqFedToken)
		}
	case MethodDeviceCode:
		need(o.TenantID, reqTenant)
		need(o.ClientID, reqClient)
		if o.Cache == nil && o.CachePath == "" {
			reqs = append(reqs, requirement{"PATROL_TOKEN_CACHE", "--token-cache", "where the refresh token from `patrol login` is kept"})
		}
	case MethodManagedIdentity, MethodAzureCLI:
	default:
		if _, err := ParseMethod(string(m)); err != nil {
			return "", err
		}
	}
	if err := missing(m, reqs...); err != nil {
		return "", err
	}
	if !isDefaultScope(o.Scope) && (m == MethodClientSecret || m == MethodClientCertificate || m == MethodWorkloadIdentity || m == MethodManagedIdentity) {
		return "", &ConfigError{Method: m, Missing: []string{"PATROL_AUTH_SCOPES"}, Msg: fmt.Sprintf("%s: explicit permissions (%s) apply to user sign-ins (ropc, device-code) only; --auth %s signs in an application, "+
			"which always gets its granted roles (.default): remove the scopes", ScopesSource, o.Scope, m)}
	}
	return m, nil
}

func envSet(lookup func(string) (string, bool), k string) bool {
	v, ok := lookup(k)
	return ok && v != ""
}

func fileExists(p string) bool {
	if p == "" {
		return false
	}
	_, err := os.Stat(p)
	return err == nil
}
