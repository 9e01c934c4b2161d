//go:build tools

// Package tools pins the vulnerability-check tools scripts/vulncheck.sh
// builds: govulncheck and the indexdb command of golang.org/x/vulndb, which
// turns the OSV files of that module (the Go vulnerability database's
// source, served by the Go module proxy) into a database for
// govulncheck -db file://…. A module of its own: none of it enters
// patrol's go.mod.
package tools

import (
	_ "golang.org/x/vuln/cmd/govulncheck"
	_ "golang.org/x/vulndb/cmd/indexdb"
)
