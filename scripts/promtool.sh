#!/usr/bin/env bash
# promtool.sh — build (once) and cache Prometheus' promtool from the Go module
# proxy via the separate tools module in tools/promtool, then (with --check)
# check and unit-test patrol's alerting rules in deploy/monitoring/.
#
#   scripts/promtool.sh            build if needed; the LAST line of stdout is the promtool path
#   scripts/promtool.sh --check    also run `promtool check rules` and `promtool test rules`
#
# Idempotent: returns at once when the cached binary exists and was built
# from the same module version, Go version, platform and tools/promtool/go.sum.
# The first build takes a few minutes (≈20 on a busy 2-core machine).
#
# Environment:
#   PATROL_PROMTOOL_CACHE  cache dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/patrol/promtool/v<V>-<go>-<os>-<arch>)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/toolchain.sh
. "$ROOT/scripts/toolchain.sh"
TOOLS="$ROOT/tools/promtool"
RULES="$ROOT/deploy/monitoring"

log() { printf 'promtool: %s\n' "$*" >&2; }
die() { printf 'promtool: error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH; install Go $(sed -n 's/^go //p' "$ROOT/go.mod") first"
# The Prometheus module version pinned in tools/promtool/go.mod: v0.3MM.P is Prometheus 3.MM.P.
MOD="$(sed -n 's#^require github.com/prometheus/prometheus v\(.*\)$#\1#p' "$TOOLS/go.mod")"
[ -n "$MOD" ] || die "tools/promtool/go.mod does not require github.com/prometheus/prometheus"
mm="${MOD#0.3}"; minor="${mm%%.*}"; patch="${mm#*.}"
PROM="3.$((10#$minor)).$patch"

GOV="$(go env GOVERSION)"
GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
DIR="${PATROL_PROMTOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/patrol/promtool/v${MOD}-${GOV}-${GOOS}-${GOARCH}}"
BIN="$DIR/promtool"

stamp() { printf 'v%s %s %s/%s gosum:%s\n' "$MOD" "$GOV" "$GOOS" "$GOARCH" "$(sha256sum "$TOOLS/go.sum" | cut -c1-16)"; }
have_ok() {
  [ -x "$BIN" ] || return 1
  [ "$(cat "$DIR/.stamp" 2>/dev/null)" = "$(stamp)" ] || return 1
  "$BIN" --version 2>/dev/null | grep -q "version ${PROM}"
}

if have_ok; then
  log "cached: $BIN (Prometheus $PROM)"
else
  mkdir -p "$DIR"
  tmp="$(mktemp -d "$DIR/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  log "building promtool $PROM (module v$MOD) with $GOV; the first build takes minutes"
  start=$(date +%s)
  (cd "$TOOLS" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=${PROM} -X github.com/prometheus/common/version.Branch=module" \
    -o "$tmp/promtool" github.com/prometheus/prometheus/cmd/promtool)
  "$tmp/promtool" --version | grep -q "version ${PROM}" || die "built promtool reports '$("$tmp/promtool" --version | head -n1)', want version $PROM"
  mv -f "$tmp/promtool" "$BIN"
  stamp > "$DIR/.stamp.new" && mv -f "$DIR/.stamp.new" "$DIR/.stamp"
  log "built in $(( $(date +%s) - start )) s"
fi

if [ "${1:-}" = "--check" ]; then
  "$BIN" check rules "$RULES/patrol.rules.yaml" >&2 || die "promtool check rules failed for deploy/monitoring/patrol.rules.yaml"
  (cd "$RULES" && "$BIN" test rules patrol.rules.test.yaml) >&2 || die "promtool test rules failed for deploy/monitoring/patrol.rules.test.yaml"
fi
printf '%s\n' "$BIN"
