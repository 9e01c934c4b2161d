//go:build tools

// Package tools pins controller-gen (sigs.k8s.io/controller-tools), which
// generates patrol's CRDs (deploy/crds/) from the Go types in api/v1alpha1.
// scripts/controller-gen.sh builds it from the Go module proxy and caches it;
// it is a test/build-time tool and never part of the patrol binary.
package tools

import _ "sigs.k8s.io/controller-tools/cmd/controller-gen"
