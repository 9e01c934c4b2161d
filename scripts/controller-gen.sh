#!/usr/bin/env bash
# controller-gen.sh — build (once) and cache controller-gen
# (sigs.k8s.io/controller-tools) from the Go module proxy via the separate
# tools module in tools/controllergen, then (with --generate DIR) generate
# patrol's CRDs from the Go types in api/ into DIR.
#
#   scripts/controller-gen.sh                    build if needed; the LAST line of stdout is the binary's path
#   scripts/controller-gen.sh --generate         also regenerate deploy/crds/ (and its copy charts/patrol/crds/) and api/v1alpha1/zz_generated.deepcopy.go
#   scripts/controller-gen.sh --generate DIR     write them into DIR (CRDs) and DIR/object (deepcopy) instead
#
# The committed files are checked against a fresh generation by
# TestCRDsUpToDate (api/v1alpha1); after changing api/, run
#   scripts/controller-gen.sh --generate
#
# Idempotent: returns at once when the cached binary exists and was built
# from the same module version, Go version, platform and tools/controllergen/go.sum.
#
# Environment:
#   PATROL_CONTROLLER_GEN_CACHE  cache dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/patrol/controller-gen/v<V>-<go>-<os>-<arch>)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/tools/controllergen"

log() { printf 'controller-gen: %s\n' "$*" >&2; }
die() { printf 'controller-gen: error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH; install Go $(sed -n 's/^go //p' "$ROOT/go.mod") first"
V="$(sed -n 's#^require sigs.k8s.io/controller-tools \(v.*\)$#\1#p' "$TOOLS/go.mod")"
[ -n "$V" ] || die "tools/controllergen/go.mod does not require sigs.k8s.io/controller-tools"

GOV="$(go env GOVERSION)"
GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
DIR="${PATROL_CONTROLLER_GEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/patrol/controller-gen/${V}-${GOV}-${GOOS}-${GOARCH}}"
BIN="$DIR/controller-gen"

stamp() { printf '%s %s %s/%s gosum:%s\n' "$V" "$GOV" "$GOOS" "$GOARCH" "$(sha256sum "$TOOLS/go.sum" | cut -c1-16)"; }
have_ok() {
  [ -x "$BIN" ] || return 1
  [ "$(cat "$DIR/.stamp" 2>/dev/null)" = "$(stamp)" ] || return 1
  "$BIN" --version 2>/dev/null | grep -q "$V"
}

if have_ok; then
  log "cached: $BIN ($V)"
else
  mkdir -p "$DIR"
  tmp="$(mktemp -d "$DIR/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  log "building controller-gen $V with $GOV"
  start=$(date +%s)
  (cd "$TOOLS" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/controller-tools/pkg/version.version=${V}" \
    -o "$tmp/controller-gen" sigs.k8s.io/controller-tools/cmd/controller-gen)
  "$tmp/controller-gen" --version | grep -q "$V" || die "built controller-gen reports '$("$tmp/controller-gen" --version)', want $V"
  mv -f "$tmp/controller-gen" "$BIN"
  stamp > "$DIR/.stamp.new" && mv -f "$DIR/.stamp.new" "$DIR/.stamp"
  log "built in $(( $(date +%s) - start )) s"
fi

if [ "${1:-}" = "--generate" ]; then
  if [ -n "${2:-}" ]; then
    # Into DIR (TestCRDsUpToDate): the CRDs in DIR, the deepcopy functions in DIR/object.
    mkdir -p "$2/object"
    out="$(cd "$2" && pwd)"
    objout="output:object:dir=$out/object"
  else
    # In place: deploy/crds and api/v1alpha1/zz_generated.deepcopy.go.
    out="$ROOT/deploy/crds"
    mkdir -p "$out"
    objout=""
  fi
  (cd "$ROOT" && "$BIN" object paths=./api/... $objout && "$BIN" crd paths=./api/... output:crd:artifacts:config="$out") >&2 \
    || die "controller-gen failed to generate from api/"
  if [ -z "${2:-}" ]; then
    # The Helm chart ships the same CRDs (charts' TestCRDsAreGenerated compares them).
    rm -f "$ROOT/charts/patrol/crds/"*.yaml
    cp "$out"/*.yaml "$ROOT/charts/patrol/crds/"
  fi
fi
printf '%s\n' "$BIN"
