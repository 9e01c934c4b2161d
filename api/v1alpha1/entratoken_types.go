package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultEntraScope is the scope an EntraAccessToken asks for by default:
// Azure DevOps (its application ID) with every permission consented.
const DefaultEntraScope = "499b84ac-1321-427f-aa17-267ca6975798/.default"

// EntraAccessTokenSpec is the Entra access token to keep fresh and where it goes.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.renewBefore) && has(self.renewBeforePercentage))",message="set renewBefore or renewBeforePercentage, not both"
// +kubebuilder:validation:XValidation:rule="!has(self.secretTarget.authorizationIdKey)",message="secretTarget.authorizationIdKey: an Entra access token has no authorizationId; remove it"
// +kubebuilder:validation:XValidation:rule="!has(self.secretTarget.validToKey) || self.secretTarget.validToKey != self.secretTarget.key",message="secretTarget: key and validToKey must be distinct"
// +kubebuilder:validation:XValidation:rule="!has(self.secretTarget.templates) || !self.secretTarget.templates.exists(k, k == self.secretTarget.key || (has(self.secretTarget.validToKey) && k == self.secretTarget.validToKey))",message="secretTarget.templates: a template key is also key or validToKey"
type EntraAccessTokenSpec struct {
	// IdentityRef is the identity that signs in (any method: a user,
	// a service principal, workload or managed identity).
	IdentityRef IdentityRef `json:"identityRef"`
	// Scope to request: a resource's .default scope, e.g.
	// 499b84ac-1321-427f-aa17-267ca6975798/.default (Azure DevOps, the
	// default) or https://vault.azure.net/.default.
	// +optional
	// +kubebuilder:default="499b84ac-1321-427f-aa17-267ca6975798/.default"
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|(api|https)://[^/ ?#]+(/[^ ?#]*)?)/[.]default$')",message="scope must be a resource's .default scope: <application id GUID>/.default or <https:// or api:// application ID URI>/.default, e.g. 499b84ac-1321-427f-aa17-267ca6975798/.default (Azure DevOps)"
	Scope string `json:"scope,omitempty"`
	// RenewBefore: renew this long before the token expires, 1m to under
	// 1h (Entra access tokens live 60 to 90 minutes by default). Default:
	// renewBeforePercentage, else a third of the token's lifetime.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) < duration('1h')",message="renewBefore must be at least 1m and under 1h (Entra access tokens live 60 to 90 minutes; use renewBeforePercentage for tokens that live longer)"
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`
	// RenewBeforePercentage: renew when this percentage of the token's lifetime is left.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=90
	RenewBeforePercentage *int32 `json:"renewBeforePercentage,omitempty"`
	// SecretTarget receives the token under key (default "token"), its
	// expiry under validToKey when set, and templates rendered from
	// {{token}}, {{expiresOn}} (also {{validTo}}, RFC 3339) and
	// {{credential}}, e.g. {"extraheader": "Authorization: Bearer {{{token}}}"}.
	// authorizationIdKey is refused (tokens have none).
	SecretTarget SecretTarget `json:"secretTarget"`
}

// EntraAccessTokenStatus is what the controller observed and did.
type EntraAccessTokenStatus struct {
	// Conditions: Ready and Issuing.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// CredentialName names the token in metrics and on the Secret
	// (annotation patrol.dev/credential): entra_<namespace>.<name>.
	// +optional
	CredentialName string `json:"credentialName,omitempty"`
	// NotAfter is when the token the Secret holds expires.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
	// RenewalTime is when the controller replaces it.
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
	// IssuedFor fingerprints what the token was issued for (scope and
	// identity); a change replaces it.
	// +optional
	IssuedFor string `json:"issuedFor,omitempty"`
}

// EntraAccessToken is a Microsoft Entra access token (Bearer) that the
// controller signs in for, writes to a Secret and replaces before it
// expires, for consumers that take Entra tokens (agent registration, git,
// Azure Artifacts feeds, the REST API). Entra tokens cannot be revoked:
// there is no finalizer, deleting it leaves the last token to expire.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=adoeat,categories=patrol
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.spec.secretTarget.name`,priority=1
// +kubebuilder:printcolumn:name="Scope",type=string,JSONPath=`.spec.scope`,priority=1
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.notAfter`
// +kubebuilder:printcolumn:name="Renewal",type=string,JSONPath=`.status.renewalTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EntraAccessToken struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EntraAccessTokenSpec   `json:"spec"`
	Status EntraAccessTokenStatus `json:"status,omitempty"`
}

// EntraAccessTokenList is a list of EntraAccessToken.
//
// +kubebuilder:object:root=true
type EntraAccessTokenList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EntraAccessToken `json:"items"`
}
