package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Sink kinds (status.sinks[].kind), one per member of PATSink.
const (
	SinkKindServiceConnection = "serviceConnection"
	SinkKindVariableGroup     = "variableGroup"
	SinkKindKeyVault          = "keyVault"
	SinkKindHTTP              = "http"
)

// PATSink is one further delivery of the PAT besides secretTarget, of the
// kinds patrol.yaml's credentials have (internal/sink): exactly one of
// serviceConnection, variableGroup, keyVault or http. The CronJob's file
// sink has no equivalent: a file in the controller's Pod reaches no
// consumer (use secretTarget and mount the Secret). Every secret a sink
// needs is a SecretKeyRef in the PersonalAccessToken's namespace.
//
// +kubebuilder:validation:XValidation:rule="[has(self.serviceConnection), has(self.variableGroup), has(self.keyVault), has(self.http)].filter(x, x).size() == 1",message="sinks[]: set exactly one of serviceConnection, variableGroup, keyVault or http"
type PATSink struct {
	// Name identifies the sink in status.sinks, conditions and Events.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// ServiceConnection puts the PAT into one authorization parameter of an
	// Azure DevOps service connection of the identity's organisation.
	// +optional
	ServiceConnection *ServiceConnectionSink `json:"serviceConnection,omitempty"`
	// VariableGroup stores the PAT in one variable of a pipeline library
	// variable group of the identity's organisation.
	// +optional
	VariableGroup *VariableGroupSink `json:"variableGroup,omitempty"`
	// KeyVault stores the PAT as an Azure Key Vault secret, signed in as the identity.
	// +optional
	KeyVault *KeyVaultSink `json:"keyVault,omitempty"`
	// HTTP delivers the PAT to a third-party tool with one HTTPS request.
	// +optional
	HTTP *HTTPSink `json:"http,omitempty"`
}

// ServiceConnectionSink is the azure-devops-service-endpoint sink.
//
// +kubebuilder:validation:XValidation:rule="has(self.endpointId) != has(self.endpointName)",message="serviceConnection: set exactly one of endpointId or endpointName"
type ServiceConnectionSink struct {
	// Project that holds the service connection.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Project string `json:"project"`
	// EndpointID of the service connection (a GUID).
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	EndpointID string `json:"endpointId,omitempty"`
	// EndpointName of the service connection (unique in the project).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	EndpointName string `json:"endpointName,omitempty"`
	// Parameter is the authorization parameter that receives the PAT (e.g. apitoken, password).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Parameter string `json:"parameter"`
	// Scheme, when set, must equal the connection's authorization scheme (e.g. Token, UsernamePassword).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Scheme string `json:"scheme,omitempty"`
	// WaitReady (default true) waits until the connection is ready after the update.
	// +optional
	WaitReady *bool `json:"waitReady,omitempty"`
	// PollInterval between readiness checks (default 2s).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="pollInterval must be positive"
	PollInterval *metav1.Duration `json:"pollInterval,omitempty"`
}

// VariableGroupSink is the azure-devops-variable-group sink.
//
// +kubebuilder:validation:XValidation:rule="has(self.groupId) != has(self.groupName)",message="variableGroup: set exactly one of groupId or groupName"
type VariableGroupSink struct {
	// Project that holds the variable group.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Project string `json:"project"`
	// GroupID of the variable group.
	// +optional
	// +kubebuilder:validation:Minimum=1
	GroupID int32 `json:"groupId,omitempty"`
	// GroupName of the variable group (unique in the project).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	GroupName string `json:"groupName,omitempty"`
	// Variable that receives the PAT; <variable>.patrol.authorizationId,
	// .validTo and .rotatedAt receive its metadata.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[^\s]+$`
	Variable string `json:"variable"`
	// IsSecret (default true) stores the variable as a secret.
	// +optional
	IsSecret *bool `json:"isSecret,omitempty"`
}

// KeyVaultSink is the azure-key-vault sink. It signs in as the
// PersonalAccessToken's identity (its method and Secrets) for Key Vault's
// scope; the identity needs "Key Vault Secrets Officer" on the vault (or
// an access policy with secret get and set).
//
// +kubebuilder:validation:XValidation:rule="!has(self.disableChallengeResourceVerification) || !self.disableChallengeResourceVerification || url(self.vaultUrl).getHostname() in ['127.0.0.1', 'localhost', '::1']",message="keyVault.disableChallengeResourceVerification is only for a vault on the loopback address (the emulator): elsewhere the challenge check is what keeps the identity's Key Vault token from going to another host"
type KeyVaultSink struct {
	// VaultURL, e.g. https://my-vault.vault.azure.net.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https://[^/?#@\s]+/?([^?#@\s]*)$`
	VaultURL string `json:"vaultUrl"`
	// SecretName of the Key Vault secret.
	// +kubebuilder:validation:Pattern=`^[0-9a-zA-Z-]{1,127}$`
	SecretName string `json:"secretName"`
	// ContentType of the secret.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	ContentType string `json:"contentType,omitempty"`
	// Tags kept on every version (patrol-* is reserved for patrol's metadata).
	// +optional
	// +kubebuilder:validation:MaxProperties=11
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 512 && self[k].size() <= 256 && !k.lowerAscii().startsWith('patrol-'))",message="keyVault.tags: names at most 512 and values at most 256 characters; the patrol- prefix is reserved"
	Tags map[string]string `json:"tags,omitempty"`
	// DisableChallengeResourceVerification turns off the check that Key
	// Vault's challenge names the vault's domain: only for vaults served from
	// 127.0.0.1 (patrol's emulator).
	// +optional
	DisableChallengeResourceVerification bool `json:"disableChallengeResourceVerification,omitempty"`
}

// HTTPSink is the http sink: one HTTPS request whose url, headers and body
// are Mustache templates of {{token}}, {{authorizationId}}, {{validTo}},
// {{credential}} and {{displayName}}. An HTTP API cannot be asked what it
// holds: what was delivered is recorded in status.sinks (the CronJob's
// stateFile).
//
// +kubebuilder:validation:XValidation:rule="!has(self.headers) || !self.headers.exists(k, k.lowerAscii() == 'authorization')",message="http.headers: Authorization is set by auth (basic or bearer with a SecretKeyRef), never inline"
type HTTPSink struct {
	// URL of the request (https only).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https://`
	URL string `json:"url"`
	// Method: POST (default), PUT or PATCH.
	// +optional
	// +kubebuilder:validation:Enum=POST;PUT;PATCH
	Method string `json:"method,omitempty"`
	// Headers (templates; no secrets: use auth).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Headers map[string]string `json:"headers,omitempty"`
	// Body template, e.g. key=ado&personalAccessToken={{token}}.
	// +optional
	// +kubebuilder:validation:MaxLength=16384
	Body string `json:"body,omitempty"`
	// ContentType of the body (default application/json when there is one).
	// +optional
	// +kubebuilder:validation:MaxLength=255
	ContentType string `json:"contentType,omitempty"`
	// Auth of the request itself.
	// +optional
	Auth *HTTPSinkAuth `json:"auth,omitempty"`
	// CABundleRef: PEM CA certificates trusted for this request in addition
	// to the system roots (a tool behind a private CA).
	// +optional
	CABundleRef *SecretKeyRef `json:"caBundleRef,omitempty"`
	// ExpectStatus lists the statuses that mean delivered (default any 2xx).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Minimum=100
	// +kubebuilder:validation:items:Maximum=599
	ExpectStatus []int32 `json:"expectStatus,omitempty"`
}

// HTTPSinkAuth authenticates the http sink's request: basic (username and
// passwordRef) or bearer (tokenRef); the secret is read from a Secret in
// the PersonalAccessToken's namespace at each delivery.
//
// +kubebuilder:validation:XValidation:rule="self.type != 'basic' || (has(self.username) && has(self.passwordRef) && !has(self.tokenRef))",message="http.auth: basic needs username and passwordRef (and no tokenRef)"
// +kubebuilder:validation:XValidation:rule="self.type != 'bearer' || (has(self.tokenRef) && !has(self.username) && !has(self.passwordRef))",message="http.auth: bearer needs tokenRef (and no username or passwordRef)"
type HTTPSinkAuth struct {
	// Type: basic or bearer.
	// +kubebuilder:validation:Enum=basic;bearer
	Type string `json:"type"`
	// Username (basic).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Username string `json:"username,omitempty"`
	// PasswordRef (basic): the password's Secret key.
	// +optional
	PasswordRef *SecretKeyRef `json:"passwordRef,omitempty"`
	// TokenRef (bearer): the token's Secret key, sent as Authorization: Bearer.
	// +optional
	TokenRef *SecretKeyRef `json:"tokenRef,omitempty"`
}

// SinkStatus is what one of spec.sinks holds and its last delivery.
type SinkStatus struct {
	// Name of the sink in spec.sinks.
	Name string `json:"name"`
	// Kind: serviceConnection, variableGroup, keyVault or http.
	Kind string `json:"kind"`
	// Destination is where it writes, as patrol names it (e.g.
	// azure-devops-variable-group:Platform/ado-creds#ADO_PAT).
	// +optional
	Destination string `json:"destination,omitempty"`
	// AuthorizationID of the PAT the sink holds (as its metadata says).
	// +optional
	AuthorizationID string `json:"authorizationId,omitempty"`
	// NotAfter is when that PAT expires.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
	// LastDeliveredTime is when patrol last wrote a PAT to it.
	// +optional
	LastDeliveredTime *metav1.Time `json:"lastDeliveredTime,omitempty"`
	// LastError and LastErrorTime: the sink's last failure (cleared by a
	// successful delivery or read).
	// +optional
	LastError string `json:"lastError,omitempty"`
	// +optional
	LastErrorTime *metav1.Time `json:"lastErrorTime,omitempty"`
	// DeliveryPending (http): a request was sent whose outcome is unknown,
	// so the tool may hold either PAT; the next renewal delivers again.
	// +optional
	DeliveryPending bool `json:"deliveryPending,omitempty"`
}
