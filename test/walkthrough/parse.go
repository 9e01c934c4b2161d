package walkthrough

import (
	"fmt"
	"regexp"
	"strings"
)

// Marker kinds of a fenced block.
const (
	Unmarked = ""
	Run      = "walkthrough"
	Output   = "walkthrough-output"
	Skip     = "walkthrough-skip"
)

// Block is one fenced block of a Markdown file.
type Block struct {
	File   string // as given to Parse
	Line   int    // 1-based line of the opening fence
	Lang   string // info string's first word ("sh", "" …)
	Body   string // the lines between the fences, fence indentation removed
	Marker string // Unmarked, Run, Output or Skip
	Arg    string // the marker's argument: walk-through name or skip reason
}

func (b Block) where() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

// Walkthrough is the script and expected output of one walk-through name.
type Walkthrough struct {
	Name   string
	Blocks []Block // Run blocks, in document order
	Output *Block  // the expected stdout, if the document states it
}

// Script is the walk-through's shell text, each block preceded by a comment
// naming where it comes from.
func (w *Walkthrough) Script() string {
	var b strings.Builder
	for _, bl := range w.Blocks {
		fmt.Fprintf(&b, "# --- %s\n%s\n", bl.where(), bl.Body)
	}
	return b.String()
}

var markerRE = regexp.MustCompile(`^<!--\s*(walkthrough(?:-output|-skip)?)\s*:\s*(.*?)\s*-->$`)

// Parse returns the fenced blocks of a Markdown document with the marker
// on the nearest non-blank line before each opening fence.
func Parse(file string, src []byte) ([]Block, error) {
	lines := strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n")
	var blocks []Block
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimLeft(lines[i], " \t")
		if !strings.HasPrefix(trimmed, "```") {
			continue
		}
		indent := lines[i][:len(lines[i])-len(trimmed)]
		b := Block{File: file, Line: i + 1}
		if f := strings.Fields(strings.TrimPrefix(trimmed, "```")); len(f) > 0 {
			b.Lang = f[0]
		}
		for j := i - 1; j >= 0; j-- {
			prev := strings.TrimSpace(lines[j])
			if prev == "" {
				continue
			}
			if m := markerRE.FindStringSubmatch(prev); m != nil {
				b.Marker, b.Arg = m[1], m[2]
			}
			break
		}
		var body []string
		closed := false
		for i++; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) == "```" {
				closed = true
				break
			}
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		if !closed {
			return blocks, fmt.Errorf("%s: the block opened here is never closed", b.where())
		}
		b.Body = strings.Join(body, "\n")
		blocks = append(blocks, b)
	}
	return blocks, nil
}

var shellLangs = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true, "zsh": true}

// looksLikeShell reports whether an untagged block is a command line: its
// first line that is not a comment starts with patrol, ./patrol or kubectl
// (optionally after VAR=value assignments).
func looksLikeShell(body string) bool {
	for _, l := range strings.Split(body, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		for _, w := range strings.Fields(l) {
			if strings.Contains(w, "=") && !strings.HasPrefix(w, "-") {
				continue // an environment assignment
			}
			return w == "patrol" || w == "./patrol" || w == "kubectl"
		}
		return false
	}
	return false
}

// Collect groups the blocks into walk-throughs and lists every problem: an
// unmarked shell block, a skip without a reason, output for a walk-through
// that has no blocks, a walk-through's output stated twice.
func Collect(blocks []Block) (walks []*Walkthrough, problems []string) {
	byName := map[string]*Walkthrough{}
	get := func(name string) *Walkthrough {
		w := byName[name]
		if w == nil {
			w = &Walkthrough{Name: name}
			byName[name] = w
			walks = append(walks, w)
		}
		return w
	}
	nameRE := regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	for _, b := range blocks {
		shell := shellLangs[b.Lang] || (b.Lang == "" && looksLikeShell(b.Body))
		switch b.Marker {
		case Unmarked:
			if shell {
				problems = append(problems, fmt.Sprintf("%s: shell block without a marker: put <!-- walkthrough: NAME --> (run it in CI) or <!-- walkthrough-skip: REASON --> (not runnable here, say why) on the line before it", b.where()))
			}
		case Skip:
			if b.Arg == "" {
				problems = append(problems, fmt.Sprintf("%s: <!-- walkthrough-skip: --> needs a reason (why this block cannot run against the emulator)", b.where()))
			}
		case Run, Output:
			if !nameRE.MatchString(b.Arg) {
				problems = append(problems, fmt.Sprintf("%s: walk-through name %q: use lower-case letters, digits and -", b.where(), b.Arg))
				continue
			}
			w := get(b.Arg)
			if b.Marker == Run {
				if !shellLangs[b.Lang] {
					problems = append(problems, fmt.Sprintf("%s: <!-- walkthrough: %s --> marks a block tagged %q: runnable blocks are ```sh", b.where(), b.Arg, b.Lang))
				}
				w.Blocks = append(w.Blocks, b)
			} else {
				if w.Output != nil {
					problems = append(problems, fmt.Sprintf("%s: walk-through %q already has its output at %s", b.where(), b.Arg, w.Output.where()))
				}
				bb := b
				w.Output = &bb
			}
		}
	}
	for _, w := range walks {
		if len(w.Blocks) == 0 {
			problems = append(problems, fmt.Sprintf("%s: output of walk-through %q, which has no <!-- walkthrough: %s --> block", w.Output.where(), w.Name, w.Name))
		}
	}
	return walks, problems
}

// MatchOutput compares stdout with the expected output (see the package
// documentation for "…"). The error names the first expected line that
// could not be matched.
func MatchOutput(want, got string) error {
	wl := splitLines(want)
	gl := splitLines(got)
	type key struct{ i, j int }
	memo := map[key]bool{}
	furthest := 0
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if r, ok := memo[key{i, j}]; ok {
			return r
		}
		if i > furthest {
			furthest = i
		}
		var r bool
		switch {
		case i == len(wl):
			r = j == len(gl)
		case wl[i] == "…":
			r = match(i+1, j) || (j < len(gl) && match(i, j+1))
		default:
			r = j < len(gl) && lineMatches(wl[i], gl[j]) && match(i+1, j+1)
		}
		memo[key{i, j}] = r
		return r
	}
	if match(0, 0) {
		return nil
	}
	if furthest >= len(wl) {
		return fmt.Errorf("the output has more lines than the document states (end the expected output with a line \"…\" if that is intended)")
	}
	return fmt.Errorf("expected output line %d %q: no matching line in that place", furthest+1, wl[furthest])
}

func splitLines(s string) []string {
	s = strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	if s == "" {
		return nil
	}
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		ls[i] = strings.TrimRight(l, " \t")
	}
	return ls
}

var spaceRE = regexp.MustCompile(`[ \t]+`)

// lineMatches matches one output line: "…" is any text, and a run of
// spaces matches any run of spaces (table columns move as values change).
func lineMatches(pattern, line string) bool {
	parts := strings.Split(pattern, "…")
	for i, p := range parts {
		words := spaceRE.Split(p, -1)
		for j, w := range words {
			words[j] = regexp.QuoteMeta(w)
		}
		parts[i] = strings.Join(words, `[ \t]+`)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(line)
}
