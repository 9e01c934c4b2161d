package main

import (
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/output"
)

// progress is a one-line status of long work on stderr, redrawn in place,
// shown only when stderr is a terminal (never in logs, pipes or CI). It is
// safe for concurrent use: rotate's workers and the devops client's wait
// observer (throttling) update it from several goroutines.
type progress struct {
	a  *app
	w  io.Writer
	on bool

	mu       sync.Mutex
	line     string    // the work's status ("3 of 40 credentials done…")
	waitNote string    // "throttled by Azure DevOps, retrying in 12 s"
	waitTill time.Time // when waitNote no longer applies
	shown    bool
}

// progress starts the progress line of a command; while it is active (until
// clear) the devops clients' waits on throttling show on it (see onWait).
func (a *app) progress() *progress {
	p := &progress{a: a, w: a.stderr, on: output.IsTerminal(a.stderr)}
	if p.on {
		a.prog.Store(p)
	}
	return p
}

// show replaces the progress line.
func (p *progress) show(format string, args ...any) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line = fmt.Sprintf(format, args...)
	p.drawLocked()
}

func (p *progress) drawLocked() {
	s := p.line
	if p.waitNote != "" && time.Now().Before(p.waitTill) {
		if s != "" {
			s += " — "
		}
		s += p.waitNote
	}
	if s == "" {
		return
	}
	fmt.Fprint(p.w, "\r\x1b[K"+s)
	p.shown = true
}

func (p *progress) clearLocked() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// clear removes the progress line (before other output, and when done).
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
}

// done clears the line and ends the progress: waits are no longer shown.
func (p *progress) done() {
	p.clear()
	if p.a != nil {
		p.a.prog.CompareAndSwap(p, nil)
	}
}

// minWaitShown is the shortest wait worth a line: the pacer's usual
// spacing is milliseconds, a Retry-After seconds.
const minWaitShown = 500 * time.Millisecond

// wait shows that the devops client waits before its next request: a 429
// with Retry-After ("throttled by Azure DevOps, retrying in 12 s"), the
// pacer slowing down on the X-RateLimit-* budget, a backoff after a 5xx.
func (p *progress) wait(w devops.Wait) {
	if !p.on || w.Duration < minWaitShown {
		return
	}
	secs := int(math.Ceil(w.Duration.Seconds()))
	var note string
	switch w.Reason {
	case devops.WaitThrottled:
		note = fmt.Sprintf("throttled by Azure DevOps, retrying in %d s", secs)
	case devops.WaitPaced:
		note = fmt.Sprintf("near Azure DevOps' rate limit, slowing down (next request in %d s)", secs)
	default:
		what := "a network error"
		if w.Status != 0 {
			what = fmt.Sprintf("HTTP %d", w.Status)
		}
		note = fmt.Sprintf("Azure DevOps answered %s, retrying in %d s", what, secs)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	till := time.Now().Add(w.Duration)
	if p.waitNote != "" && time.Now().Before(p.waitTill) && till.Before(p.waitTill) {
		return // a longer wait is already shown
	}
	p.waitNote, p.waitTill = note, till
	p.drawLocked()
}

// onWait is every devops client's Options.OnWait: it goes to the active
// progress line, if any (none off a terminal).
func (a *app) onWait(w devops.Wait) {
	if p := a.prog.Load(); p != nil {
		p.wait(w)
	}
}

// progressWriter is stderr for log lines written while a progress line may
// be shown: each write first clears the line, then redraws it below.
type progressWriter struct{ a *app }

func (pw progressWriter) Write(b []byte) (int, error) {
	p := pw.a.prog.Load()
	if p == nil {
		return pw.a.stderr.Write(b)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	shown := p.shown
	p.clearLocked()
	n, err := pw.a.stderr.Write(b)
	if shown {
		p.drawLocked()
	}
	return n, err
}

// IsTerminal is stderr's, so loggers keep their terminal behaviour.
func (pw progressWriter) IsTerminal() bool { return output.IsTerminal(pw.a.stderr) }
