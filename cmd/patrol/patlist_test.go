package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/emulator"
)

// BenchmarkPATListMemory runs the patrol binary's `pat list -o json` as a
// child process against the emulator (HTTPS on 127.0.0.1) holding P PATs, and
// reports the child's peak RSS (peak-rss-MB, VmHWM), its largest anonymous
// resident memory seen (peak-anon-MB, RssAnon sampled every 5 ms: heap and
// stacks without the binary's pages), its largest heap at a GC
// (peak-heap-MB, from GODEBUG=gctrace=1) and the wall time (ns/op). The
// emulator runs in this process, so its memory is not counted.
// P defaults to 2000, 20000 and 100000 (PATROL_BENCH_PATS=2000,20000 to choose);
// PATROL_BENCH_BIN names the binary to run (default: go build of this package).
// Run: go test -run '^$' -bench PATListMemory -benchtime 1x ./cmd/patrol
func BenchmarkPATListMemory(b *testing.B) {
	sizes := []int{2000, 20000, 100000}
	if v := os.Getenv("PATROL_BENCH_PATS"); v != "" {
		sizes = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				b.Fatalf("PATROL_BENCH_PATS=%q: want a comma-separated list of positive counts", v)
			}
			sizes = append(sizes, n)
		}
	}
	bin := os.Getenv("PATROL_BENCH_BIN") // e.g. the release build; default: go build
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "patrol")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	for _, p := range sizes {
		b.Run(fmt.Sprintf("pats=%d", p), func(b *testing.B) {
			seed := emulator.DefaultSeed()
			validTo := time.Now().Add(90 * 24 * time.Hour)
			for i := range p {
				seed.PATs = append(seed.PATs, emulator.SeedPAT{Owner: emulator.DefaultUser, Org: emulator.DefaultOrg,
					DisplayName: fmt.Sprintf("bench-pat-%07d", i), Scope: "vso.code", ValidTo: validTo})
			}
			_, env := emuEnvOpts(b, emulator.Options{Seed: &seed})
			var rss, anon, heap float64
			b.ResetTimer()
			for range b.N {
				r, a, h := runPATList(b, bin, env, p)
				rss, anon, heap = max(rss, r), max(anon, a), max(heap, h)
			}
			b.ReportMetric(rss, "peak-rss-MB")
			b.ReportMetric(anon, "peak-anon-MB")
			b.ReportMetric(heap, "peak-heap-MB")
		})
	}
}

// gcLine matches gctrace's "A->B->C MB": the heap at GC start, at GC end,
// and live.
var gcLine = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB`)

func runPATList(b *testing.B, bin string, env map[string]string, want int) (rssMB, anonMB, heapMB float64) {
	b.Helper()
	var out countingWriter
	rssMB, anonMB, heapMB = runMeasured(b, bin, env, &out, "pat", "list", "-o", "json")
	if out.items != want || !bytes.HasSuffix(out.tail, []byte("\n]\n")) {
		b.Fatalf("pat list printed %d items (want %d), ending %q", out.items, want, out.tail)
	}
	return rssMB, anonMB, heapMB
}

// runMeasured runs bin with args and env, its stdout into stdout, and
// returns its peak RSS, its largest anonymous RSS and the largest heap its
// GC trace reported (MB).
func runMeasured(b *testing.B, bin string, env map[string]string, stdout io.Writer, args ...string) (rssMB, anonMB, heapMB float64) {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GODEBUG=gctrace=1" + os.Getenv("PATROL_BENCH_GODEBUG")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &errOut
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	// The child's rusage maxrss would include the RSS of this process (the
	// emulator's P PATs): Linux carries the high-water mark of the address
	// space the child had before exec. VmHWM in /proc/PID/status is the
	// child's own; it only grows, so the last read is (within 5 ms) the peak.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var hwmKB, anonKB float64 // anonKB: the largest RssAnon seen (heap, stacks; not the binary's pages)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		if v, ok := procStatus(status, "VmHWM:"); ok {
			hwmKB = max(hwmKB, v)
		}
		if v, ok := procStatus(status, "RssAnon:"); ok {
			anonKB = max(anonKB, v)
		}
		select {
		case err = <-done:
			break wait
		case <-tick.C:
		}
	}
	if err != nil {
		b.Fatalf("%v: %v\n%.2000s", args, err, errOut.String())
	}
	if hwmKB == 0 {
		b.Skip("no /proc/PID/status VmHWM on this platform")
	}
	if os.Getenv("PATROL_BENCH_GODEBUG") != "" {
		b.Logf("%s", errOut.String())
	}
	for _, m := range gcLine.FindAllStringSubmatch(errOut.String(), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		heapMB = max(heapMB, v)
	}
	return hwmKB / 1024, anonKB / 1024, heapMB
}

// procStatus reads a KiB field (VmHWM:, RssAnon:) from a /proc status file.
func procStatus(path, field string) (float64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// countingWriter counts the PATs of an indented JSON array without
// keeping it.
type countingWriter struct {
	items int
	tail  []byte
}

var idKey = []byte(`"authorizationId": `)

func (w *countingWriter) Write(p []byte) (int, error) {
	// The last 64 bytes seen are longer than the key, and the key cannot
	// overlap itself: a key split across writes is counted once.
	buf := append(append([]byte{}, w.tail...), p...)
	w.items += bytes.Count(buf, idKey) - bytes.Count(w.tail, idKey)
	w.tail = buf[max(0, len(buf)-64):]
	return len(p), nil
}

// pat list over three pages prints one document in every format: the JSON
// array parses, -o name and the table have a line per PAT, a jsonpath over
// [*] separates values across pages, --top stops early.
func TestPATListAcrossPages(t *testing.T) {
	seed := emulator.DefaultSeed()
	validTo := time.Now().Add(90 * 24 * time.Hour)
	for i := range 250 {
		seed.PATs = append(seed.PATs, emulator.SeedPAT{Owner: emulator.DefaultUser, Org: emulator.DefaultOrg,
			DisplayName: fmt.Sprintf("paged-%03d", i), Scope: "vso.code", ValidTo: validTo})
	}
	_, env := emuEnvOpts(t, emulator.Options{Seed: &seed})
	run := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t, env, append([]string{"pat", "list", "--name-prefix", "paged-"}, args...)...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		return stdout
	}
	var items []PATView
	if err := json.Unmarshal([]byte(run("-o", "json")), &items); err != nil || len(items) != 250 {
		t.Fatalf("-o json: %d items, %v", len(items), err)
	}
	if n := strings.Count(run("-o", "name"), "\n"); n != 250 {
		t.Errorf("-o name: %d lines", n)
	}
	if l := strings.Split(strings.TrimSuffix(run(), "\n"), "\n"); len(l) != 251 || !strings.HasPrefix(l[0], "AUTHORIZATION ID") {
		t.Errorf("table: %d lines, first %q", len(l), l[0])
	}
	if ids := strings.Split(run("-o", "jsonpath={[*].authorizationId}"), " "); len(ids) != 250 || len(ids[100]) != 36 {
		t.Errorf("jsonpath: %d values, the 101st %q", len(ids), ids[min(100, len(ids)-1)])
	}
	if err := json.Unmarshal([]byte(run("-o", "json", "--top", "150")), &items); err != nil || len(items) != 150 {
		t.Errorf("--top 150: %d items, %v", len(items), err)
	}
}
