#!/usr/bin/env bash
# test-node.sh — Microsoft's own Node clients, unmodified, against `patrol emulator`:
# @azure/msal-node, @azure/identity, azure-devops-node-api and @microsoft/microsoft-graph-client (versions pinned by
# test/node/package-lock.json). Steps:
#   1. node (>= 18) and npm: installed from Debian (apt-get install nodejs npm) when missing
#   2. npm ci in test/node — skipped when node_modules was installed from the same lockfile
#   3. go build ./cmd/patrol
#   4. a first emulator run writes a state file holding the CA the tests trust
#      (NODE_EXTRA_CA_CERTS is read once, when node starts); every test file starts
#      its own emulator from a copy of that state, so all of them serve with that CA
#   5. node --test in test/node
# Fails loudly (exit 1) when any step cannot be done; it never skips.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/toolchain.sh
. "$ROOT/scripts/toolchain.sh"
NODE_DIR="$ROOT/test/node"
die() { echo "test-node.sh: $*" >&2; exit 1; }

# 1. node and npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "==> installing nodejs npm (Debian packages)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "node/npm are missing and neither root nor sudo is available: install Node.js >= 18 and npm"
    SUDO="sudo -n"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q || die "apt-get update failed: install Node.js >= 18 and npm"
  $SUDO apt-get install -y -q --no-install-recommends nodejs npm || die "apt-get install nodejs npm failed: install Node.js >= 18 and npm"
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || die "node $(node --version) is too old: the pinned clients need Node.js >= 18"
echo "node $(node --version), npm $(npm --version)"

# 2. npm ci, cached by the lockfile's hash (and the node major version).
want="$(cat "$NODE_DIR/package-lock.json" "$NODE_DIR/package.json" | sha256sum | cut -d' ' -f1)-node$node_major"
stamp="$NODE_DIR/node_modules/.patrol-lock-hash"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "node_modules up to date (lockfile hash matches)"
else
  echo "==> npm ci (test/node)"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund) || die "npm ci failed in test/node (is the npm registry reachable?)"
  echo "$want" >"$stamp"
fi

# 3. patrol.
work="$(mktemp -d "${TMPDIR:-/tmp}/patrol-node-test.XXXXXX")"
emu_pid=""
cleanup() {
  if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; wait "$emu_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
echo "==> go build ./cmd/patrol"
(cd "$ROOT" && go build -o "$work/patrol" ./cmd/patrol) || die "go build ./cmd/patrol failed"

# 4. the CA every test's emulator serves with.
"$work/patrol" emulator --addr 127.0.0.1:0 --state "$work/state.json" --ca-file "$work/ca.pem" >"$work/emulator.out" 2>&1 &
emu_pid=$!
for _ in $(seq 1 100); do
  grep -q '^export AZURE_USERNAME' "$work/emulator.out" 2>/dev/null && break
  kill -0 "$emu_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q '^export AZURE_USERNAME' "$work/emulator.out" || { cat "$work/emulator.out" >&2; die "patrol emulator did not start"; }
kill "$emu_pid"; wait "$emu_pid" 2>/dev/null || true; emu_pid=""
[ -s "$work/state.json" ] && [ -s "$work/ca.pem" ] || die "patrol emulator wrote no state file / CA"

# 5. the tests.
echo "==> node --test (test/node)"
cd "$NODE_DIR"
PATROL_BIN="$work/patrol" PATROL_EMULATOR_STATE="$work/state.json" NODE_EXTRA_CA_CERTS="$work/ca.pem" \
  node --test
