//go:build race

package e2e

// raceBuild: the suite runs with -race, so the binary under test is built
// with the race detector too.
func init() { buildFlags = append(buildFlags, "-race") }
