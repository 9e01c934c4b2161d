// Package charts holds patrol's Helm chart (charts/patrol). The Go package
// only tests it: helm lint and helm template for every documented values
// example (charts/patrol/examples), the rendered patrol.yaml against patrol's
// own strict config validation, the rendered manifests server-side applied
// to a real kube-apiserver (internal/kubetest) in a namespace enforcing
// restricted Pod Security, and the generated RBAC checked as the chart's
// ServiceAccount. Helm is built by scripts/helm.sh (tools/helm), never a
// dependency of the main module. See docs/helm.md.
package charts
