#!/usr/bin/env bash
# vulncheck.sh — govulncheck of patrol's main module against an offline copy of
# the Go vulnerability database, with nothing but the Go module proxy:
#   - govulncheck (golang.org/x/vuln) and indexdb (golang.org/x/vulndb/cmd/indexdb)
#     are built from the tools module tools/vuln (pinned there, never in
#     patrol's go.mod);
#   - the database is built by indexdb from data/osv of the golang.org/x/vulndb
#     module at the version tools/vuln/go.mod pins (the database's source,
#     which the module proxy serves; vuln.go.dev itself is not reachable here);
#   - both are cached under PATROL_VULN_CACHE by a hash of tools/vuln/go.sum and
#     the Go version, like scripts/kube-tools.sh: a second run only scans.
# To refresh the database: cd tools/vuln && go get golang.org/x/vulndb@latest
# && go mod tidy (the database is as new as that pin; see docs/security.md).
#
# Exit status: 0 no finding; 1 a vulnerability that patrol's code calls in a
# required module (fix: raise that module in go.mod to the fixed version) or
# in the standard library of the Go toolchain in use (fix: raise
# PATROL_GO_TOOLCHAIN in scripts/toolchain.sh, which pins the toolchain every
# script and CI use); 2 the tools or the database could not be built. With
# PATROL_VULN_STDLIB=warn, standard-library findings are printed loudly and do
# not fail (for a run with GOTOOLCHAIN=local on an older Go).
#
# Environment:
#   PATROL_VULN_CACHE   cache dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/patrol/vuln)
#   PATROL_VULN_STDLIB  "fail" (default) or "warn"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/toolchain.sh
. "$ROOT/scripts/toolchain.sh"
TOOLS="$ROOT/tools/vuln"
log() { printf 'vulncheck: %s\n' "$*" >&2; }
die() { printf 'vulncheck: error: %s\n' "$*" >&2; exit 2; }

command -v go >/dev/null || die "go is not on PATH"
command -v jq >/dev/null || die "jq is not on PATH (apt-get install jq)"
GOV="$(go env GOVERSION)"
VULNDB="$(cd "$TOOLS" && go list -m -f '{{.Version}}' golang.org/x/vulndb)" || die "tools/vuln does not pin golang.org/x/vulndb"
KEY="$(cat "$TOOLS/go.sum" <(echo "$GOV $(go env GOOS)/$(go env GOARCH)") | sha256sum | cut -c1-16)"
DIR="${PATROL_VULN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/patrol/vuln}/$KEY"

if [ ! -x "$DIR/bin/govulncheck" ] || [ ! -f "$DIR/db/index/db.json" ]; then
  log "building govulncheck and the database of golang.org/x/vulndb@$VULNDB into $DIR (once per tools/vuln/go.sum)"
  rm -rf "$DIR.tmp" && mkdir -p "$DIR.tmp/bin"
  (cd "$TOOLS" && go build -o "$DIR.tmp/bin/" golang.org/x/vuln/cmd/govulncheck golang.org/x/vulndb/cmd/indexdb) ||
    die "building the tools of tools/vuln failed (is the Go module proxy reachable?)"
  SRC="$(cd "$TOOLS" && go mod download -json golang.org/x/vulndb | jq -r .Dir)"
  [ -d "$SRC/data/osv" ] || die "golang.org/x/vulndb@$VULNDB has no data/osv"
  "$DIR.tmp/bin/indexdb" -vulns "$SRC/data/osv" -out "$DIR.tmp/db" || die "indexdb failed on $SRC/data/osv"
  rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
fi
log "database: golang.org/x/vulndb@$VULNDB ($(find "$DIR/db/ID" -name '*.json' | wc -l) entries)"

cd "$ROOT"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
rc=0
"$DIR/bin/govulncheck" -db "file://$DIR/db" -format json ./... >"$out" || rc=$?
# -format json exits 0 with findings and non-zero only when the scan failed.
[ "$rc" -eq 0 ] || { cat "$out" >&2; die "govulncheck failed (exit $rc)"; }

# Findings whose trace reaches a function: patrol's code calls the vulnerable symbol.
called="$(jq -r 'select(.finding != null and .finding.trace[0].function != null)
  | [.finding.osv, .finding.trace[0].module, .finding.trace[0].version, (.finding.fixed_version // "none")] | @tsv' "$out" | sort -u)"
imported="$(jq -r 'select(.finding != null) | .finding.osv' "$out" | sort -u | wc -l)"
mods="$(printf '%s\n' "$called" | awk -F'\t' '$2 != "stdlib" && $1 != ""')"
std="$(printf '%s\n' "$called" | awk -F'\t' '$2 == "stdlib"')"
fail=0
if [ -n "$mods" ]; then
  echo "VULNERABLE: patrol calls vulnerable code in required modules (raise them in go.mod to the fixed version):"
  printf '%s\n' "$mods" | awk -F'\t' '{printf "  %s  %s@%s  fixed in %s  https://pkg.go.dev/vuln/%s\n", $1, $2, $3, $4, $1}'
  fail=1
fi
if [ -n "$std" ]; then
  fixed="$(printf '%s\n' "$std" | cut -f4 | sort -V | tail -n1)"
  echo "WARNING: $(printf '%s\n' "$std" | wc -l) vulnerabilities of the Go standard library ($GOV) that patrol's code reaches; a Go toolchain >= go${fixed#v} fixes all of them (raise PATROL_GO_TOOLCHAIN in scripts/toolchain.sh):"
  printf '%s\n' "$std" | awk -F'\t' '{printf "  %s  stdlib@%s  fixed in %s  https://pkg.go.dev/vuln/%s\n", $1, $3, $4, $1}'
  [ "${PATROL_VULN_STDLIB:-fail}" = "warn" ] || fail=1
fi
echo "vulncheck: $(printf '%s\n' "$mods" | grep -c . || true) called in modules, $(printf '%s\n' "$std" | grep -c . || true) called in the standard library, $imported known in what patrol imports or requires (govulncheck -show verbose for the uncalled ones)"
exit "$fail"
