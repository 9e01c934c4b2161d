package main

import (
	"fmt"
	"io"

	"github.com/patrol-dev/patrol/internal/output"
)

// progress is a one-line status of long work on stderr, redrawn in place,
// shown only when stderr is a terminal (never in logs, pipes or CI).
type progress struct {
	w     io.Writer
	on    bool
	shown bool
}

func (a *app) progress() *progress {
	return &progress{w: a.stderr, on: output.IsTerminal(a.stderr)}
}

// show replaces the progress line.
func (p *progress) show(format string, args ...any) {
	if !p.on {
		return
	}
	fmt.Fprintf(p.w, "\r\x1b[K"+format, args...)
	p.shown = true
}

// clear removes the progress line (before other output, and when done).
func (p *progress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}
