# toolchain.sh — sourced by every script in scripts/ and by .ci/run: the Go
# toolchain patrol is built, tested and released with.
#
# go1.27.3 fixes the 12 standard-library vulnerabilities that govulncheck
# finds reachable from patrol's code in go1.26.8 (see docs/security.md). The
# machine's own go (1.26.8 or newer) fetches go1.27.3 from the Go module proxy
# the first time (about 76 MB, seconds), then uses it from the module cache.
# go.mod still says `go 1.26.8`, so a plain `go build ./...` with an older Go
# keeps working; only the scripts pin the release toolchain.
#
# An explicit GOTOOLCHAIN in the environment wins (GOTOOLCHAIN=local runs the
# machine's Go as it is; scripts/vulncheck.sh then warns about its stdlib).
PATROL_GO_TOOLCHAIN=go1.27.3
if [ -z "${GOTOOLCHAIN:-}" ]; then
  export GOTOOLCHAIN="$PATROL_GO_TOOLCHAIN"
fi
