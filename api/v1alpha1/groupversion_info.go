// Package v1alpha1 holds the Go types of patrol's Kubernetes API (group
// patrol.dev, version v1alpha1): where the controller signs in
// (AzureDevOpsIdentity, ClusterAzureDevOpsIdentity) and the PATs it keeps
// alive (PersonalAccessToken) or the Entra access tokens it keeps fresh
// (EntraAccessToken). The CRDs in deploy/crds/ are generated from
// these types with controller-gen (scripts/controller-gen.sh); a test fails
// when they are stale. docs/controller.md is the user reference.
//
// +kubebuilder:object:generate=true
// +groupName=patrol.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of these types.
var GroupVersion = schema.GroupVersion{Group: "patrol.dev", Version: "v1alpha1"}

// AddToScheme registers the types with a runtime.Scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&AzureDevOpsIdentity{}, &AzureDevOpsIdentityList{},
		&ClusterAzureDevOpsIdentity{}, &ClusterAzureDevOpsIdentityList{},
		&PersonalAccessToken{}, &PersonalAccessTokenList{},
		&EntraAccessToken{}, &EntraAccessTokenList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
