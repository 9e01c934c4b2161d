package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Scope is a PAT scope of the Azure DevOps catalogue (app_token = full
// access, allowed only with allowFullAccess). The enum is the catalogue of
// internal/devops (Scopes); a test keeps them equal.
//
// +kubebuilder:validation:Enum=app_token;vso.advsec;vso.advsec_write;vso.advsec_manage;vso.agentpools;vso.agentpools_manage;vso.environment_manage;vso.analytics;vso.auditlog;vso.auditstreams_manage;vso.build;vso.build_execute;vso.code;vso.code_write;vso.code_manage;vso.code_full;vso.code_status;vso.connected_server;vso.entitlements;vso.memberentitlementmanagement;vso.memberentitlementmanagement_write;vso.extension;vso.extension_manage;vso.extension.data;vso.extension.data_write;vso.githubconnections;vso.githubconnections_manage;vso.graph;vso.graph_manage;vso.identity;vso.identity_manage;vso.machinegroup_manage;vso.gallery;vso.gallery_acquire;vso.gallery_publish;vso.gallery_manage;vso.notification;vso.notification_write;vso.notification_manage;vso.notification_diagnostics;vso.packaging;vso.packaging_write;vso.packaging_manage;vso.pipelineresources_use;vso.pipelineresources_manage;vso.project;vso.project_write;vso.project_manage;vso.release;vso.release_execute;vso.release_manage;vso.securefiles_read;vso.securefiles_write;vso.securefiles_manage;vso.security_manage;vso.serviceendpoint;vso.serviceendpoint_query;vso.serviceendpoint_manage;vso.hooks;vso.hooks_write;vso.hooks_interact;vso.settings;vso.settings_write;vso.symbols;vso.symbols_write;vso.symbols_manage;vso.taskgroups_read;vso.taskgroups_write;vso.taskgroups_manage;vso.dashboards;vso.dashboards_manage;vso.test;vso.test_write;vso.threads_full;vso.tokens;vso.tokenadministration;vso.profile;vso.profile_write;vso.variablegroups_read;vso.variablegroups_write;vso.variablegroups_manage;vso.wiki;vso.wiki_write;vso.work;vso.work_write;vso.work_full
type Scope string

// Deletion policies of a PersonalAccessToken.
const (
	// DeletionPolicyRevoke (default): deleting the PersonalAccessToken
	// revokes every PAT it manages (the finalizer waits until they are revoked).
	DeletionPolicyRevoke = "Revoke"
	// DeletionPolicyRetain: deleting it leaves the PATs (and the Secret)
	// alone; they expire at their validTo.
	DeletionPolicyRetain = "Retain"
)

// IdentityRef names the identity a PersonalAccessToken signs in with.
type IdentityRef struct {
	// Kind: AzureDevOpsIdentity (same namespace, default) or ClusterAzureDevOpsIdentity.
	// +optional
	// +kubebuilder:default=AzureDevOpsIdentity
	// +kubebuilder:validation:Enum=AzureDevOpsIdentity;ClusterAzureDevOpsIdentity
	Kind string `json:"kind,omitempty"`
	// Name of the identity.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// SecretTarget is the Secret (in the PersonalAccessToken's namespace) that
// receives the PAT. The controller creates it when missing; it only changes
// its own keys, labels and annotations and never empties it.
type SecretTarget struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
	// Key that receives the PAT (default "token").
	// +optional
	// +kubebuilder:default=token
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
	// AuthorizationIDKey, when set, also receives the PAT's authorizationId.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	AuthorizationIDKey string `json:"authorizationIdKey,omitempty"`
	// ValidToKey, when set, also receives the PAT's expiry (RFC 3339).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	ValidToKey string `json:"validToKey,omitempty"`
	// Templates are further keys rendered at each delivery (Mustache) from
	// {{token}}, {{authorizationId}}, {{validTo}}, {{displayName}} and
	// {{credential}}, e.g. {".git-credentials": "https://pat:{{token}}@dev.azure.com"}.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 253 && k.matches('^[-._a-zA-Z0-9]+$'))",message="templates: keys must be valid Secret data keys"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k].size() <= 4096)",message="templates: at most 4096 characters each"
	Templates map[string]string `json:"templates,omitempty"`
	// Labels set on the Secret (others are kept; app.kubernetes.io/managed-by is patrol's).
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations set on the Secret (others are kept; patrol.dev/ is reserved).
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// PersonalAccessTokenSpec is the PAT to keep alive and where it goes.
//
// +kubebuilder:validation:XValidation:rule="!has(self.renewBefore) || duration(self.renewBefore) < duration(self.lifetime)",message="renewBefore must be shorter than lifetime (else every reconcile would renew)"
// +kubebuilder:validation:XValidation:rule="!(has(self.renewBefore) && has(self.renewBeforePercentage))",message="set renewBefore or renewBeforePercentage, not both"
// +kubebuilder:validation:XValidation:rule="!has(self.allOrgs) || !self.allOrgs",message="allOrgs: global PATs (all organisations) stopped working on 2026-12-01 and can no longer be created; remove allOrgs (PATs are organisation-scoped)"
// +kubebuilder:validation:XValidation:rule="!self.scopes.exists(s, s == 'app_token') || (has(self.allowFullAccess) && self.allowFullAccess)",message="scope app_token is full access; set allowFullAccess: true to allow it, or list the scopes the consumer needs"
// +kubebuilder:validation:XValidation:rule="!has(self.secretTarget.templates) || !self.secretTarget.templates.exists(k, k == self.secretTarget.key || (has(self.secretTarget.authorizationIdKey) && k == self.secretTarget.authorizationIdKey) || (has(self.secretTarget.validToKey) && k == self.secretTarget.validToKey))",message="secretTarget.templates: a template key is also key, authorizationIdKey or validToKey"
// +kubebuilder:validation:XValidation:rule="(!has(self.secretTarget.authorizationIdKey) || self.secretTarget.authorizationIdKey != self.secretTarget.key) && (!has(self.secretTarget.validToKey) || (self.secretTarget.validToKey != self.secretTarget.key && (!has(self.secretTarget.authorizationIdKey) || self.secretTarget.validToKey != self.secretTarget.authorizationIdKey)))",message="secretTarget: key, authorizationIdKey and validToKey must be distinct"
type PersonalAccessTokenSpec struct {
	// IdentityRef is the identity that signs in and owns the PAT.
	IdentityRef IdentityRef `json:"identityRef"`
	// Scopes of the PAT, e.g. [vso.code, vso.packaging].
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	Scopes []Scope `json:"scopes"`
	// AllowFullAccess permits the app_token (full access) scope.
	// +optional
	AllowFullAccess bool `json:"allowFullAccess,omitempty"`
	// Lifetime of each new PAT, 1h to 8760h (one year; Azure DevOps may clamp it to the tenant's policy).
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('8760h')",message="lifetime must be between 1h and 8760h (one year)"
	Lifetime *metav1.Duration `json:"lifetime,omitempty"`
	// RenewBefore: renew this long before the PAT expires.
	// Default: renewBeforePercentage, else one third of the lifetime.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="renewBefore must be at least 1m"
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`
	// RenewBeforePercentage: renew when this percentage of the lifetime is left.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=99
	RenewBeforePercentage *int32 `json:"renewBeforePercentage,omitempty"`
	// AllOrgs asks for a global PAT; refused since the retirement of global PATs (2026-12-01).
	// +optional
	AllOrgs bool `json:"allOrgs,omitempty"`
	// SecretTarget receives the PAT.
	SecretTarget SecretTarget `json:"secretTarget"`
	// Sinks are further deliveries of the same PAT (service connections,
	// variable groups, Key Vault secrets, HTTP APIs). A renewal delivers to
	// secretTarget and every sink, verifies, and only then revokes the PAT
	// it replaced; while a sink fails, the old PAT stays valid.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	Sinks []PATSink `json:"sinks,omitempty"`
	// DeletionPolicy: Revoke (default) revokes the PATs when the
	// PersonalAccessToken is deleted; Retain leaves them to expire.
	// +optional
	// +kubebuilder:default=Revoke
	// +kubebuilder:validation:Enum=Revoke;Retain
	DeletionPolicy string `json:"deletionPolicy,omitempty"`
}

// Condition types and reasons of a PersonalAccessToken.
const (
	ConditionReady   = "Ready"
	ConditionIssuing = "Issuing"

	ReasonReady           = "Ready"           // Ready=True: the Secret holds a PAT that authenticated
	ReasonIssued          = "Issued"          // Issuing=False after a successful issuance
	ReasonDue             = "Due"             // Issuing=True: renewal time reached
	ReasonRenewRequested  = "RenewRequested"  // Issuing=True: patrol.dev/renew-now or a spec change
	ReasonMissing         = "Missing"         // Issuing=True: the Secret holds no PAT
	ReasonFailed          = "Failed"          // the last attempt failed (message says why); backing off
	ReasonIdentityMissing = "IdentityMissing" // identityRef names no identity
	ReasonIdentityInvalid = "IdentityInvalid" // the identity cannot sign in (a Secret is missing, …)
	ReasonInvalidSpec     = "InvalidSpec"     // refused by the controller (what admission cannot check)
	ReasonExpired         = "Expired"         // Ready=False: the PAT the Secret holds expired
	ReasonRevoking        = "Revoking"        // deletion waits for the PATs to be revoked
	ReasonInUse           = "InUse"           // identity deletion waits for its PersonalAccessTokens
	ReasonSinkFailed      = "SinkFailed"      // Ready=False, Issuing=False: a sink of spec.sinks failed (the message names it); the replaced PAT is kept
	// EndpointNotAllowed: the identity's spec.endpoints name a host outside the
	// controller's --allowed-endpoint-hosts; nothing is sent to it.
	ReasonEndpointNotAllowed = "EndpointNotAllowed"
	// Restored (Event): the target Secret was deleted or edited and its last
	// good PAT, still valid, was written back (no new PAT).
	ReasonRestored = "Restored"
)

// AnnotationRenewNow forces a renewal when its value changes: e.g.
// kubectl annotate personalaccesstoken NAME patrol.dev/renew-now="$(date +%s)" --overwrite
const AnnotationRenewNow = "patrol.dev/renew-now"

// PersonalAccessTokenStatus is what the controller observed and did.
type PersonalAccessTokenStatus struct {
	// Conditions: Ready and Issuing.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// CredentialName is the name in the PATs' display names
	// (patrol:<credentialName>:<time>-<attempt>).
	// +optional
	CredentialName string `json:"credentialName,omitempty"`
	// AuthorizationID of the PAT the Secret holds.
	// +optional
	AuthorizationID string `json:"authorizationId,omitempty"`
	// NotAfter is when that PAT expires.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
	// RenewalTime is when the controller renews it.
	// +optional
	RenewalTime *metav1.Time `json:"renewalTime,omitempty"`
	// LastFailureTime and LastFailure: the last failed attempt and why.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`
	// +optional
	LastFailure string `json:"lastFailure,omitempty"`
	// FailedIssuanceAttempts counts failures since the last success (the backoff grows with it).
	// +optional
	FailedIssuanceAttempts int32 `json:"failedIssuanceAttempts,omitempty"`
	// LastRenewRequest is the last patrol.dev/renew-now value acted on.
	// +optional
	LastRenewRequest string `json:"lastRenewRequest,omitempty"`
	// Sinks: what each of spec.sinks holds and its last delivery or error.
	// +optional
	// +listType=map
	// +listMapKey=name
	Sinks []SinkStatus `json:"sinks,omitempty"`
	// IssuedFor fingerprints the spec fields the PAT was issued for (scopes,
	// lifetime, identity); a change renews it.
	// +optional
	IssuedFor string `json:"issuedFor,omitempty"`
}

// PersonalAccessToken is an Azure DevOps PAT that the controller creates,
// delivers to a Secret, renews before it expires and revokes when replaced
// or deleted.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=adopat,categories=patrol
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.spec.secretTarget.name`,priority=1
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.notAfter`
// +kubebuilder:printcolumn:name="Renewal",type=string,JSONPath=`.status.renewalTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="metadata.name: at most 63 characters (it becomes part of the PAT's display name)"
type PersonalAccessToken struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PersonalAccessTokenSpec   `json:"spec"`
	Status PersonalAccessTokenStatus `json:"status,omitempty"`
}

// PersonalAccessTokenList is a list of PersonalAccessToken.
//
// +kubebuilder:object:root=true
type PersonalAccessTokenList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PersonalAccessToken `json:"items"`
}
