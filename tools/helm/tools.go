//go:build tools

// Package helm is a separate Go module that exists only to build the Helm
// CLI for patrol's chart tests (charts/patrol: helm lint, helm template), so
// the main module's go.mod never sees Helm's dependency tree. Build it with
// scripts/helm.sh.
package helm

import _ "helm.sh/helm/v4/cmd/helm"
