// Package monitoring holds patrol's monitoring manifests: the alerting rules
// (patrol.rules.yaml, unit-tested with promtool: scripts/promtool.sh
// --check), the PrometheusRule carrying the same groups (generated from the
// rule file; go test checks it is current) and a Grafana dashboard. The Go
// package only embeds them for tests. See docs/metrics.md.
package monitoring

import "embed"

// Files are the manifests of this directory.
//
//go:embed *.yaml *.json
var Files embed.FS
