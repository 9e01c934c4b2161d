//go:build tools

// Package kube is a separate Go module that exists only to build
// kube-apiserver (and optionally kubectl) for patrol's Kubernetes integration
// tests, so the main module's go.mod never sees Kubernetes' dependency tree.
// Build it with scripts/kube-tools.sh; see docs/kubernetes.md.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
