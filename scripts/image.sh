#!/usr/bin/env bash
# image.sh — build patrol's container image without a Docker daemon: the
# static linux binary (scripts/build.sh when present, else the same go build
# flags) packed by tools/image (go-containerregistry) into an OCI image layout
# directory, plus the SPDX SBOM beside it; optionally pushed to a registry.
#
#   scripts/image.sh                                   # dist/image (OCI layout) + dist/image.spdx.json
#   scripts/image.sh --push registry.example.com/patrol:v0.2.0
#
# Reproducible: same source, Go and SOURCE_DATE_EPOCH → same digest (printed
# as the LAST line of stdout). See docs/image.md.
#
# Environment:
#   VERSION            image and binary version (default: git describe --tags --always --dirty, else "dev")
#   COMMIT             commit stamped and labelled (default: git rev-parse HEAD)
#   SOURCE_DATE_EPOCH  every timestamp in the image (default: the commit time, git log -1 --format=%ct)
#   GOARCH             image architecture (default: amd64)
#   OUT                OCI layout directory (default: dist/image); the SBOM goes to $OUT.spdx.json
#   PATROL_CA_BUNDLE   PEM bundle to ship instead of Mozilla's roots (e.g. /etc/ssl/certs/ca-certificates.crt)
#   PATROL_IMAGE_CACHE where the tools/image binary is cached
#                      (default ${XDG_CACHE_HOME:-$HOME/.cache}/patrol/image/<hash of tools/image>-<go>)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/toolchain.sh
. "$ROOT/scripts/toolchain.sh"
cd "$ROOT"
TOOLS="$ROOT/tools/image"

log() { printf 'image.sh: %s\n' "$*" >&2; }
die() { printf 'image.sh: error: %s\n' "$*" >&2; exit 1; }

push=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --push) [ "$#" -ge 2 ] || die "--push needs a reference (registry/repo:tag)"; push="$2"; shift 2 ;;
    --push=*) push="${1#--push=}"; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) die "unknown argument '$1': use --push REF (see --help)" ;;
  esac
done

command -v go >/dev/null || die "go is not on PATH"

# --- version inputs ---------------------------------------------------------
if [ -z "${VERSION:-}" ]; then VERSION="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"; fi
if [ -z "${COMMIT+x}" ]; then COMMIT="$(git rev-parse HEAD 2>/dev/null || true)"; fi
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null || true)"
  [ -n "$SOURCE_DATE_EPOCH" ] || die "SOURCE_DATE_EPOCH is not set and there is no git commit to take it from"
fi
export VERSION COMMIT SOURCE_DATE_EPOCH
ARCH="${GOARCH:-amd64}"
OUT="${OUT:-dist/image}"

# --- the tools binary, cached by the hash of its sources --------------------
GOV="$(go env GOVERSION)"
hash="$(cd "$TOOLS" && cat go.mod go.sum $(ls ./*.go | grep -v _test.go | sort) | sha256sum | cut -c1-16)"
CACHE="${PATROL_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/patrol/image/${hash}-${GOV}}"
TOOL="$CACHE/patrol-image"
if [ -x "$TOOL" ]; then
  log "cached: $TOOL"
else
  log "building tools/image into $TOOL"
  mkdir -p "$CACHE"
  (cd "$TOOLS" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -o "$TOOL.new" .) || die "could not build tools/image"
  mv -f "$TOOL.new" "$TOOL"
fi

# --- the binary ---------------------------------------------------------------
bindir="$(mktemp -d)"
trap 'rm -rf "$bindir"' EXIT
if [ -f scripts/build.sh ]; then
  DIST="$bindir" bash scripts/build.sh "linux/$ARCH" >&2
else
  log "building patrol-linux-$ARCH ($VERSION)"
  CGO_ENABLED=0 GOOS=linux GOARCH="$ARCH" GOFLAGS=-mod=readonly \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X main.version=$VERSION -X main.commit=$COMMIT" \
      -o "$bindir/patrol-linux-$ARCH" ./cmd/patrol
fi
[ -x "$bindir/patrol-linux-$ARCH" ] || die "no binary $bindir/patrol-linux-$ARCH after the build"

# --- the image ----------------------------------------------------------------
args=(--binary "$bindir/patrol-linux-$ARCH" --version "$VERSION" --revision "$COMMIT"
      --created-epoch "$SOURCE_DATE_EPOCH" --out "$OUT" --sbom-out "$OUT.spdx.json")
[ -n "${PATROL_CA_BUNDLE:-}" ] && args+=(--ca-bundle "$PATROL_CA_BUNDLE")
[ -n "$push" ] && args+=(--push "$push")
"$TOOL" "${args[@]}"
