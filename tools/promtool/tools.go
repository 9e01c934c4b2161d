//go:build tools

// Package promtool is a separate Go module that exists only to build
// Prometheus' promtool for patrol's monitoring tests (`promtool check rules`,
// `promtool test rules` on deploy/monitoring), so the main module's go.mod
// never sees Prometheus' dependency tree. Build it with scripts/promtool.sh.
package promtool

import _ "github.com/prometheus/prometheus/cmd/promtool"
