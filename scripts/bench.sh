#!/usr/bin/env bash
# scripts/bench.sh — run patrol's performance benchmarks (issue 11) and print
# one table: figure | value | limit | ratio (value / limit) | ok.
#
# Each section is a bench_* function that runs `go test -bench` once, keeps
# its output in $OUT/<name>.txt and adds rows with `row`. To add a figure,
# add a function and call it at the bottom (or run a subset:
# scripts/bench.sh patlist rotation).
#
# Knobs: PATROL_BENCH_PATS (pat list sizes, default 2000,20000,100000),
# PATROL_BENCH_CONC / PATROL_BENCH_BUDGET / PATROL_BENCH_CREDS (rotation,
# see internal/rotation/bench_test.go), BENCH_OUT (where outputs are kept).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${BENCH_OUT:-$(mktemp -d)}
mkdir -p "$OUT"
ROWS=()

# row FIGURE VALUE LIMIT [le|eq]: value must be <= limit (le, default) or == limit (eq).
row() {
	ROWS+=("$1|$2|$3|${4:-le}")
}

# metric FILE BENCH-REGEX UNIT: the value reported before UNIT on the first
# benchmark line whose name matches BENCH-REGEX.
metric() {
	awk -v re="$2" -v unit="$3" '$1 ~ re { for (i = 2; i <= NF; i++) if ($i == unit) { print $(i-1); exit } }' "$1"
}

gobench() { # NAME PKG REGEX [extra go test args…]: output in $OUT/NAME.txt
	local name=$1 pkg=$2 re=$3
	shift 3
	echo "== $name: go test -run '^\$' -bench '$re' -benchtime 1x $pkg" >&2
	go test -run '^$' -bench "$re" -benchtime 1x "$@" "$pkg" | tee "$OUT/$name.txt" | grep -E '^(Benchmark|ok|FAIL|---)' >&2
}

# ---- issue 11 §2: pat list streams (peak RSS of the child process) ----
bench_patlist() {
	local f=$OUT/patlist.txt
	PATROL_BENCH_PATS=${PATROL_BENCH_PATS:-2000,20000,100000} gobench patlist ./cmd/patrol 'PATListMemory' -timeout 60m
	local r2k r20k r100k w100k
	r2k=$(metric "$f" 'pats=2000-' peak-rss-MB)
	r20k=$(metric "$f" 'pats=20000-' peak-rss-MB)
	r100k=$(metric "$f" 'pats=100000-' peak-rss-MB)
	w100k=$(metric "$f" 'pats=100000-' ns/op)
	[ -n "$r2k" ] && row "pat list -o json peak RSS, 2,000 PATs (MB)" "$r2k" 50
	[ -n "$r20k" ] && row "pat list -o json peak RSS, 20,000 PATs (MB)" "$r20k" 50
	[ -n "$r2k" ] && [ -n "$r20k" ] && row "pat list RSS growth 2k → 20k PATs (MB)" "$(awk -v a="$r2k" -v b="$r20k" 'BEGIN { printf "%.1f", b - a }')" 8
	[ -n "$r100k" ] && row "pat list -o json peak RSS, 100,000 PATs (MB)" "$r100k" 50
	local a2k a100k
	a2k=$(metric "$f" 'pats=2000-' peak-anon-MB)
	a100k=$(metric "$f" 'pats=100000-' peak-anon-MB)
	[ -n "$a2k" ] && [ -n "$a100k" ] && row "pat list anonymous RSS (heap, stacks) 2k → 100k PATs (MB)" "$a2k → $a100k" - &&
		row "pat list anonymous RSS growth 2k → 100k PATs (MB)" "$(awk -v a="$a2k" -v b="$a100k" 'BEGIN { printf "%.1f", b - a }')" 8
	[ -n "$w100k" ] && row "pat list -o json wall, 100,000 PATs (s)" "$(awk -v n="$w100k" 'BEGIN { printf "%.1f", n / 1e9 }')" 15
	return 0
}

# ---- issue 11 §5: rotation of 200 due PATs at 50 ms latency ----
bench_rotation() {
	local f=$OUT/rotation.txt
	gobench rotation ./internal/rotation 'RotateDue' -timeout 60m
	local def
	def=$(sed -n 's/^[[:space:]]*DefaultConcurrency *= *\([0-9]*\).*/\1/p' internal/config/file.go)
	for budget in off 150per1s; do
		local best="" defv=""
		while read -r name ns blocked; do
			local c=${name##*concurrency=}
			c=${c%-*}
			local s
			s=$(awk -v n="$ns" 'BEGIN { printf "%.2f", n / 1e9 }')
			row "rotate 200 due PATs, budget $budget, concurrency $c (s)" "$s" "-"
			[ "$budget" = off ] || row "  429s against the budget, concurrency $c" "$blocked" 0 eq
			if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$s; fi
			[ "$c" = "$def" ] && defv=$s
		done < <(awk -v b="budget=$budget/" '$1 ~ b { ns = ""; bl = 0; for (i = 2; i <= NF; i++) { if ($i == "ns/op") ns = $(i-1); if ($i == "429s/run") bl = $(i-1) } print $1, ns, bl }' "$f")
		if [ -n "$best" ] && [ -n "$defv" ]; then
			row "rotate, budget $budget: default ($def) / best" "$(awk -v a="$defv" -v b="$best" 'BEGIN { printf "%.2f", a / b }')" 2
		fi
	done
}

print_table() {
	printf '\n%s\n' "patrol benchmarks — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//')), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
	printf '| %s | %s | %s | %s | %s |\n|---|---|---|---|---|\n' figure value limit ratio ok
	local fail=0 r fig val lim op ratio ok
	for r in "${ROWS[@]}"; do
		IFS='|' read -r fig val lim op <<<"$r"
		ratio=-
		ok=-
		if [ "$lim" != - ]; then
			if [ "$op" = eq ]; then
				ok=$(awk -v v="$val" -v l="$lim" 'BEGIN { print (v == l) ? "yes" : "NO" }')
			else
				ratio=$(awk -v v="$val" -v l="$lim" 'BEGIN { if (l > 0) printf "%.2f", v / l; else print "-" }')
				ok=$(awk -v v="$val" -v l="$lim" 'BEGIN { print (v <= l) ? "yes" : "NO" }')
			fi
			[ "$ok" = yes ] || fail=1
		fi
		printf '| %s | %s | %s | %s | %s |\n' "$fig" "$val" "$lim" "$ratio" "$ok"
	done
	echo "(outputs in $OUT)"
	return $fail
}

sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(patlist rotation)
for s in "${sections[@]}"; do
	"bench_$s"
done
print_table
