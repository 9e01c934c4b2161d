#!/usr/bin/env bash
# test-kube.sh — run patrol's Kubernetes integration tests against a real
# etcd + kube-apiserver (no Docker). Builds/caches the binaries first with
# scripts/kube-tools.sh (≈5 min the first time on 2 cores, seconds after),
# then runs the packages holding kube tests with PATROL_REQUIRE_KUBE=1 so a
# missing binary fails instead of skipping.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/toolchain.sh
. "$ROOT/scripts/toolchain.sh"
cd "$ROOT"
ASSETS="$("$ROOT/scripts/kube-tools.sh" | tail -n1)"
[ -x "$ASSETS/kube-apiserver" ] || { echo "test-kube: kube-tools.sh did not produce $ASSETS/kube-apiserver" >&2; exit 1; }
echo "test-kube: using $ASSETS"
# test/e2e: TestKubeRotateLease runs the built binary against the apiserver (the rest of the
# e2e suite runs too; it needs only the emulator).
PKGS=(./internal/kubetest/... ./internal/sink/... ./internal/lock/... ./deploy/... ./test/e2e/...)
PATROL_REQUIRE_KUBE=1 PATROL_KUBE_ASSETS="$ASSETS" go test -race -count=1 "$@" "${PKGS[@]}"
