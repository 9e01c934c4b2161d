#!/usr/bin/env bash
# kube-tools.sh — build (once) and cache the binaries patrol's Kubernetes
# integration tests need: kube-apiserver v${PATROL_KUBE_VERSION} built from the
# Go module proxy via the separate tools module in tools/kube, plus a symlink
# to etcd (Debian's etcd-server package, installed when missing).
#
# Idempotent: returns at once when the cached binary exists and reports the
# expected version. On success the LAST line of stdout is the asset
# directory, usable as PATROL_KUBE_ASSETS (or KUBEBUILDER_ASSETS):
#
#   export PATROL_KUBE_ASSETS="$(scripts/kube-tools.sh | tail -n1)"
#
# Environment:
#   PATROL_KUBE_CACHE   asset dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/patrol/kube/v<V>-<go>-<os>-<arch>)
#   PATROL_KUBE_REGEN=1 regenerate tools/kube/go.mod from kubernetes' go.mod first
#   PATROL_KUBE_KUBECTL=1 also build kubectl at the same version
set -euo pipefail

V="${PATROL_KUBE_VERSION:-1.37.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/toolchain.sh
. "$ROOT/scripts/toolchain.sh"
TOOLS="$ROOT/tools/kube"

log() { printf 'kube-tools: %s\n' "$*" >&2; }
die() { printf 'kube-tools: error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH; install Go $(sed -n 's/^go //p' "$ROOT/go.mod") first"

GOV="$(go env GOVERSION)"
GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
DIR="${PATROL_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/patrol/kube/v${V}-${GOV}-${GOOS}-${GOARCH}}"

# --- etcd -----------------------------------------------------------------
find_etcd() {
  if command -v etcd >/dev/null 2>&1; then command -v etcd; return 0; fi
  for p in /usr/bin/etcd /usr/local/bin/etcd; do [ -x "$p" ] && { echo "$p"; return 0; }; done
  return 1
}
ETCD="$(find_etcd || true)"
if [ -z "$ETCD" ]; then
  log "etcd not found; installing Debian package etcd-server"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then command -v sudo >/dev/null && SUDO="sudo -n" || die "etcd missing and not root (no sudo): run 'apt-get install -y etcd-server' as root"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq etcd-server >&2
  ETCD="$(find_etcd)" || die "etcd still not found after apt-get install etcd-server"
fi

# --- kube-apiserver ---------------------------------------------------------
want="v${V}"
# The stamp records what the binary was built from (k8s version, Go version,
# platform, hash of tools/kube/go.sum); a different go.sum forces a rebuild.
stamp() {
  local sum="none"
  [ -f "$TOOLS/go.sum" ] && sum="$(sha256sum "$TOOLS/go.sum" | cut -c1-16)"
  printf 'v%s %s %s/%s gosum:%s\n' "$V" "$GOV" "$GOOS" "$GOARCH" "$sum"
}
have_ok() {
  [ -x "$DIR/kube-apiserver" ] || return 1
  [ "$(cat "$DIR/.stamp" 2>/dev/null)" = "$(stamp)" ] || return 1
  "$DIR/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes ${want}"
}

regen_gomod() {
  command -v jq >/dev/null || die "jq is needed to regenerate tools/kube/go.mod (apt-get install -y jq)"
  log "regenerating $TOOLS/go.mod from k8s.io/kubernetes@v$V go.mod"
  local gomod
  gomod="$(cd "$TOOLS" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$V" | jq -r .GoMod)"
  [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@v$V go.mod"
  { printf 'module github.com/patrol-dev/patrol/tools/kube\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v%s\n\n' "$V"
    sed -n '/^replace (/,/^)/p' "$gomod" \
      | sed -E "s#=> \./staging/src/(k8s\.io/[^[:space:]]+)#=> \1 v0.${V#1.}#" \
      | grep -v -e sample-cli-plugin -e sample-controller
  } > "$TOOLS/go.mod.new"
  mv "$TOOLS/go.mod.new" "$TOOLS/go.mod"
  (cd "$TOOLS" && go mod tidy)
}

if have_ok; then
  log "cached: $DIR/kube-apiserver ($want)"
else
  if [ "${PATROL_KUBE_REGEN:-0}" = 1 ] || ! grep -q "k8s.io/kubernetes v$V" "$TOOLS/go.mod" 2>/dev/null; then
    regen_gomod
  fi
  [ -f "$TOOLS/go.sum" ] || (cd "$TOOLS" && go mod tidy)
  mkdir -p "$DIR"
  tmp="$(mktemp -d "$DIR/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  minor="${V#*.}"; minor="${minor%%.*}"
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v${V} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/component-base/version.gitTreeState=clean"
  log "building kube-apiserver $want with $GOV (takes ~5 min on 2 cores the first time)"
  start=$(date +%s)
  (cd "$TOOLS" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
  if [ "${PATROL_KUBE_KUBECTL:-0}" = 1 ]; then
    (cd "$TOOLS" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl)
  fi
  "$tmp/kube-apiserver" --version | grep -qx "Kubernetes ${want}" \
    || die "built kube-apiserver reports '$("$tmp/kube-apiserver" --version)', want 'Kubernetes ${want}'"
  for b in "$tmp"/*; do mv -f "$b" "$DIR/$(basename "$b")"; done
  stamp > "$DIR/.stamp.new" && mv -f "$DIR/.stamp.new" "$DIR/.stamp"
  log "built in $(( $(date +%s) - start )) s"
fi

ln -sfn "$ETCD" "$DIR/etcd"
"$DIR/etcd" --version >/dev/null 2>&1 || die "$DIR/etcd does not run"
log "kube-apiserver: $("$DIR/kube-apiserver" --version); etcd: $("$DIR/etcd" --version | head -n1)"
printf '%s\n' "$DIR"
