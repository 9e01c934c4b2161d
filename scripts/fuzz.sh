#!/usr/bin/env bash
# fuzz.sh — run every parser fuzz target (every `func Fuzz…` in a _test.go
# file of the main module) for a bounded time each, one after another.
#
# Environment:
#   FUZZTIME      time per target (default 30s, the CI value: 24 targets x 30 s
#                 = 12 minutes of fuzzing plus one instrumented build per
#                 package, about 14 minutes, 12 more than at 5 s: with
#                 scripts/vulncheck.sh (about 5 minutes) the whole CI run
#                 (about 10 minutes before, with cached tools) stays near 27
#                 minutes on 2 cores, well under its 45-minute budget; every target ran
#                 60 s - twice as long - without a crash on 2026-12-02, so CI
#                 fuzzes inside what was shaken out; a nightly run may use more,
#                 e.g. FUZZTIME=5m)
#   FUZZ_ONLY     a regular expression: only targets whose name matches
#   FUZZ_PARALLEL fuzzing workers per target (default 2: the machine has 2 cores)
#
# A crash fails the script. Go writes the failing input to
# <package>/testdata/fuzz/<Target>/<hash>; the script prints that path and the
# input, so the corpus entry is kept in the log and can be committed (it then
# runs as a regression case in every plain `go test`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/toolchain.sh
. "$ROOT/scripts/toolchain.sh"
cd "$ROOT"
FUZZTIME="${FUZZTIME:-30s}"
FUZZ_PARALLEL="${FUZZ_PARALLEL:-2}"

mapfile -t targets < <(grep -rHo --include='*_test.go' --exclude-dir=test --exclude-dir=tools '^func Fuzz[A-Za-z0-9_]*' . |
  sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)#\1 \2#' | sort -u)
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz.sh: no fuzz targets found" >&2
  exit 1
fi

passed=0 failed=0
for t in "${targets[@]}"; do
  pkg="${t% *}" name="${t#* }"
  if [ -n "${FUZZ_ONLY:-}" ] && ! [[ "$name" =~ $FUZZ_ONLY ]]; then
    continue
  fi
  before="$(find "$pkg/testdata/fuzz/$name" -type f 2>/dev/null | sort || true)"
  printf '==> %s %s (%s)\n' "$pkg" "$name" "$FUZZTIME"
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -parallel "$FUZZ_PARALLEL" "./$pkg" >"/tmp/patrol-fuzz-$$.log" 2>&1; then
    passed=$((passed + 1))
    tail -n 1 "/tmp/patrol-fuzz-$$.log"
  else
    failed=$((failed + 1))
    cat "/tmp/patrol-fuzz-$$.log"
    after="$(find "$pkg/testdata/fuzz/$name" -type f 2>/dev/null | sort || true)"
    for f in $(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after")); do
      echo "FUZZ CRASH corpus kept at $ROOT/$f (commit it to keep it as a regression case):"
      cat "$f"
    done
  fi
done
rm -f "/tmp/patrol-fuzz-$$.log"
echo "fuzz: $passed passed, $failed failed, ${FUZZTIME} each, ${SECONDS}s in all"
[ "$failed" -eq 0 ]
