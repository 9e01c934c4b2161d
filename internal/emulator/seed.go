package emulator

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// Identities and secrets of DefaultSeed. They are emulator-only values that
// authenticate against nothing but an emulator; they are exported so tests
// and `patrol emulator` users can sign in without reading the seed.
const (
	DefaultTenantID     = "7d2f3b9c-51a4-4c1e-9b7e-0c1d2e3f4a5b"
	DefaultTenantDomain = "contoso.example"
	OtherTenantID       = "3c9e1f40-8a2b-4d6c-a1e5-6f7a8b9c0d1e"
	OtherTenantDomain   = "fabrikam.example"

	DefaultOrg   = "contoso"
	DefaultOrgID = "38aaa865-2c70-4bf7-a308-0c6539c38c1a"
	// OtherOrg belongs to the same tenant; DefaultUser is a member of both.
	OtherOrg   = "contoso-labs"
	OtherOrgID = "5b1c6d2e-7f80-4a91-b2c3-d4e5f6a7b8c9"
	// FabrikamOrg belongs to OtherTenantID.
	FabrikamOrg   = "fabrikam"
	FabrikamOrgID = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"

	DefaultProject   = "Platform"
	DefaultProjectID = "b6f3a2c1-0d9e-4f8a-8b7c-6d5e4f3a2b1c"

	DefaultUser         = "patrol-bot@contoso.example"
	DefaultUserObjectID = "0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9"
	DefaultPassword     = "emulator-only-Passw0rd!"
	// AdminUser is a Project Collection Administrator of DefaultOrg (TokenAdmin).
	AdminUser         = "admin@contoso.example"
	AdminUserObjectID = "1b2c3d4e-5f60-4172-8394-a5b6c7d8e9f0"
	// MFAUser requires MFA: ROPC fails with AADSTS50076, device code works.
	MFAUser         = "mfa-user@contoso.example"
	MFAUserObjectID = "2c3d4e5f-6071-4283-94a5-b6c7d8e9f0a1"
	// DisabledUser is disabled: AADSTS50057.
	DisabledUser         = "disabled@contoso.example"
	DisabledUserObjectID = "3d4e5f60-7182-4394-a5b6-c7d8e9f0a1b2"
	// OutsiderUser signs in fine but is no member of any organisation.
	OutsiderUser         = "outsider@contoso.example"
	OutsiderUserObjectID = "4e5f6071-8293-44a5-b6c7-d8e9f0a1b2c3"
	// FabrikamUser lives in OtherTenantID and is a member of FabrikamOrg.
	FabrikamUser         = "bot@fabrikam.example"
	FabrikamUserObjectID = "5f607182-93a4-45b6-c7d8-e9f0a1b2c3d4"

	// DefaultClientID is a confidential app that also allows public client
	// flows (ROPC without secret, device code), with admin consent granted.
	DefaultClientID     = "e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7"
	DefaultClientSecret = "emulator-only-client-secret"
	// ConfidentialClientID is confidential only: ROPC without a secret fails with AADSTS7000218.
	ConfidentialClientID     = "f2a3b4c5-d6e7-4f80-91a2-b3c4d5e6f7a8"
	ConfidentialClientSecret = "emulator-only-confidential-secret"
	// NoConsentClientID has no admin consent: user flows fail with AADSTS65001.
	NoConsentClientID = "a3b4c5d6-e7f8-4091-a2b3-c4d5e6f7a8b9"
	// Public-client apps with admin consent for less than the default set
	// (DefaultClientID consents user_impersonation, vso.pats and vso.pats_manage):
	// PATManageClientID consents vso.pats + vso.pats_manage (the least-privilege
	// setup the README recommends), PATReadClientID only vso.pats (list and get;
	// create, update and revoke get 401), ImpersonationClientID only
	// user_impersonation (everything, the legacy setup).
	PATManageClientID     = "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d"
	PATReadClientID       = "7b8c9d0e-1f2a-4b3c-9d4e-5f6a7b8c9d0e"
	ImpersonationClientID = "8c9d0e1f-2a3b-4c4d-8e5f-6a7b8c9d0e1f"

	// DefaultSPClientID is a service principal (client credentials with
	// DefaultSPSecret, or workload identity with the federated credential below).
	DefaultSPClientID = "b4c5d6e7-f809-41a2-b3c4-d5e6f7a8b9c0"
	DefaultSPObjectID = "c5d6e7f8-091a-42b3-c4d5-e6f7a8b9c0d1"
	DefaultSPSecret   = "emulator-only-sp-secret"

	// ManagedAppClientID is the application behind an Azure Resource
	// Manager service connection, whose client secret patrol rotates
	// through Graph: owned by DefaultSPClientID (which holds the Graph role
	// Application.ReadWrite.OwnedBy) and by DefaultUser.
	ManagedAppClientID    = "3b4c5d6e-7f80-4192-a3b4-c5d6e7f8091a"
	ManagedAppObjectID    = "4c5d6e7f-8091-42a3-b4c5-d6e7f8091a2b" // its service principal
	ManagedAppAppObjectID = "5d6e7f80-91a2-43b4-c5d6-e7f8091a2b3c" // its application object (Graph /applications/{id})
	ManagedAppSecret      = "emulator-only-managed-app-secret"

	// Federated credential of DefaultSPClientID (Kubernetes workload identity).
	DefaultFederatedIssuer   = "https://oidc.emulator.example/patrol"
	DefaultFederatedSubject  = "system:serviceaccount:patrol:patrol"
	DefaultFederatedAudience = "api://AzureADTokenExchange"

	// Managed identities (App Service style endpoint at /msi/token).
	DefaultMIClientID     = "d6e7f809-1a2b-43c4-d5e6-f7a8b9c0d1e2"
	DefaultMIObjectID     = "e7f8091a-2b3c-44d5-e6f7-a8b9c0d1e2f3"
	DefaultIdentityHeader = "emulator-only-identity-header"
)

// Seed is the initial world of an emulator: tenants, users, apps, managed
// identities, organisations (with projects and policies) and optional
// pre-existing PATs, service endpoints, variable groups and vault secrets.
// Seed files are YAML or JSON with the JSON field names below.
type Seed struct {
	Tenants           []Tenant          `json:"tenants"`
	Users             []User            `json:"users"`
	Apps              []App             `json:"apps"`
	ManagedIdentities []ManagedIdentity `json:"managedIdentities,omitempty"`
	// IdentityHeader is the X-IDENTITY-HEADER value /msi/token requires
	// (IDENTITY_HEADER of App Service).
	IdentityHeader string `json:"identityHeader,omitempty"`
	Orgs           []Org  `json:"orgs"`
	// DeviceCodeInterval is the polling interval (seconds) the devicecode
	// endpoint announces; polling faster gets slow_down. Default 1 (Entra: 5).
	DeviceCodeInterval int `json:"deviceCodeInterval,omitempty"`
	// RefreshTokenLifetime is the sliding inactivity lifetime of refresh
	// tokens (default 90 days).
	RefreshTokenLifetime Duration `json:"refreshTokenLifetime,omitempty"`
	// GlobalPATRetirement is when global PATs (allOrgs, targetAccounts null)
	// stop working and can no longer be created or updated (zero = the
	// service's date, 2026-12-01T00:00:00Z). Tests set it to run before or
	// after the retirement.
	GlobalPATRetirement time.Time `json:"globalPatRetirement,omitzero"`
	// LegacyPATFormat makes new PATs 52 lowercase base32 characters (the
	// format before 2024) instead of the 84-character identifiable format
	// with the AZDO signature.
	LegacyPATFormat bool `json:"legacyPatFormat,omitempty"`
	// PasswordReplicationDelay is how long a password added through Graph
	// (addPassword) does not yet sign in, as Entra's replication makes new
	// secrets fail for a while (default 0: at once).
	PasswordReplicationDelay Duration `json:"passwordReplicationDelay,omitempty"`

	PATs             []SeedPAT           `json:"pats,omitempty"`
	ServiceEndpoints []SeedEndpoint      `json:"serviceEndpoints,omitempty"`
	VariableGroups   []SeedVariableGroup `json:"variableGroups,omitempty"`
	Vaults           []SeedVault         `json:"vaults,omitempty"`
	// EndpointTypes extend BuiltinEndpointTypes.
	EndpointTypes []EndpointType `json:"endpointTypes,omitempty"`
}

// Tenant is an Entra tenant. Domains are accepted in place of the id in
// authority paths.
type Tenant struct {
	ID      string   `json:"id"`
	Domains []string `json:"domains,omitempty"`
}

// User is an Entra user.
type User struct {
	UPN         string `json:"upn"`
	Password    string `json:"password"`
	ObjectID    string `json:"objectId"`
	TenantID    string `json:"tenantId"`
	DisplayName string `json:"displayName,omitempty"`
	MFARequired bool   `json:"mfaRequired,omitempty"`
	Disabled    bool   `json:"disabled,omitempty"`
	// Deleted: the user was deleted in Entra ID (departed) but is still a
	// member of organizations, with PATs: no sign-in (AADSTS50034), Microsoft
	// Graph answers 404 for it, Azure DevOps Graph marks it isDeletedInOrigin.
	Deleted bool `json:"deleted,omitempty"`
}

// App is an Entra app registration (and its service principal).
type App struct {
	ClientID string `json:"clientId"`
	// ObjectID is the service principal's object id (oid of app tokens).
	ObjectID string `json:"objectId,omitempty"`
	// AppObjectID is the application object's id (Graph
	// /applications/{id}); default: derived from ClientID.
	AppObjectID string `json:"appObjectId,omitempty"`
	// Owners of the application: UPNs or object ids of users, client ids
	// or object ids of service principals. They may manage its passwords
	// and federated credentials through Graph (an app also needs the
	// Application.ReadWrite.OwnedBy role).
	Owners []string `json:"owners,omitempty"`
	// GraphRoles are Microsoft Graph application permissions granted to
	// the app (the roles claim of its Graph tokens): Application.ReadWrite.OwnedBy,
	// Application.ReadWrite.All, Application.Read.All; User.Read.All (or
	// Directory.Read.All) reads users (graph_directory.go).
	GraphRoles  []string `json:"graphRoles,omitempty"`
	TenantID    string   `json:"tenantId"`
	DisplayName string   `json:"displayName,omitempty"`
	Secrets     []string `json:"secrets,omitempty"`
	// SecretEnds are the endDateTime of Secrets[i] as Graph reports it
	// (and after which it stops signing in); missing or zero: two years
	// after the emulator first starts.
	SecretEnds []time.Time `json:"secretEnds,omitempty"`
	// Certificates are PEM certificates whose keys may sign client assertions.
	Certificates         []string              `json:"certificates,omitempty"`
	PublicClient         bool                  `json:"publicClient,omitempty"`
	FederatedCredentials []FederatedCredential `json:"federatedCredentials,omitempty"`
	// ConsentGranted: an admin consented the default delegated permissions:
	// for Azure DevOps DefaultDevOpsConsent (user_impersonation, vso.pats,
	// vso.pats_manage), for any other resource user_impersonation.
	ConsentGranted bool `json:"consentGranted,omitempty"`
	// ConsentedScopes are the delegated permissions an admin consented, per
	// resource (application id or ID URI, e.g. 499b84ac-1321-427f-aa17-267ca6975798:
	// [vso.pats, vso.pats_manage]). A resource listed here gets exactly these,
	// with or without ConsentGranted. /.default yields them all; an explicit
	// permission not listed fails with AADSTS65001.
	ConsentedScopes map[string][]string `json:"consentedScopes,omitempty"`
}

// FederatedCredential accepts client assertions (workload identity) whose
// iss and sub equal Issuer and Subject and whose aud contains Audience
// (default api://AzureADTokenExchange). If IssuerKeyPEM (a PEM public key or
// certificate) is set, the assertion's signature is verified with it; else
// if IssuerDiscovery is set, with the issuer's JWKS found by OIDC discovery
// ({issuer}/.well-known/openid-configuration → jwks_uri, https, through the
// emulator's outbound client: loopback and AllowOutbound, the CAs of
// OutboundHTTPClient), as Entra does; otherwise the signature is not checked.
type FederatedCredential struct {
	Issuer          string `json:"issuer"`
	Subject         string `json:"subject"`
	Audience        string `json:"audience,omitempty"`
	IssuerKeyPEM    string `json:"issuerKeyPem,omitempty"`
	IssuerDiscovery bool   `json:"issuerDiscovery,omitempty"`
}

// ManagedIdentity is a managed identity served at /msi/token. The first
// identity with System (or the first one) answers requests without client_id.
type ManagedIdentity struct {
	ClientID string `json:"clientId"`
	ObjectID string `json:"objectId"`
	TenantID string `json:"tenantId"`
	System   bool   `json:"system,omitempty"`
}

// Org is an Azure DevOps organisation.
type Org struct {
	Name     string `json:"name"`
	ID       string `json:"id"`
	TenantID string `json:"tenantId"`
	// Members are UPNs of users and client ids / object ids of service
	// principals and managed identities that may use the organisation.
	Members []string `json:"members"`
	// Admins are Project Collection Administrators (UPNs); they may call TokenAdmin.
	Admins   []string  `json:"admins,omitempty"`
	Projects []Project `json:"projects,omitempty"`
	Policy   Policy    `json:"policy,omitempty"`
}

// Project is an Azure DevOps project.
type Project struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// Policy holds the tenant and organisation PAT policies applying to an org.
type Policy struct {
	// MaxLifespanDays > 0 enforces a maximum PAT lifespan (clamping).
	MaxLifespanDays int `json:"maxLifespanDays,omitempty"`
	// BlockFullScope refuses app_token PATs (fullScopePatPolicyViolation).
	BlockFullScope bool `json:"blockFullScope,omitempty"`
	// BlockGlobal refuses allOrgs PATs (globalPatPolicyViolation).
	BlockGlobal bool `json:"blockGlobal,omitempty"`
	// RestrictCreation lets only CreationAllowlist (UPNs) create PATs
	// (disablePatCreationPolicyViolation) and blocks the use of global PATs
	// in the org for everyone else.
	RestrictCreation  bool     `json:"restrictCreation,omitempty"`
	CreationAllowlist []string `json:"creationAllowlist,omitempty"`
	// GlobalPATCreationBlocked models the global-PAT retirement (globalPATCreationBlocked).
	GlobalPATCreationBlocked bool `json:"globalPatCreationBlocked,omitempty"`
}

// SeedPAT is a pre-existing PAT. Token, if set, is its secret (so tests can
// use it); otherwise a random one is generated and discarded.
type SeedPAT struct {
	AuthorizationID string    `json:"authorizationId,omitempty"`
	Owner           string    `json:"owner"` // UPN
	Org             string    `json:"org"`
	DisplayName     string    `json:"displayName"`
	Scope           string    `json:"scope"`
	Global          bool      `json:"global,omitempty"`
	ValidFrom       time.Time `json:"validFrom,omitempty"`
	ValidTo         time.Time `json:"validTo"`
	Revoked         bool      `json:"revoked,omitempty"`
	Token           string    `json:"token,omitempty"`
}

// SeedEndpoint is a pre-existing service endpoint. Parameters hold the real
// (stored) values, confidential ones included.
type SeedEndpoint struct {
	ID         string            `json:"id,omitempty"`
	Org        string            `json:"org"`
	Project    string            `json:"project"` // name
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	URL        string            `json:"url"`
	Data       map[string]string `json:"data,omitempty"`
	Scheme     string            `json:"scheme"`
	Parameters map[string]string `json:"parameters,omitempty"`
}

// SeedVariableGroup is a pre-existing variable group.
type SeedVariableGroup struct {
	Org       string             `json:"org"`
	Project   string             `json:"project"`
	Name      string             `json:"name"`
	Variables map[string]SeedVar `json:"variables"`
}

// SeedVar is one variable of a SeedVariableGroup.
type SeedVar struct {
	Value    string `json:"value"`
	IsSecret bool   `json:"isSecret,omitempty"`
}

// SeedVault declares a Key Vault (vaults not declared are created on first write).
type SeedVault struct {
	Name     string `json:"name"`
	TenantID string `json:"tenantId,omitempty"`
}

// Duration is a time.Duration that reads and writes JSON/YAML as a Go
// duration string ("90s", "1h") and also reads a number of seconds.
type Duration time.Duration

// MarshalJSON writes "1h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON reads "1h" or 3600 (seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		v, err := time.ParseDuration(strings.Trim(s, `"`))
		if err != nil {
			return fmt.Errorf("duration %s: %w (use a Go duration such as \"90s\" or a number of seconds)", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if _, err := fmt.Sscanf(s, "%g", &f); err != nil {
		return fmt.Errorf("duration %s: want a string such as \"90s\" or a number of seconds", s)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// DefaultSeed returns the built-in world: tenants contoso.example and
// fabrikam.example, the users, apps and managed identity of the exported
// constants, and organisations contoso (project Platform), contoso-labs and
// fabrikam, without policies.
func DefaultSeed() Seed {
	return Seed{
		Tenants: []Tenant{
			{ID: DefaultTenantID, Domains: []string{DefaultTenantDomain}},
			{ID: OtherTenantID, Domains: []string{OtherTenantDomain}},
		},
		Users: []User{
			{UPN: DefaultUser, Password: DefaultPassword, ObjectID: DefaultUserObjectID, TenantID: DefaultTenantID, DisplayName: "Patrol Bot"},
			{UPN: AdminUser, Password: DefaultPassword, ObjectID: AdminUserObjectID, TenantID: DefaultTenantID, DisplayName: "Org Admin"},
			{UPN: MFAUser, Password: DefaultPassword, ObjectID: MFAUserObjectID, TenantID: DefaultTenantID, DisplayName: "MFA User", MFARequired: true},
			{UPN: DisabledUser, Password: DefaultPassword, ObjectID: DisabledUserObjectID, TenantID: DefaultTenantID, DisplayName: "Disabled User", Disabled: true},
			{UPN: OutsiderUser, Password: DefaultPassword, ObjectID: OutsiderUserObjectID, TenantID: DefaultTenantID, DisplayName: "Outsider"},
			{UPN: FabrikamUser, Password: DefaultPassword, ObjectID: FabrikamUserObjectID, TenantID: OtherTenantID, DisplayName: "Fabrikam Bot"},
		},
		Apps: []App{
			{ClientID: DefaultClientID, ObjectID: "f8091a2b-3c4d-45e6-f7a8-b9c0d1e2f3a4", TenantID: DefaultTenantID, DisplayName: "patrol",
				Secrets: []string{DefaultClientSecret}, PublicClient: true, ConsentGranted: true},
			{ClientID: ConfidentialClientID, ObjectID: "091a2b3c-4d5e-46f7-a8b9-c0d1e2f3a4b5", TenantID: DefaultTenantID, DisplayName: "patrol-confidential",
				Secrets: []string{ConfidentialClientSecret}, ConsentGranted: true},
			{ClientID: NoConsentClientID, ObjectID: "1a2b3c4d-5e6f-4708-b9c0-d1e2f3a4b5c6", TenantID: DefaultTenantID, DisplayName: "patrol-no-consent",
				PublicClient: true},
			{ClientID: PATManageClientID, ObjectID: "9d0e1f2a-3b4c-4d5e-9f6a-7b8c9d0e1f2a", TenantID: DefaultTenantID, DisplayName: "patrol-pats-manage",
				PublicClient: true, ConsentedScopes: map[string][]string{api.ResourceID: {permPATs, permPATsManage}}},
			{ClientID: PATReadClientID, ObjectID: "0e1f2a3b-4c5d-4e6f-8a7b-8c9d0e1f2a3b", TenantID: DefaultTenantID, DisplayName: "patrol-pats-read",
				PublicClient: true, ConsentedScopes: map[string][]string{api.ResourceID: {permPATs}}},
			{ClientID: ImpersonationClientID, ObjectID: "1f2a3b4c-5d6e-4f7a-9b8c-9d0e1f2a3b4c", TenantID: DefaultTenantID, DisplayName: "patrol-user-impersonation",
				PublicClient: true, ConsentedScopes: map[string][]string{api.ResourceID: {permUserImpersonation}}},
			{ClientID: DefaultSPClientID, ObjectID: DefaultSPObjectID, TenantID: DefaultTenantID, DisplayName: "patrol-sp",
				Secrets: []string{DefaultSPSecret}, ConsentGranted: true, GraphRoles: []string{graphRoleReadWriteOwnedBy, "User.Read.All"},
				FederatedCredentials: []FederatedCredential{{Issuer: DefaultFederatedIssuer, Subject: DefaultFederatedSubject, Audience: DefaultFederatedAudience}}},
			{ClientID: ManagedAppClientID, ObjectID: ManagedAppObjectID, AppObjectID: ManagedAppAppObjectID, TenantID: DefaultTenantID,
				DisplayName: "contoso-deploy", Secrets: []string{ManagedAppSecret}, Owners: []string{DefaultSPClientID, DefaultUser}},
		},
		ManagedIdentities: []ManagedIdentity{
			{ClientID: DefaultMIClientID, ObjectID: DefaultMIObjectID, TenantID: DefaultTenantID, System: true},
		},
		IdentityHeader: DefaultIdentityHeader,
		Orgs: []Org{
			{Name: DefaultOrg, ID: DefaultOrgID, TenantID: DefaultTenantID,
				Members:  []string{DefaultUser, AdminUser, MFAUser, DisabledUser, DefaultSPClientID, DefaultMIClientID},
				Admins:   []string{AdminUser},
				Projects: []Project{{Name: DefaultProject, ID: DefaultProjectID}}},
			{Name: OtherOrg, ID: OtherOrgID, TenantID: DefaultTenantID,
				Members:  []string{DefaultUser, AdminUser},
				Admins:   []string{AdminUser},
				Projects: []Project{{Name: "Labs", ID: "c7d8e9f0-a1b2-43c4-d5e6-f7a8b9c0d1e2"}}},
			{Name: FabrikamOrg, ID: FabrikamOrgID, TenantID: OtherTenantID,
				Members:  []string{FabrikamUser},
				Projects: []Project{{Name: "Web", ID: "d8e9f0a1-b2c3-44d5-e6f7-a8b9c0d1e2f3"}}},
		},
		DeviceCodeInterval: 1,
	}
}

// LoadSeed reads a YAML or JSON seed file and validates it.
func LoadSeed(path string) (Seed, error) {
	s, err := decodeSeedFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return Seed{}, fmt.Errorf("emulator seed %s: %w", path, err)
		}
		return Seed{}, fmt.Errorf("emulator seed %s: %w (see docs/emulator.md for the format)", path, err)
	}
	if err := s.Validate(); err != nil {
		return Seed{}, fmt.Errorf("emulator seed %s: %w", path, err)
	}
	return s, nil
}

// Validate checks references between seed entries.
func (s Seed) Validate() error {
	tenants := map[string]bool{}
	for i, t := range s.Tenants {
		if t.ID == "" {
			return fmt.Errorf("tenants[%d].id is empty: give every tenant a GUID", i)
		}
		tenants[strings.ToLower(t.ID)] = true
	}
	check := func(what, tid string) error {
		if !tenants[strings.ToLower(tid)] {
			return fmt.Errorf("%s: tenantId %q is not declared under tenants", what, tid)
		}
		return nil
	}
	users := map[string]bool{}
	for i, u := range s.Users {
		if u.UPN == "" || u.ObjectID == "" {
			return fmt.Errorf("users[%d]: upn and objectId are required", i)
		}
		if err := check(fmt.Sprintf("users[%d] (%s)", i, u.UPN), u.TenantID); err != nil {
			return err
		}
		users[strings.ToLower(u.UPN)] = true
	}
	for i, a := range s.Apps {
		if a.ClientID == "" {
			return fmt.Errorf("apps[%d].clientId is empty", i)
		}
		if err := check(fmt.Sprintf("apps[%d] (%s)", i, a.ClientID), a.TenantID); err != nil {
			return err
		}
		for res, perms := range a.ConsentedScopes {
			if strings.TrimSpace(res) == "" || len(perms) == 0 {
				return fmt.Errorf("apps[%d] (%s).consentedScopes: give each resource (application id or ID URI) a non-empty list of permissions", i, a.ClientID)
			}
			for _, p := range perms {
				if canonicalResource(res) == canonicalResource(adoAppIDURI) && p != permUserImpersonation && (!KnownScopes[p] || p == "app_token") {
					return fmt.Errorf("apps[%d] (%s).consentedScopes[%s]: %q is not an Azure DevOps delegated permission: use user_impersonation or a vso.* scope such as vso.pats, vso.pats_manage", i, a.ClientID, res, p)
				}
				if strings.ContainsAny(p, " /") || p == ".default" {
					return fmt.Errorf("apps[%d] (%s).consentedScopes[%s]: %q is not a permission name (no spaces, slashes or .default)", i, a.ClientID, res, p)
				}
			}
		}
		for j, c := range a.Certificates {
			if _, err := parseCertPEM(c); err != nil {
				return fmt.Errorf("apps[%d].certificates[%d]: %w", i, j, err)
			}
		}
	}
	for i, m := range s.ManagedIdentities {
		if err := check(fmt.Sprintf("managedIdentities[%d]", i), m.TenantID); err != nil {
			return err
		}
	}
	orgs := map[string]bool{}
	for i, o := range s.Orgs {
		if o.Name == "" || o.ID == "" {
			return fmt.Errorf("orgs[%d]: name and id are required", i)
		}
		if err := check(fmt.Sprintf("orgs[%d] (%s)", i, o.Name), o.TenantID); err != nil {
			return err
		}
		orgs[strings.ToLower(o.Name)] = true
	}
	for i, p := range s.PATs {
		if !users[strings.ToLower(p.Owner)] {
			return fmt.Errorf("pats[%d].owner %q is not a declared user", i, p.Owner)
		}
		if !orgs[strings.ToLower(p.Org)] {
			return fmt.Errorf("pats[%d].org %q is not a declared org", i, p.Org)
		}
	}
	for i, ep := range s.ServiceEndpoints {
		if !orgs[strings.ToLower(ep.Org)] {
			return fmt.Errorf("serviceEndpoints[%d].org %q is not a declared org", i, ep.Org)
		}
	}
	for i, vg := range s.VariableGroups {
		if !orgs[strings.ToLower(vg.Org)] {
			return fmt.Errorf("variableGroups[%d].org %q is not a declared org", i, vg.Org)
		}
	}
	return nil
}
