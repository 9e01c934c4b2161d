package mustache

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

type renderer struct {
	t     *Template
	ctx   context.Context
	root  any
	out   strings.Builder
	steps int
}

func (r *renderer) errAt(off int, err error, format string, args ...any) *Error {
	e := errAt(r.t.src, off, format, args...)
	e.Err = err
	return e
}

// stopped reports a render the context ended: the template's own time
// limit is the template's problem (errkind.Usage); the caller's deadline or
// cancellation keeps the context error.
func (r *renderer) stopped(off int, err error, what string) *Error {
	if errors.Is(context.Cause(r.ctx), errOwnTimeout) {
		return r.errAt(off, errOwnTimeout, "%s exceeded the template's time limit of %s; simplify the template (fewer iterations, simpler helpers) or raise Options.Timeout", what, r.t.opts.Timeout)
	}
	return r.errAt(off, err, "%s stopped (deadline or cancellation of the caller)", what)
}

func (r *renderer) check(off int) error {
	r.steps++
	if r.steps&63 == 0 {
		if err := r.ctx.Err(); err != nil {
			return r.stopped(off, err, "rendering")
		}
	}
	return nil
}

func (r *renderer) write(w *strings.Builder, s string, off int) error {
	if w.Len()+len(s) > r.t.opts.MaxOutput {
		return r.errAt(off, nil, "output exceeds %d bytes: the data is larger than a template output should be", r.t.opts.MaxOutput)
	}
	w.WriteString(s)
	return nil
}

func (r *renderer) nodes(w *strings.Builder, ns []node, fr *frame, depth int) error {
	for i := range ns {
		n := &ns[i]
		if err := r.check(n.off); err != nil {
			return err
		}
		switch n.kind {
		case nText:
			if err := r.write(w, n.text, n.off); err != nil {
				return err
			}
		case nVar:
			if err := r.variable(w, n, fr, depth); err != nil {
				return err
			}
		case nBlock:
			if err := r.block(w, n, fr, depth); err != nil {
				return err
			}
		case nPartial:
			if err := r.partial(w, n, fr, depth); err != nil {
				return err
			}
		}
	}
	return nil
}

// unshadow returns a path expression when a bare helper name ({{date}}) is
// also a key of the current context.
func (r *renderer) unshadow(e *expr, fr *frame) *expr {
	if e.shadow != nil {
		if _, ok := e.shadow.resolve(fr, r.root); ok {
			return &expr{name: e.name, path: e.shadow, off: e.off}
		}
	}
	return e
}

func (r *renderer) variable(w *strings.Builder, n *node, fr *frame, depth int) error {
	e := r.unshadow(n.expr, fr)
	if e.helper != nil {
		v, err := r.callHelper(e, n, fr, depth, false)
		if err != nil {
			return err
		}
		return r.write(w, stringify(v), n.off)
	}
	v, ok := e.path.resolve(fr, r.root)
	if !ok && r.t.opts.Strict {
		return r.errAt(n.off, nil, "path %q not found in the data (Strict mode): check the spelling or supply the value", e.name)
	}
	s := stringify(v)
	if !n.raw {
		s = htmlEncode(s)
	}
	return r.write(w, s, n.off)
}

func (r *renderer) sub(body []node, fr *frame, depth, off int) (string, error) {
	if depth+1 > r.t.opts.MaxDepth {
		return "", r.errAt(off, nil, "nesting deeper than %d levels at render time: check for recursive partials", r.t.opts.MaxDepth)
	}
	var b strings.Builder
	if err := r.nodes(&b, body, fr, depth+1); err != nil {
		return "", err
	}
	return b.String(), nil
}

func push(fr *frame, v any, d *dataVars) *frame {
	if d == nil && sameValue(v, fr.value) {
		return fr
	}
	return &frame{value: v, parent: fr, data: d}
}

func (r *renderer) block(w *strings.Builder, n *node, fr *frame, depth int) error {
	e := r.unshadow(n.expr, fr)
	if e.helper != nil {
		v, err := r.callHelper(e, n, fr, depth, true)
		if err != nil {
			return err
		}
		return r.write(w, stringify(v), n.off)
	}
	v, _ := e.path.resolve(fr, r.root)
	if n.inverted {
		body := n.body
		if truthy(v) {
			body = n.inverse
		}
		s, err := r.sub(body, fr, depth, n.off)
		if err != nil {
			return err
		}
		return r.write(w, s, n.off)
	}
	if !truthy(v) {
		s, err := r.sub(n.inverse, fr, depth, n.off)
		if err != nil {
			return err
		}
		return r.write(w, s, n.off)
	}
	if items, ok := list(v); ok {
		for i, it := range items {
			s, err := r.sub(n.body, &frame{value: it, parent: fr, data: &dataVars{index: i, first: i == 0, last: i == len(items)-1}}, depth, n.off)
			if err != nil {
				return err
			}
			if err := r.write(w, s, n.off); err != nil {
				return err
			}
		}
		return nil
	}
	next := fr
	if b, isBool := v.(bool); !isBool || !b {
		next = push(fr, v, nil)
	}
	s, err := r.sub(n.body, next, depth, n.off)
	if err != nil {
		return err
	}
	return r.write(w, s, n.off)
}

func (r *renderer) partial(w *strings.Builder, n *node, fr *frame, depth int) error {
	body, ok := r.t.partials[n.partial]
	if !ok {
		return r.errAt(n.off, nil, "partial %q is not defined: add {{#*inline %q}}…{{/inline}} to the template", n.partial, n.partial)
	}
	next := fr
	if n.pctx != nil {
		v, _ := n.pctx.resolve(fr, r.root)
		next = push(fr, v, nil)
	}
	s, err := r.sub(body, next, depth, n.off)
	if err != nil {
		return err
	}
	return r.write(w, s, n.off)
}

func (r *renderer) callHelper(e *expr, n *node, fr *frame, depth int, block bool) (any, error) {
	args := make([]any, len(e.toks))
	for i, t := range e.toks {
		args[i] = t.value(fr, r.root)
	}
	c := &Call{
		Ctx:     r.ctx,
		Name:    e.name,
		RawArgs: e.rawArgs,
		Args:    args,
		This:    fr.value,
		Root:    r.root,
		IsBlock: block,
		toks:    e.toks,
		opts:    &r.t.opts,
	}
	c.Lookup = func(p string) (any, bool) {
		pp, err := parsePath(p)
		if err != nil {
			return nil, false
		}
		return pp.resolve(fr, r.root)
	}
	c.resolveTok = func(t argTok) (any, bool) {
		if t.kind != argPath || t.path == nil {
			return t.value(fr, r.root), t.kind != argPath
		}
		return t.path.resolve(fr, r.root)
	}
	body, inverse := n.body, n.inverse
	if n.inverted {
		body, inverse = inverse, body
	}
	c.fnData = func(v any, d *dataVars) (string, error) {
		return r.sub(body, push(fr, v, d), depth, n.off)
	}
	c.inverseData = func(v any, d *dataVars) (string, error) {
		return r.sub(inverse, push(fr, v, d), depth, n.off)
	}
	c.Fn = func(v any) (string, error) { return c.fnData(v, nil) }
	c.Inverse = func(v any) (string, error) { return c.inverseData(v, nil) }
	v, err := e.helper(c)
	if err != nil {
		var me *Error
		if errors.As(err, &me) {
			return nil, err
		}
		if cerr := r.ctx.Err(); cerr != nil {
			return nil, r.stopped(n.off, cerr, fmt.Sprintf("helper %q", e.name))
		}
		return nil, r.errAt(n.off, err, "helper %q: %v", e.name, err)
	}
	return v, nil
}

func (t argTok) value(fr *frame, root any) any {
	switch t.kind {
	case argString:
		return t.str
	case argNumber:
		return t.num
	case argBool:
		return t.b
	case argNull:
		return nil
	}
	if t.path == nil {
		return nil
	}
	v, _ := t.path.resolve(fr, root)
	return v
}

// htmlEncode encodes & " < > ' and U+00A0–U+00FF as entities, like .NET's
// WebUtility.HtmlEncode used by Azure DevOps.
func htmlEncode(s string) string {
	need := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '&' || c == '"' || c == '<' || c == '>' || c == '\'' || c == 0xC2 || c == 0xC3 {
			need = true
			break
		}
	}
	if !need {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\'':
			b.WriteString("&#39;")
		case r >= 0xA0 && r <= 0xFF:
			fmt.Fprintf(&b, "&#%d;", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
