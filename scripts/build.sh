#!/usr/bin/env bash
# build.sh — patrol's release binaries: static (CGO_ENABLED=0), stripped
# (-trimpath -ldflags "-s -w"), reproducible (same source + same Go = same
# bytes: no build paths, no VCS stamping by the toolchain, empty build id
# inputs from the environment), version and commit stamped with -X.
#
#   scripts/build.sh                   # every release platform into dist/
#   scripts/build.sh linux/amd64       # only the named platform(s)
#   scripts/build.sh --size-budget     # linux/amd64 only; fail when it exceeds
#                                      # PATROL_SIZE_BUDGET bytes (CI, test.sh)
#
# Output: dist/patrol-<os>-<arch>[.exe] and dist/SHA256SUMS (sha256sum -c).
# Environment:
#   VERSION  version stamped into `patrol version` (default: git describe
#            --tags --always --dirty, "dev" outside a git checkout)
#   COMMIT   commit stamped (default: git rev-parse HEAD, empty outside git)
#   DIST     output directory (default: dist)
#   PATROL_SIZE_BUDGET  bytes for --size-budget (default below)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/toolchain.sh
. "$ROOT/scripts/toolchain.sh"
cd "$ROOT"

# The size budget of the linux/amd64 release binary. Measured 2026-12-02:
# 60,137,598 bytes (go1.26.8, main at the budget's commit); the budget is that
# plus ~5% headroom, so a new heavy dependency fails CI and is a deliberate
# decision (raise it here with the new measured size in the commit message).
# Raised 2026-12-02 for `patrol controller` (issue 12: controller-runtime,
# its manager, cache, leader election and webhook-free client): 60,444,798 →
# 64,544,892 bytes (+4.1 MB); the budget is that plus ~5%.
DEFAULT_SIZE_BUDGET=68000000

PLATFORMS=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64)
budget=0
if [ "${1:-}" = "--size-budget" ]; then
  budget="${PATROL_SIZE_BUDGET:-$DEFAULT_SIZE_BUDGET}"
  PLATFORMS=(linux/amd64)
  shift
fi
if [ "$#" -gt 0 ]; then PLATFORMS=("$@"); fi

if [ -z "${VERSION:-}" ]; then
  VERSION="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
fi
if [ -z "${COMMIT+x}" ]; then
  COMMIT="$(git rev-parse HEAD 2>/dev/null || true)"
fi
DIST="${DIST:-dist}"
mkdir -p "$DIST"

for p in "${PLATFORMS[@]}"; do
  os="${p%/*}" arch="${p#*/}"
  case "$p" in
    linux/amd64|linux/arm64|darwin/amd64|darwin/arm64|windows/amd64) ;;
    *) echo "build.sh: platform $p is not a release platform: use one of ${PLATFORMS[*]}" >&2; exit 2 ;;
  esac
  out="$DIST/patrol-$os-$arch"
  [ "$os" = windows ] && out="$out.exe"
  echo "building $out ($VERSION${COMMIT:+ $COMMIT})"
  CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" GOFLAGS=-mod=readonly \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X main.version=$VERSION -X main.commit=$COMMIT" \
      -o "$out" ./cmd/patrol
done

(cd "$DIST" && sha256sum patrol-* | grep -v SHA256SUMS > SHA256SUMS && cat SHA256SUMS)

if [ "$budget" -gt 0 ]; then
  size="$(stat -c %s "$DIST/patrol-linux-amd64")"
  echo "linux/amd64 release binary: $size bytes, budget $budget bytes ($((size * 100 / budget))%)"
  if [ "$size" -gt "$budget" ]; then
    echo "FAILED: the linux/amd64 release binary grew past its size budget (scripts/build.sh DEFAULT_SIZE_BUDGET): find what added the weight (go tool nm -size -sort size), or raise the budget deliberately"
    exit 1
  fi
fi
