package mustache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxDepth     = 20
	DefaultTimeout      = 10 * time.Second
	DefaultRegexTimeout = time.Second
	DefaultMaxOutput    = 4 << 20 // 4 MiB of rendered text per Render call
	// MaxTemplateSize is the largest template source Parse accepts.
	MaxTemplateSize = 1 << 20
	// MaxRegexInput is the largest subject string a #regex call accepts.
	MaxRegexInput = 1 << 20
)

// Options tune parsing and rendering. The zero value means "Azure DevOps defaults".
type Options struct {
	// Helpers is the helper table resolved at parse time. nil = DefaultHelpers().
	// The table is read during ParseWith only; later Register calls do not affect
	// templates already parsed.
	Helpers *HelperSet
	// MaxDepth bounds block nesting at parse time and helper/partial recursion at
	// render time. Default 20 (Azure DevOps' limit).
	MaxDepth int
	// Timeout bounds one Render/RenderContext call. Default 10s.
	Timeout time.Duration
	// RegexTimeout bounds one #regex evaluation. Default 1s.
	RegexTimeout time.Duration
	// Strict makes a plain {{path}} that resolves to nothing a render error
	// instead of an empty string (Handlebars' and Azure DevOps' behaviour).
	Strict bool
	// MaxOutput caps the rendered size in bytes. Default 4 MiB.
	MaxOutput int
	// Now is the clock for newGuid-free time helpers (date, toDateTimeFormat 'now').
	// Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Helpers == nil {
		o.Helpers = defaultSet()
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RegexTimeout <= 0 {
		o.RegexTimeout = DefaultRegexTimeout
	}
	if o.MaxOutput <= 0 {
		o.MaxOutput = DefaultMaxOutput
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Template is a compiled template. It is immutable and safe for concurrent use.
type Template struct {
	src      string
	root     []node
	partials map[string][]node // inline partials, hoisted to template scope
	opts     Options
}

// Parse compiles src with the default helper set and limits.
func Parse(src string) (*Template, error) { return ParseWith(src, Options{}) }

// ParseWith compiles src with the given options.
func ParseWith(src string, opts Options) (*Template, error) {
	opts = opts.withDefaults()
	if len(src) > MaxTemplateSize {
		return nil, &Error{Line: 1, Col: 1, Template: truncate(src),
			Msg: fmt.Sprintf("template is %d bytes, more than the %d-byte limit; split it or shorten it", len(src), MaxTemplateSize)}
	}
	p := &parser{src: src, helpers: opts.Helpers.snapshot(), maxDepth: opts.MaxDepth, partials: map[string][]node{}}
	root, err := p.parse()
	if err != nil {
		return nil, err
	}
	return &Template{src: src, root: root, partials: p.partials, opts: opts}, nil
}

// Source returns the template text as given to Parse.
func (t *Template) Source() string { return t.src }

// Render renders t against data with the template's timeout.
func (t *Template) Render(data any) (string, error) {
	return t.RenderContext(context.Background(), data)
}

// RenderContext renders t against data; ctx cancellation and the template's
// Timeout both stop rendering with an *Error wrapping the context error.
func (t *Template) RenderContext(ctx context.Context, data any) (string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeoutCause(ctx, t.opts.Timeout, errOwnTimeout)
	defer cancel()
	r := &renderer{t: t, ctx: ctx, root: data}
	r.out.Grow(len(t.src))
	fr := &frame{value: data}
	if err := r.nodes(&r.out, t.root, fr, 0); err != nil {
		return "", err
	}
	return r.out.String(), nil
}

// errOwnTimeout is the cause of a render that outran Options.Timeout.
var errOwnTimeout = errkind.New(errkind.Usage, errors.New("template time limit exceeded"))

// Error is a parse or render error. It never contains rendered values (which
// may be secrets), only template text, paths and helper names.
type Error struct {
	Line, Col int
	Msg       string
	// Template is the template source, truncated to 120 bytes.
	Template string
	// Err is the underlying cause (context errors, helper errors), if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mustache: line %d, col %d: %s", e.Line, e.Col, e.Msg)
	if e.Err != nil && !strings.Contains(e.Msg, e.Err.Error()) {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Template != "" {
		fmt.Fprintf(&b, " (template %q)", e.Template)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Kind is errkind.Usage (the template or its data is wrong, or it outran its
// own time limit) unless the cause says otherwise; the caller's deadline or
// cancellation is errkind.Transient.
func (e *Error) Kind() errkind.Kind {
	if e.Err != nil {
		if errors.Is(e.Err, context.DeadlineExceeded) || errors.Is(e.Err, context.Canceled) {
			return errkind.Transient
		}
		var k errkind.Kinder
		if errors.As(e.Err, &k) {
			return k.Kind()
		}
	}
	return errkind.Usage
}

func truncate(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// position converts a byte offset into 1-based line and column (in runes).
func position(src string, off int) (line, col int) {
	if off > len(src) {
		off = len(src)
	}
	line, col = 1, 1
	for _, r := range src[:off] {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

func errAt(src string, off int, format string, args ...any) *Error {
	l, c := position(src, off)
	return &Error{Line: l, Col: c, Msg: fmt.Sprintf(format, args...), Template: truncate(src)}
}
