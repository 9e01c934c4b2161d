#!/usr/bin/env bash
# test.sh — patrol's whole test suite, as the README's quick start runs it:
#   0. system programs the tests need (nginx, jq, curl, openssl): installed
#      with apt-get (sudo -n when not root) when missing, else FAILED
#   1. gofmt check       2. go vet ./...
#   2b. the linux/amd64 release binary (scripts/build.sh --size-budget): builds
#      and fails when it exceeds its size budget
#   2d. helm (scripts/helm.sh, tools/helm; cached) for the chart tests
#   3. go test -race ./...   (unit, emulator-backed integration and e2e tests,
#      test/walkthrough: the README's walk-throughs as written); with
#      PATROL_REQUIRE_TOOLS=1, so a real-server test whose program is missing
#      fails instead of skipping
#   3b. every fuzz target for FUZZTIME (default 30s) each (scripts/fuzz.sh)
#   3c. govulncheck against an offline vulnerability database built from the
#       Go module proxy (scripts/vulncheck.sh; cached; fails on a vulnerable
#       module patrol calls)
#   4. Go SDK (test/sdk, a nested module: Microsoft's azure-devops-go-api v7,
#      unmodified, against the `patrol emulator` binary)
#   4b. container image (tools/image, a nested module: scripts/image.sh builds
#      the image twice, same digest; pushed to go-containerregistry's registry
#      on 127.0.0.1, pulled back, config checked, its binary run)
#   5. Node clients (scripts/test-node.sh: @azure/msal-node, @azure/identity,
#      azure-devops-node-api and @microsoft/microsoft-graph-client, pinned in test/node, against `patrol emulator`;
#      installs nodejs/npm from Debian when missing, fails when it cannot)
#   6. Kubernetes integration tests (scripts/test-kube.sh, when present: it
#      builds/caches kube-apiserver + etcd and runs the kube-tagged packages)
#
# Output of go test goes to stdout unchanged (CI reads its summary lines).
# Environment:
#   PATROL_TEST_FLAGS  extra flags for go test (e.g. "-run TestPAT -v")
#   PATROL_SKIP_FUZZ=1 skip step 3b; FUZZTIME sets its time per target
#   PATROL_SKIP_VULN=1 skip step 3c; PATROL_VULN_STDLIB=warn only warns on
#                      standard-library findings (default: they fail)
#   GOTOOLCHAIN        default go1.27.3 (scripts/toolchain.sh); set it to run
#                      another Go (GOTOOLCHAIN=local: the machine's own)
#   PATROL_SKIP_NODE=1 skip step 5
#   PATROL_SKIP_KUBE=1 skip step 6
#   PATROL_SOAK_RUNS=N nightly size: internal/rotation's random fault schedule
#                      runs exactly N runs (use >= 1000) instead of the fast
#                      default (300 runs, at most 90 s); it fails if go test's
#                      -timeout cuts it short (add e.g. -timeout 60m to
#                      PATROL_TEST_FLAGS)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/toolchain.sh
. "$ROOT/scripts/toolchain.sh"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }
fail=0

# Real-server tests (nginx for the service-endpoint schemes; jq and curl for
# the README walk-throughs; openssl for test helpers) must run, not skip.
step "system programs (nginx, jq, curl, openssl, chromium)"
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
for p in jq curl openssl; do command -v "$p" >/dev/null 2>&1 || need+=("$p"); done
# Headless Chromium renders the HTML report of `patrol audit` (cmd/patrol TestAuditHTMLInChromium).
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing ${need[*]} (apt-get)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
  export DEBIAN_FRONTEND=noninteractive
  if command -v apt-get >/dev/null 2>&1 && $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"; then
    echo "installed ${need[*]}"
  else
    echo "FAILED: could not install ${need[*]} (needs apt-get and root or passwordless sudo): install them, or the tests that need them fail"
    fail=1
  fi
else
  echo "ok"
fi
export PATROL_REQUIRE_TOOLS=1

step "gofmt"
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')
unformatted=""
if [ "${#files[@]}" -gt 0 ]; then
  unformatted="$(gofmt -l "${files[@]}" 2>&1 || true)"
fi
if [ -n "$unformatted" ]; then
  echo "these files need gofmt -w:"
  echo "$unformatted"
  fail=1
else
  echo "ok"
fi

step "go vet ./..."
if ! go vet ./...; then fail=1; fi

step "release binary size budget (scripts/build.sh --size-budget)"
sizedir="$(mktemp -d)"
if ! DIST="$sizedir" scripts/build.sh --size-budget; then
  echo "FAILED: the linux/amd64 release build failed or exceeds its size budget (see above)"
  fail=1
fi
rm -rf "$sizedir"

# The release targets other than linux compile too (scripts/build.sh builds
# them; a unix-only syscall once broke windows/amd64 unnoticed).
step "cross-compile: windows/amd64, darwin/arm64 (go build ./...)"
for target in windows/amd64 darwin/arm64; do
  if ! GOOS="${target%/*}" GOARCH="${target#*/}" CGO_ENABLED=0 go build ./...; then
    echo "FAILED: go build ./... for $target"
    fail=1
  fi
done

step "alerting rules (scripts/promtool.sh --check)"
if PROMTOOL_OUT="$(scripts/promtool.sh --check)"; then
  export PATROL_PROMTOOL="$(printf '%s\n' "$PROMTOOL_OUT" | tail -n1)"
  echo "ok ($PATROL_PROMTOOL)"
else
  echo "FAILED: promtool could not be built, or the rules in deploy/monitoring failed their checks (see above)"
  fail=1
fi

step "helm (scripts/helm.sh: built once from the Go module proxy in tools/helm, cached)"
# The chart tests (charts/) run helm lint / helm template with this binary.
if HELM_OUT="$(scripts/helm.sh)"; then
  export PATROL_HELM="$(printf '%s\n' "$HELM_OUT" | tail -n1)"
  echo "ok ($PATROL_HELM)"
else
  echo "FAILED: helm could not be built (scripts/helm.sh); the chart tests in charts/ fail without it"
  fail=1
fi

step "go test -race ./..."
# shellcheck disable=SC2086
if ! go test -race -count=1 ${PATROL_TEST_FLAGS:-} ./...; then fail=1; fi

if [ "${PATROL_SKIP_FUZZ:-}" != "1" ]; then
  step "fuzz targets, ${FUZZTIME:-30s} each (scripts/fuzz.sh)"
  if ! bash scripts/fuzz.sh; then
    echo "FAILED: a fuzz target crashed; its input is printed above and kept under testdata/fuzz"
    fail=1
  fi
else
  step "fuzz targets: skipped (PATROL_SKIP_FUZZ=1)"
fi

if [ "${PATROL_SKIP_VULN:-}" != "1" ]; then
  step "govulncheck, offline database (scripts/vulncheck.sh)"
  if ! bash scripts/vulncheck.sh; then
    echo "FAILED: a vulnerability patrol's code calls (listed above with its fixed version), or the tools/database could not be built"
    fail=1
  fi
else
  step "govulncheck: skipped (PATROL_SKIP_VULN=1)"
fi

step "Go SDK against patrol emulator (test/sdk: go vet, go test)"
if ! (cd test/sdk && go vet ./... && go test -count=1 ./...); then
  echo "FAILED: azure-devops-go-api tests (test/sdk)"
  fail=1
fi

step "container image (tools/image: go vet, go test)"
if ! (cd tools/image && go vet ./... && go test -count=1 ./...); then
  echo "FAILED: container image tests (tools/image; scripts/image.sh)"
  fail=1
fi

if [ "${PATROL_SKIP_NODE:-}" != "1" ]; then
  step "Node clients against patrol emulator (scripts/test-node.sh)"
  if ! bash scripts/test-node.sh; then
    echo "FAILED: Node client tests (scripts/test-node.sh)"
    fail=1
  fi
else
  step "Node clients: skipped (PATROL_SKIP_NODE=1)"
fi

if [ "${PATROL_SKIP_KUBE:-}" != "1" ]; then
  if [ -x scripts/test-kube.sh ]; then
    step "Kubernetes integration tests (scripts/test-kube.sh)"
    if ! scripts/test-kube.sh; then fail=1; fi
  elif [ -f scripts/test-kube.sh ]; then
    step "Kubernetes integration tests (bash scripts/test-kube.sh)"
    if ! bash scripts/test-kube.sh; then fail=1; fi
  else
    step "Kubernetes integration tests: scripts/test-kube.sh not present, skipped"
  fi
fi

if [ "$fail" -ne 0 ]; then
  step "FAILED"
  exit 1
fi
step "all tests passed"
