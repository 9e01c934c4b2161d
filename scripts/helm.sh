#!/usr/bin/env bash
# helm.sh — build (once) and cache the Helm CLI from the Go module proxy via
# the separate tools module in tools/helm, for the chart tests in charts/
# (helm lint, helm template). Helm never enters the main module's go.mod.
#
#   scripts/helm.sh            build if needed; the LAST line of stdout is the helm path
#   scripts/helm.sh ARGS...    build if needed, then run helm ARGS (stdout is helm's)
#
# Idempotent: returns at once when the cached binary exists and was built
# from the same Helm version, Go version, platform and tools/helm/go.sum.
# The first build takes a few minutes on 2 cores.
#
# Environment:
#   PATROL_HELM_CACHE  cache dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/patrol/helm/v<V>-<go>-<os>-<arch>)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/tools/helm"
# shellcheck source=scripts/toolchain.sh
. "$ROOT/scripts/toolchain.sh"

log() { printf 'helm.sh: %s\n' "$*" >&2; }
die() { printf 'helm.sh: error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH; install Go $(sed -n 's/^go //p' "$ROOT/go.mod") first"
# The Helm version pinned in tools/helm/go.mod (helm.sh/helm/v4 vX.Y.Z).
V="$(sed -n 's#^require helm.sh/helm/v[0-9]* v\(.*\)$#\1#p' "$TOOLS/go.mod")"
MODPATH="$(sed -n 's#^require \(helm.sh/helm/v[0-9]*\) v.*$#\1#p' "$TOOLS/go.mod")"
[ -n "$V" ] && [ -n "$MODPATH" ] || die "tools/helm/go.mod does not require helm.sh/helm/vN on a 'require' line of its own"

GOV="$(go env GOVERSION)"
GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
DIR="${PATROL_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/patrol/helm/v${V}-${GOV}-${GOOS}-${GOARCH}}"
BIN="$DIR/helm"

stamp() { printf 'v%s %s %s/%s gosum:%s\n' "$V" "$GOV" "$GOOS" "$GOARCH" "$(sha256sum "$TOOLS/go.sum" | cut -c1-16)"; }
have_ok() {
  [ -x "$BIN" ] || return 1
  [ "$(cat "$DIR/.stamp" 2>/dev/null)" = "$(stamp)" ] || return 1
  "$BIN" version --template '{{.Version}}' 2>/dev/null | grep -qx "v${V}"
}

if have_ok; then
  log "cached: $BIN (Helm v$V)"
else
  mkdir -p "$DIR"
  tmp="$(mktemp -d "$DIR/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  log "building helm v$V ($MODPATH) with $GOV; the first build takes minutes"
  start=$(date +%s)
  (cd "$TOOLS" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X $MODPATH/internal/version.version=v${V} -X $MODPATH/internal/version.gitTreeState=clean" \
    -o "$tmp/helm" "$MODPATH/cmd/helm")
  got="$("$tmp/helm" version --template '{{.Version}}' 2>/dev/null || true)"
  [ "$got" = "v$V" ] || die "built helm reports version '$got', want v$V"
  mv -f "$tmp/helm" "$BIN"
  stamp > "$DIR/.stamp.new" && mv -f "$DIR/.stamp.new" "$DIR/.stamp"
  log "built in $(( $(date +%s) - start )) s"
fi

if [ "$#" -gt 0 ]; then
  exec "$BIN" "$@"
fi
printf '%s\n' "$BIN"
