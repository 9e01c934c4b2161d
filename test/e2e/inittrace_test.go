package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The start-up budget of patrol's own packages (issue 11 §3): what their
// package initialisers may allocate in total, as GODEBUG=inittrace=1 reports
// it. Allocation counts are deterministic for a given build (clock times are
// not, so they are not asserted). Measured 2026-12-02 after making tables and
// regexps lazy (sync.OnceValue): 143 allocations, 27.5 kB (17 init functions
// of patrol-dev packages; before: 5,342 allocations, 577 kB). The budget
// leaves room for a few small tables; a package-level regexp costs 20-200
// allocations, a map literal of 100 entries ~100: build those on first use.
const (
	initAllocBudget = 400
	initByteBudget  = 96 << 10
)

var initLine = regexp.MustCompile(`^init (github\.com/patrol-dev/\S+) @\S+ ms, \S+ ms clock, (\d+) bytes, (\d+) allocs$`)

// TestInitBudget runs the binary with GODEBUG=inittrace=1 for commands that
// do nothing (version, --help, pat list --help) and fails when patrol's own
// packages' initialisers allocate more than the budget.
func TestInitBudget(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--help"}, {"pat", "list", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := exec.Command(binary, args...)
			cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("patrol %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
			}
			type pkg struct {
				name          string
				bytes, allocs int
			}
			var pkgs []pkg
			total := pkg{name: "total"}
			for _, line := range strings.Split(stderr.String(), "\n") {
				m := initLine.FindStringSubmatch(strings.TrimSpace(line))
				if m == nil {
					continue
				}
				b, _ := strconv.Atoi(m[2])
				a, _ := strconv.Atoi(m[3])
				pkgs = append(pkgs, pkg{m[1], b, a})
				total.bytes += b
				total.allocs += a
			}
			if len(pkgs) == 0 {
				t.Fatalf("no inittrace line of a patrol-dev package in stderr: GODEBUG=inittrace=1 had no effect?\n%s", stderr.String())
			}
			sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].allocs > pkgs[j].allocs })
			t.Logf("%d patrol-dev package inits: %d allocs, %d bytes (budget %d allocs, %d bytes)", len(pkgs), total.allocs, total.bytes, initAllocBudget, initByteBudget)
			if total.allocs > initAllocBudget || total.bytes > initByteBudget {
				var top []string
				for _, p := range pkgs[:min(5, len(pkgs))] {
					top = append(top, p.name+": "+strconv.Itoa(p.allocs)+" allocs, "+strconv.Itoa(p.bytes)+" bytes")
				}
				t.Errorf("patrol's own package initialisers allocate %d times (%d bytes), over the budget of %d allocs / %d bytes (test/e2e/inittrace_test.go): build tables, regexps and parsed data on first use (sync.OnceValue) instead of at init. Largest:\n  %s",
					total.allocs, total.bytes, initAllocBudget, initByteBudget, strings.Join(top, "\n  "))
			}
		})
	}
}
