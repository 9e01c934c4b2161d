// Package deploy holds patrol's Kubernetes manifests (a kustomization with a
// CronJob, ServiceAccount, least-privilege Role/RoleBinding, ConfigMap with
// patrol.yaml and the pre-created target Secret). The Go package only embeds
// them so tests (and tools) can read exactly what `kubectl apply -k deploy/`
// applies. See docs/kubernetes.md.
package deploy

import "embed"

// Manifests are the YAML files of this directory.
//
//go:embed *.yaml
var Manifests embed.FS
