// Package config holds patrol's configuration: how to connect (Connection:
// organisation, sign-in, endpoints, logging) and what to rotate (File: the
// managed credentials of patrol.yaml). Values come from, in increasing
// precedence: the YAML file, environment variables, command-line flags.
// Secrets are accepted only from the environment or from files, never from
// flags.
//
// LoadConnection (connection_load.go) implements the precedence for the
// Connection part; the environment variable names are the Env* constants.
package config

// Connection says where Azure DevOps and Entra ID are and how to sign in.
// JSON tags are the YAML field names of patrol.yaml.
type Connection struct {
	// Organization is the Azure DevOps organisation name (env AZURE_DEVOPS_ORG).
	Organization string    `json:"organization,omitempty"`
	Auth         Auth      `json:"auth,omitempty"`
	Endpoints    Endpoints `json:"endpoints,omitempty"`
	Log          Log       `json:"log,omitempty"`
}

// Auth selects and configures the Entra sign-in flow. Secret values
// (password, client secret) are never read from YAML: only from the
// environment or a *File field naming a file that holds them.
type Auth struct {
	// Method: auto|ropc|client-secret|client-certificate|workload-identity|
	// managed-identity|azure-cli|device-code (flag --auth, env PATROL_AUTH).
	Method string `json:"method,omitempty"`
	// TenantID (AZURE_TENANT_ID).
	TenantID string `json:"tenantId,omitempty"`
	// ClientID (AZURE_CLIENT_ID).
	ClientID string `json:"clientId,omitempty"`
	// ClientSecret (AZURE_CLIENT_SECRET); not settable in YAML.
	ClientSecret string `json:"-"`
	// ClientSecretFile names a file whose content is the client secret
	// (PATROL_CLIENT_SECRET_FILE, flag --client-secret-file).
	ClientSecretFile string `json:"clientSecretFile,omitempty"`
	// Username (AZURE_USERNAME), the technical user's UPN.
	Username string `json:"username,omitempty"`
	// Password (AZURE_PASSWORD); not settable in YAML.
	Password string `json:"-"`
	// PasswordFile names a file whose content is the password
	// (PATROL_PASSWORD_FILE, flag --password-file).
	PasswordFile string `json:"passwordFile,omitempty"`
	// CertificatePath (AZURE_CLIENT_CERTIFICATE_PATH): PEM or PKCS#12.
	CertificatePath string `json:"certificatePath,omitempty"`
	// CertificatePassword (AZURE_CLIENT_CERTIFICATE_PASSWORD); not in YAML.
	CertificatePassword string `json:"-"`
	// SendCertificateChain (AZURE_CLIENT_SEND_CERTIFICATE_CHAIN).
	SendCertificateChain bool `json:"sendCertificateChain,omitempty"`
	// FederatedTokenFile (AZURE_FEDERATED_TOKEN_FILE) for workload identity.
	FederatedTokenFile string `json:"federatedTokenFile,omitempty"`
	// ManagedIdentityClientID selects a user-assigned managed identity
	// (PATROL_MANAGED_IDENTITY_CLIENT_ID).
	ManagedIdentityClientID string `json:"managedIdentityClientId,omitempty"`
	// TokenCache is the device-code refresh-token cache file
	// (PATROL_TOKEN_CACHE; default $XDG_CONFIG_HOME/patrol/token-cache.json).
	TokenCache string `json:"tokenCache,omitempty"`
	// Scopes are the Azure DevOps delegated permissions to request for user
	// sign-ins, e.g. [vso.pats, vso.pats_manage] (PATROL_AUTH_SCOPES, space-
	// or comma-separated; flag --auth-scope, repeatable). Empty = .default,
	// every permission an admin consented.
	Scopes []string `json:"scopes,omitempty"`
}

// Endpoints are the service URLs, overridable for sovereign clouds and the emulator.
type Endpoints struct {
	// AuthorityHost (AZURE_AUTHORITY_HOST), default https://login.microsoftonline.com/.
	AuthorityHost string `json:"authorityHost,omitempty"`
	// DisableInstanceDiscovery skips Entra instance discovery (needed for
	// private authorities such as the emulator). PATROL_DISABLE_INSTANCE_DISCOVERY.
	DisableInstanceDiscovery bool `json:"disableInstanceDiscovery,omitempty"`
	// VSSPS base URL (PATROL_VSSPS_URL), default https://vssps.dev.azure.com.
	VSSPS string `json:"vssps,omitempty"`
	// DevOps base URL (PATROL_DEVOPS_URL), default https://dev.azure.com.
	DevOps string `json:"devops,omitempty"`
	// Audit base URL of the audit log (PATROL_AUDIT_URL), default
	// https://auditservice.dev.azure.com (`patrol audit`).
	Audit string `json:"audit,omitempty"`
	// Graph base URL of Microsoft Graph (PATROL_GRAPH_URL), default the
	// Graph of the authority host's cloud (https://graph.microsoft.com;
	// https://graph.microsoft.us for login.microsoftonline.us;
	// https://microsoftgraph.chinacloudapi.cn for login.chinacloudapi.cn):
	// entra-app-secret, endpoint convert-to-wif, audit.
	Graph string `json:"graph,omitempty"`
	// APIVersion of the PAT API (PATROL_API_VERSION), default 7.1-preview.1.
	APIVersion string `json:"apiVersion,omitempty"`
	// CABundle is an extra PEM bundle to trust (PATROL_CA_BUNDLE), added to
	// the system roots.
	CABundle string `json:"caBundle,omitempty"`
	// MaxPages bounds the pages one Azure DevOps listing follows
	// (PATROL_MAX_PAGES, --max-pages), default 1000: a server that keeps
	// handing out continuation tokens cannot keep patrol busy forever.
	MaxPages int `json:"maxPages,omitempty"`
}

// Log configures slog output.
type Log struct {
	// Format: text|json (PATROL_LOG_FORMAT); default text on a TTY, json otherwise.
	Format string `json:"format,omitempty"`
	// Level: debug|info|warn|error (PATROL_LOG_LEVEL); default warn for CLI
	// commands (a command running unattended may default to info).
	Level string `json:"level,omitempty"`
}
