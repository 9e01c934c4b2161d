package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Sign-in methods an identity may use. PATs can only be created by a user
// (Azure DevOps refuses service principals and managed identities for the
// PAT API), so PersonalAccessTokens need ropc; the other methods sign in
// applications (for EntraAccessToken-style consumers and future kinds).
const (
	MethodROPC              = "ropc"
	MethodClientSecret      = "client-secret"
	MethodClientCertificate = "client-certificate"
	MethodWorkloadIdentity  = "workload-identity"
	MethodManagedIdentity   = "managed-identity"
)

// SecretKeyRef names one key of a Secret. For an AzureDevOpsIdentity the
// Secret is in the identity's namespace; for a ClusterAzureDevOpsIdentity
// in the controller's cluster resource namespace (--cluster-resource-namespace).
type SecretKeyRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
	// Key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// WorkloadIdentity configures workload identity federation: the controller
// presents a Kubernetes ServiceAccount token as the client assertion of the
// app registration clientId, whose federated credential must trust the
// cluster's issuer (--service-account-issuer) and that ServiceAccount
// (subject system:serviceaccount:<namespace>:<name>).
//
// With serviceAccountRef the identity signs in as a ServiceAccount of its
// own namespace: the controller requests short-lived tokens for it
// (TokenRequest API). With federatedTokenFile, or with neither, it presents
// a projected token file of the controller's Pod — the controller's own
// ServiceAccount, whatever the identity's namespace.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.serviceAccountRef) && has(self.federatedTokenFile))",message="set spec.workloadIdentity.serviceAccountRef (a ServiceAccount of the identity's namespace) or spec.workloadIdentity.federatedTokenFile (the controller's token file), not both"
// +kubebuilder:validation:XValidation:rule="!has(self.audience) || has(self.serviceAccountRef)",message="spec.workloadIdentity.audience applies to serviceAccountRef only (a federatedTokenFile's audience is set where the token is projected)"
type WorkloadIdentity struct {
	// ServiceAccountRef names the ServiceAccount whose tokens the controller
	// presents: in the identity's namespace for an AzureDevOpsIdentity, in the
	// controller's cluster resource namespace (--cluster-resource-namespace)
	// for a ClusterAzureDevOpsIdentity. The controller needs create on its
	// serviceaccounts/token (Helm: controller.serviceAccountTokens).
	// +optional
	ServiceAccountRef *ServiceAccountRef `json:"serviceAccountRef,omitempty"`
	// Audience of the ServiceAccount tokens requested for serviceAccountRef
	// (default api://AzureADTokenExchange, what Entra expects); it must be
	// the audience of the app's federated credential.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Audience string `json:"audience,omitempty"`
	// FederatedTokenFile is a projected ServiceAccount token file of the
	// controller's Pod (default, when serviceAccountRef is not set either:
	// $AZURE_FEDERATED_TOKEN_FILE of the controller, as set by the Azure
	// Workload Identity webhook).
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	FederatedTokenFile string `json:"federatedTokenFile,omitempty"`
}

// DefaultWorkloadIdentityAudience is the audience Entra expects of
// federated tokens.
const DefaultWorkloadIdentityAudience = "api://AzureADTokenExchange"

// ServiceAccountRef names a ServiceAccount; its namespace is the
// identity's (see WorkloadIdentity.ServiceAccountRef).
type ServiceAccountRef struct {
	// Name of the ServiceAccount.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// Endpoints override the service URLs (sovereign clouds, the emulator).
type Endpoints struct {
	// AuthorityHost of Entra ID (default https://login.microsoftonline.com/).
	// +optional
	// +kubebuilder:validation:Pattern=`^https://`
	AuthorityHost string `json:"authorityHost,omitempty"`
	// DisableInstanceDiscovery skips Entra instance discovery (private authorities).
	// +optional
	DisableInstanceDiscovery bool `json:"disableInstanceDiscovery,omitempty"`
	// VSSPS base URL (default https://vssps.dev.azure.com).
	// +optional
	// +kubebuilder:validation:Pattern=`^https://`
	VSSPS string `json:"vssps,omitempty"`
	// DevOps base URL (default https://dev.azure.com).
	// +optional
	// +kubebuilder:validation:Pattern=`^https://`
	DevOps string `json:"devops,omitempty"`
	// CABundleRef names a Secret key holding extra PEM CA certificates to trust.
	// +optional
	CABundleRef *SecretKeyRef `json:"caBundleRef,omitempty"`
}

// AzureDevOpsIdentitySpec is where and as whom the controller signs in.
// Secrets are only referenced (SecretKeyRef), never written inline.
//
// +kubebuilder:validation:XValidation:rule="self.method != 'ropc' || (has(self.username) && has(self.passwordRef))",message="method ropc needs username and passwordRef"
// +kubebuilder:validation:XValidation:rule="self.method != 'client-secret' || has(self.clientSecretRef)",message="method client-secret needs clientSecretRef"
// +kubebuilder:validation:XValidation:rule="self.method != 'client-certificate' || has(self.certificateRef)",message="method client-certificate needs certificateRef"
// +kubebuilder:validation:XValidation:rule="self.method == 'managed-identity' || (has(self.tenantId) && has(self.clientId))",message="tenantId and clientId are required (except for managed-identity)"
// +kubebuilder:validation:XValidation:rule="!has(self.workloadIdentity) || self.method == 'workload-identity'",message="workloadIdentity applies to method workload-identity only"
type AzureDevOpsIdentitySpec struct {
	// Organization is the Azure DevOps organisation name (contoso for https://dev.azure.com/contoso).
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([A-Za-z0-9-]{0,48}[A-Za-z0-9])?$`
	Organization string `json:"organization"`
	// Method of signing in to Entra ID. PersonalAccessTokens need a user: ropc.
	// +kubebuilder:validation:Enum=ropc;client-secret;client-certificate;workload-identity;managed-identity
	Method string `json:"method"`
	// TenantID is the Entra tenant (GUID or verified domain).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9.-]*$`
	TenantID string `json:"tenantId,omitempty"`
	// ClientID is the app registration's Application (client) ID.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	ClientID string `json:"clientId,omitempty"`
	// Username is the technical user's UPN (ropc).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Username string `json:"username,omitempty"`
	// PasswordRef holds the technical user's password (ropc).
	// +optional
	PasswordRef *SecretKeyRef `json:"passwordRef,omitempty"`
	// ClientSecretRef holds the app's client secret (client-secret).
	// +optional
	ClientSecretRef *SecretKeyRef `json:"clientSecretRef,omitempty"`
	// CertificateRef holds the app's certificate and key, PEM or PKCS#12 (client-certificate).
	// +optional
	CertificateRef *SecretKeyRef `json:"certificateRef,omitempty"`
	// CertificatePasswordRef holds the PKCS#12 password, if any.
	// +optional
	CertificatePasswordRef *SecretKeyRef `json:"certificatePasswordRef,omitempty"`
	// WorkloadIdentity settings (workload-identity).
	// +optional
	WorkloadIdentity *WorkloadIdentity `json:"workloadIdentity,omitempty"`
	// ManagedIdentityClientID selects a user-assigned managed identity (managed-identity).
	// +optional
	ManagedIdentityClientID string `json:"managedIdentityClientId,omitempty"`
	// Endpoints override the service URLs.
	// +optional
	Endpoints *Endpoints `json:"endpoints,omitempty"`
}

// AzureDevOpsIdentityStatus reports whether the identity is usable and who uses it.
type AzureDevOpsIdentityStatus struct {
	// Conditions: Ready (reasons Ready, InUse while deletion waits for the
	// PersonalAccessTokens that reference it, EndpointNotAllowed when
	// spec.endpoints name a host outside the controller's allow-list).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// AzureDevOpsIdentity is a sign-in to one Azure DevOps organisation that
// PersonalAccessTokens of its namespace reference.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=adoid,categories=patrol
// +kubebuilder:printcolumn:name="Organization",type=string,JSONPath=`.spec.organization`
// +kubebuilder:printcolumn:name="Method",type=string,JSONPath=`.spec.method`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AzureDevOpsIdentity struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AzureDevOpsIdentitySpec   `json:"spec"`
	Status AzureDevOpsIdentityStatus `json:"status,omitempty"`
}

// AzureDevOpsIdentityList is a list of AzureDevOpsIdentity.
//
// +kubebuilder:object:root=true
type AzureDevOpsIdentityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AzureDevOpsIdentity `json:"items"`
}

// ClusterAzureDevOpsIdentity is an AzureDevOpsIdentity that
// PersonalAccessTokens of every namespace may reference; its Secrets are
// read from the controller's cluster resource namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cadoid,categories=patrol
// +kubebuilder:printcolumn:name="Organization",type=string,JSONPath=`.spec.organization`
// +kubebuilder:printcolumn:name="Method",type=string,JSONPath=`.spec.method`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterAzureDevOpsIdentity struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AzureDevOpsIdentitySpec   `json:"spec"`
	Status AzureDevOpsIdentityStatus `json:"status,omitempty"`
}

// ClusterAzureDevOpsIdentityList is a list of ClusterAzureDevOpsIdentity.
//
// +kubebuilder:object:root=true
type ClusterAzureDevOpsIdentityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterAzureDevOpsIdentity `json:"items"`
}
