#!/usr/bin/env bash
# scripts/bench.sh — run patrol's performance benchmarks (issue 11) and print
# one table: figure | value | limit | ratio (value / limit) | ok.
#
# Each section is a bench_* function that runs `go test -bench` once, keeps
# its output in $OUT/<name>.txt and adds rows with `row`. To add a figure,
# add a function and call it at the bottom (or run a subset:
# scripts/bench.sh patlist rotation). Sections: emulator (§1 paging), seed
# and startup (§3, §4: start-up vs hello-world, init allocations, binary
# size), patlist (§2), rotation (§5). A value with no limit ("-") is shown
# for comparison only. RUNS sets the start-up runs (default 21).
#
# Knobs: PATROL_BENCH_PATS (pat list sizes, default 2000,20000,100000),
# PATLIST_COUNT (pat list runs per size, medians; default 3), PATROL_BENCH_BIN
# (the binary pat list runs; default the release build, installed),
# PATROL_BENCH_CONC / PATROL_BENCH_BUDGET / PATROL_BENCH_CREDS (rotation,
# see internal/rotation/bench_test.go), BENCH_OUT (where outputs are kept).
set -euo pipefail
# shellcheck source=scripts/toolchain.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/toolchain.sh"
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

# medmetric FILE BENCH-REGEX UNIT: the median of that value over every
# matching line (go test -count N prints one line per run).
medmetric() {
	awk -v re="$2" -v unit="$3" '$1 ~ re { for (i = 2; i <= NF; i++) if ($i == unit) print $(i-1) }' "$1" |
		sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'
}

gobench() { # NAME PKG REGEX [extra go test args…]: output in $OUT/NAME.txt
	local name=$1 pkg=$2 re=$3
	shift 3
	echo "== $name: go test -run '^\$' -bench '$re' -benchtime 1x $pkg" >&2
	go test -run '^$' -bench "$re" -benchtime 1x "$@" "$pkg" | tee "$OUT/$name.txt" | grep -E '^(Benchmark|ok|FAIL|---)' >&2
}

# installed BUILT DEST: DEST is BUILT copied as `install` (or cp) does, and
# the binary the RSS rows measure. Most of a Go binary's RSS is its own
# file-backed pages, and how many a run maps depends on the page cache's
# folio sizes for the file: the linker's output often sits in the page
# cache in 1-2 MB folios, of which one touched byte maps all (Linux 6.x maps
# whole large folios), so the same code measured 33 to 38 MB for `version`
# from one fresh build to the next. An installed copy (and a binary read
# from disk cold) sits in small folios mapped 64 kB around each touched
# page (fault-around), like a user's binary: stable to ±0.5 MB.
installed() {
	install -m 0755 "$1" "$2"
}

# ---- issue 11 §2: pat list streams (peak RSS of the child process) ----
# The release build (scripts/build.sh), installed (see installed); set
# PATROL_BENCH_BIN to measure another binary.
bench_patlist() {
	local f=$OUT/patlist.txt bin=${PATROL_BENCH_BIN:-}
	if [ -z "$bin" ]; then
		mkdir -p "$OUT/patlist"
		echo "== patlist: scripts/build.sh linux/amd64, installed copy" >&2
		DIST=$OUT/patlist VERSION=bench COMMIT= scripts/build.sh linux/amd64 >"$OUT/patlist/build.txt" 2>&1
		bin=$OUT/patlist/patrol
		installed "$OUT/patlist/patrol-linux-amd64" "$bin"
	fi
	PATROL_BENCH_BIN=$bin PATROL_BENCH_PATS=${PATROL_BENCH_PATS:-2000,20000,100000} gobench patlist ./cmd/patrol 'PATListMemory' -timeout 60m -count "${PATLIST_COUNT:-3}"
	local r2k r20k r100k w100k
	r2k=$(medmetric "$f" 'pats=2000-' peak-rss-MB)
	r20k=$(medmetric "$f" 'pats=20000-' peak-rss-MB)
	r100k=$(medmetric "$f" 'pats=100000-' peak-rss-MB)
	w100k=$(medmetric "$f" 'pats=100000-' ns/op)
	[ -n "$r2k" ] && row "pat list -o json peak RSS, 2,000 PATs (MB)" "$r2k" 50
	[ -n "$r20k" ] && row "pat list -o json peak RSS, 20,000 PATs (MB)" "$r20k" 50
	[ -n "$r2k" ] && [ -n "$r20k" ] && row "pat list RSS growth 2k → 20k PATs (MB)" "$(awk -v a="$r2k" -v b="$r20k" 'BEGIN { printf "%.1f", b - a }')" 8
	[ -n "$r100k" ] && row "pat list -o json peak RSS, 100,000 PATs (MB)" "$r100k" 50
	local a2k a100k
	a2k=$(medmetric "$f" 'pats=2000-' peak-anon-MB)
	a100k=$(medmetric "$f" 'pats=100000-' peak-anon-MB)
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

# ---- issue 11 §1: emulator PAT list page ($top=100) at P PATs ----
# Page cost at P = 1k, 10k, 100k (limit 5 ms), flatness (100k / 1k, limit 2),
# and wall time per page with 16 and 64 concurrent clients relative to one
# client (<= 1: throughput does not drop with clients; on 2 cores it cannot
# grow much beyond 2x). Medians of 5 runs of 100 pages each.
bench_emulator() {
	local f=$OUT/emulator.txt
	gobench emulator ./internal/emulator 'BenchmarkPATListPage/P=.*/(first|middle|clients=.*)$' -benchtime 100x -count 5
	local p ns one100k one1k
	for p in 1000 10000 100000; do
		ns=$(medmetric "$f" "^BenchmarkPATListPage/P=$p/first-" ns/op)
		[ -n "$ns" ] || continue
		row "emulator PAT list page, P = $p (ms)" "$(awk -v n="$ns" 'BEGIN { printf "%.2f", n / 1e6 }')" 5
		ns=$(medmetric "$f" "^BenchmarkPATListPage/P=$p/middle-" ns/op)
		[ -n "$ns" ] && row "  page in the middle (continuationToken), P = $p (ms)" "$(awk -v n="$ns" 'BEGIN { printf "%.2f", n / 1e6 }')" 5
	done
	one1k=$(medmetric "$f" '^BenchmarkPATListPage/P=1000/first-' ns/op)
	one100k=$(medmetric "$f" '^BenchmarkPATListPage/P=100000/first-' ns/op)
	[ -n "$one1k" ] && [ -n "$one100k" ] &&
		row "emulator page cost P = 100k / P = 1k" "$(awk -v a="$one100k" -v b="$one1k" 'BEGIN { printf "%.2f", a / b }')" 2
	local c
	for c in 16 64; do
		ns=$(medmetric "$f" "^BenchmarkPATListPage/P=100000/clients=$c-" ns/op)
		[ -n "$ns" ] && [ -n "$one100k" ] &&
			row "emulator time per page, $c clients / 1 client (P = 100k)" "$(awk -v a="$ns" -v b="$one100k" 'BEGIN { printf "%.2f", a / b }')" 1
	done
	return 0
}

# ---- issue 11 §3: emulator start with a 100,000-PAT seed file ----
bench_seed() {
	local f=$OUT/seed.txt
	gobench seed ./internal/emulator 'BenchmarkLoadSeed' -benchtime 2x
	local j y
	j=$(metric "$f" '^BenchmarkLoadSeed/pats=100000/json-' ns/op)
	y=$(metric "$f" '^BenchmarkLoadSeed/pats=100000/yaml-' ns/op)
	[ -n "$j" ] && row "seed load, 100,000 PATs, JSON (s)" "$(awk -v n="$j" 'BEGIN { printf "%.3f", n / 1e9 }')" 0.5
	[ -n "$y" ] && row "  the same seed as YAML (s)" "$(awk -v n="$y" 'BEGIN { printf "%.3f", n / 1e9 }')" -
	return 0
}

# ---- issue 11 §3 and §4: start-up against a hello-world, binary size ----
# Both built like the release (scripts/build.sh flags), patrol installed
# (see installed); runs alternate
# patrol / hello-world, medians of RUNS (default 21): wall time by bash
# (EPOCHREALTIME), peak RSS by GNU time; the
# allocations of patrol's own package inits against the CI budget
# (test/e2e/inittrace_test.go), the release binary against its size budget.
bench_startup() {
	local runs=${RUNS:-21} dir=$OUT/startup
	mkdir -p "$dir/hello"
	echo "== startup: scripts/build.sh linux/amd64, hello-world, $runs alternated runs each" >&2
	DIST=$dir VERSION=bench COMMIT= scripts/build.sh linux/amd64 >"$dir/build.txt" 2>&1
	printf 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello, world") }\n' >"$dir/hello/main.go"
	printf 'module hello\n\ngo 1.22\n' >"$dir/hello/go.mod"
	(cd "$dir/hello" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -buildid=" -o hello .)
	local patrol=$dir/patrol hello=$dir/hello/hello args i w m
	installed "$dir/patrol-linux-amd64" "$patrol" # the RSS of an installed binary (see installed)
	median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
	for args in "version" "--help" "pat list --help"; do
		: >"$dir/pw" && : >"$dir/hw" && : >"$dir/pm" && : >"$dir/hm"
		for ((i = 0; i < runs; i++)); do
			# wall: bash's EPOCHREALTIME around the run (µs); peak RSS: GNU time.
			local t0 t1
			t0=$EPOCHREALTIME
			# shellcheck disable=SC2086
			"$patrol" $args >/dev/null 2>&1
			t1=$EPOCHREALTIME
			awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) }' >>"$dir/pw"
			t0=$EPOCHREALTIME
			"$hello" >/dev/null 2>&1
			t1=$EPOCHREALTIME
			awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) }' >>"$dir/hw"
			# shellcheck disable=SC2086
			/usr/bin/time -f '%M' -o "$dir/t" "$patrol" $args >/dev/null 2>&1
			cat "$dir/t" >>"$dir/pm"
			/usr/bin/time -f '%M' -o "$dir/t" "$hello" >/dev/null 2>&1
			cat "$dir/t" >>"$dir/hm"
		done
		local pw hw pm hm
		pw=$(median <"$dir/pw") hw=$(median <"$dir/hw") pm=$(median <"$dir/pm") hm=$(median <"$dir/hm")
		row "patrol $args: wall, patrol / hello-world (ms)" "$(awk -v a="$pw" -v b="$hw" 'BEGIN { printf "%.1f / %.1f (%.1f×)", a * 1000, b * 1000, a / b }')" -
		row "patrol $args: peak RSS, patrol / hello-world (MB)" "$(awk -v a="$pm" -v b="$hm" 'BEGIN { printf "%.1f / %.1f", a / 1024, b / 1024 }')" -
	done
	local allocs budget size sbudget
	allocs=$(GODEBUG=inittrace=1 "$patrol" version 2>&1 >/dev/null | awk '/^init github.com\/patrol-dev\// { a += $(NF-1) } END { print a + 0 }')
	budget=$(awk '/initAllocBudget *=/ { print $3 }' test/e2e/inittrace_test.go)
	row "patrol's own package inits (allocations)" "$allocs" "$budget"
	size=$(stat -c %s "$dir/patrol-linux-amd64")
	sbudget=$(awk -F= '/^DEFAULT_SIZE_BUDGET=/ { print $2 }' scripts/build.sh)
	row "release binary linux/amd64, static, -s -w (MB)" "$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 }')" "$(awk -v s="$sbudget" 'BEGIN { printf "%.1f", s / 1e6 }')"
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
[ ${#sections[@]} -gt 0 ] || sections=(emulator seed startup patlist rotation)
for s in "${sections[@]}"; do
	"bench_$s"
done
print_table
