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
# charts/: the Helm chart's manifests applied to the apiserver (helm built and
# cached by scripts/helm.sh; reused when scripts/test.sh already exported it).
if [ -z "${PATROL_HELM:-}" ] || [ ! -x "$PATROL_HELM" ]; then
  PATROL_HELM="$("$ROOT/scripts/helm.sh" | tail -n1)"
fi
export PATROL_HELM
echo "test-kube: using $PATROL_HELM"
# test/e2e: TestKubeRotateLease runs the built binary against the apiserver (the rest of the
# e2e suite runs too; it needs only the emulator). ./charts: helm lint/template of
# every values example, applied to the apiserver (docs/helm.md).
PKGS=(./internal/kubetest/... ./internal/sink/... ./internal/lock/... ./deploy/... ./charts/... ./test/e2e/...)
PATROL_REQUIRE_KUBE=1 PATROL_KUBE_ASSETS="$ASSETS" go test -race -count=1 "$@" "${PKGS[@]}"
