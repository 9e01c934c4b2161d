package mustache

import (
	"strconv"
	"strings"
)

type nodeKind uint8

const (
	nText nodeKind = iota
	nVar
	nBlock
	nPartial
)

type node struct {
	kind     nodeKind
	off      int // byte offset of the tag in the source
	text     string
	expr     *expr
	raw      bool // nVar: write without HTML encoding
	inverted bool // nBlock: {{^x}}
	body     []node
	inverse  []node
	partial  string // nPartial: partial name
	pctx     *path  // nPartial: optional context path
}

// expr is a helper call or a path reference.
type expr struct {
	name   string     // helper name or path text as written
	helper HelperFunc // nil for a path
	path   *path      // nil for a helper
	// shadow is set for a helper named without arguments ({{date}}): when the
	// context has a value under that name, the value wins over the helper.
	shadow  *path
	rawArgs string
	toks    []argTok
	off     int
}

type argKind uint8

const (
	argPath argKind = iota
	argString
	argNumber
	argBool
	argNull
)

// argTok is one generically parsed helper argument.
type argTok struct {
	kind   argKind
	text   string // as written (quotes included)
	str    string // unquoted literal text
	num    float64
	b      bool
	path   *path // nil if the token is not a valid path
	quoted bool
}

type openBlock struct {
	n       node
	name    string // lower-cased name that must close it
	shown   string // name as written
	off     int
	inElse  bool
	chained bool   // opened by {{else name ...}}: closed together with its parent
	inline  string // {{#*inline "name"}}: partial name
}

type parser struct {
	src      string
	helpers  map[string]helperEntry
	maxDepth int
	partials map[string][]node
	root     []node
	stack    []*openBlock
}

func (p *parser) add(n node) {
	if len(p.stack) == 0 {
		p.root = append(p.root, n)
		return
	}
	top := p.stack[len(p.stack)-1]
	if top.inElse {
		top.n.inverse = append(top.n.inverse, n)
	} else {
		top.n.body = append(top.n.body, n)
	}
}

func (p *parser) addText(s string) {
	if s == "" {
		return
	}
	// merge with a preceding text node in the same list
	var list *[]node
	if len(p.stack) == 0 {
		list = &p.root
	} else if top := p.stack[len(p.stack)-1]; top.inElse {
		list = &top.n.inverse
	} else {
		list = &top.n.body
	}
	if l := len(*list); l > 0 && (*list)[l-1].kind == nText {
		(*list)[l-1].text += s
		return
	}
	*list = append(*list, node{kind: nText, text: s})
}

func (p *parser) parse() ([]node, error) {
	src := p.src
	i := 0
	textStart := 0
	for i < len(src) {
		c := src[i]
		if c == '\\' && (strings.HasPrefix(src[i+1:], "{{") || strings.HasPrefix(src[i+1:], "}}")) {
			p.addText(src[textStart:i])
			p.addText(src[i+1 : i+3])
			i += 3
			textStart = i
			continue
		}
		if c != '{' || !strings.HasPrefix(src[i:], "{{") {
			i++
			continue
		}
		p.addText(src[textStart:i])
		end, err := p.tag(i)
		if err != nil {
			return nil, err
		}
		i = end
		textStart = i
	}
	p.addText(src[textStart:])
	// Unclosed blocks are accepted (Azure DevOps: `Bearer {{#decodeBase64 endpoint.apiToken}}`).
	for len(p.stack) > 0 {
		p.pop()
	}
	return p.root, nil
}

func (p *parser) pop() *openBlock {
	top := p.stack[len(p.stack)-1]
	p.stack = p.stack[:len(p.stack)-1]
	if top.inline != "" {
		p.partials[top.inline] = top.n.body
		return top
	}
	p.add(top.n)
	return top
}

// tag parses the tag starting at src[i:] ("{{") and returns the offset after it.
func (p *parser) tag(i int) (int, error) {
	src := p.src
	if strings.HasPrefix(src[i:], "{{{") {
		j := strings.Index(src[i+3:], "}}}")
		if j < 0 {
			return 0, errAt(src, i, "unclosed {{{ tag: add the closing }}}")
		}
		content := src[i+3 : i+3+j]
		return i + 3 + j + 3, p.dispatch(content, true, i)
	}
	if strings.HasPrefix(src[i:], "{{!--") {
		j := strings.Index(src[i+5:], "--}}")
		if j < 0 {
			return 0, errAt(src, i, "unclosed comment {{!-- : add the closing --}}")
		}
		return i + 5 + j + 4, nil
	}
	j := strings.Index(src[i+2:], "}}")
	if j < 0 {
		return 0, errAt(src, i, "unclosed {{ tag: add the closing }}")
	}
	content := src[i+2 : i+2+j]
	return i + 2 + j + 2, p.dispatch(content, false, i)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// splitName splits "name args" at the first whitespace.
func splitName(s string) (name, args string) {
	for k := 0; k < len(s); k++ {
		if isSpace(s[k]) {
			return s[:k], strings.TrimSpace(s[k+1:])
		}
	}
	return s, ""
}

func (p *parser) lookupHelper(name string) (helperEntry, bool) {
	h, ok := p.helpers[strings.ToLower(name)]
	return h, ok
}

func (p *parser) dispatch(content string, raw bool, off int) error {
	src := p.src
	if strings.TrimSpace(content) == "" {
		return errAt(src, off, "empty tag {{}}: write a path or helper name between the braces, or \\{{ for literal braces")
	}
	switch content[0] {
	case '!':
		return nil
	case '#':
		rest := strings.TrimLeft(content[1:], " \t\r\n")
		if strings.HasPrefix(rest, "*inline") {
			arg := strings.TrimSpace(rest[len("*inline"):])
			name := unquote(arg)
			if name == "" {
				return errAt(src, off, `inline partial needs a name: {{#*inline "name"}}…{{/inline}}`)
			}
			return p.open(&openBlock{name: "inline", shown: "*inline", off: off, inline: name})
		}
		if strings.HasPrefix(rest, ">") || strings.HasPrefix(rest, "*") {
			return errAt(src, off, "partial blocks and decorators ({{#> …}}, {{#* …}}) are not supported; use {{#*inline}} and {{> name}}")
		}
		name, args := splitName(strings.TrimSpace(rest))
		e, err := p.blockExpr(name, args, off)
		if err != nil {
			return err
		}
		return p.open(&openBlock{n: node{kind: nBlock, off: off, expr: e}, name: strings.ToLower(name), shown: name, off: off})
	case '^':
		rest := strings.TrimSpace(content[1:])
		if rest == "" {
			return p.elseTag(off, "")
		}
		name, args := splitName(rest)
		e, err := p.blockExpr(name, args, off)
		if err != nil {
			return err
		}
		return p.open(&openBlock{n: node{kind: nBlock, off: off, expr: e, inverted: true}, name: strings.ToLower(name), shown: name, off: off})
	case '/':
		return p.closeTag(strings.TrimSpace(content[1:]), off)
	case '>':
		rest := strings.TrimSpace(content[1:])
		name, args := splitPartialName(rest)
		if name == "" {
			return errAt(src, off, "partial needs a name: {{> name}}")
		}
		n := node{kind: nPartial, off: off, partial: name}
		if args != "" {
			pp, err := parsePath(args)
			if err != nil {
				return errAt(src, off, "partial %q context: %v", name, err)
			}
			n.pctx = pp
		}
		p.add(n)
		return nil
	case '&':
		raw = true
		content = content[1:]
	}
	t := strings.TrimSpace(content)
	if t == "" {
		return errAt(src, off, "empty tag: write a path after {{&")
	}
	if t == "else" {
		return p.elseTag(off, "")
	}
	if strings.HasPrefix(t, "else ") || strings.HasPrefix(t, "else\t") {
		return p.elseTag(off, strings.TrimSpace(t[5:]))
	}
	name, args := splitName(t)
	if name[0] == '#' {
		// {{ #name args }}: inline call of the helper registered as "#name".
		h, ok := p.lookupHelper(name)
		if !ok {
			return errAt(src, off, "missing helper %q: no helper is registered under that name for the inline {{ %s … }} form (a '#' right after {{ would open a block instead)", name, name)
		}
		p.add(node{kind: nVar, off: off, raw: true, expr: p.call(h, name, args, off)})
		return nil
	}
	if h, ok := p.lookupHelper(name); ok {
		p.add(node{kind: nVar, off: off, raw: true, expr: p.call(h, name, args, off)})
		return nil
	}
	if args != "" {
		return errAt(src, off, "missing helper %q: %q is followed by arguments but no helper of that name is registered", name, name)
	}
	pp, err := parsePath(name)
	if err != nil {
		return errAt(src, off, "%v", err)
	}
	p.add(node{kind: nVar, off: off, raw: raw, expr: &expr{name: name, path: pp, off: off}})
	return nil
}

func splitPartialName(s string) (string, string) {
	if s == "" {
		return "", ""
	}
	if s[0] == '"' || s[0] == '\'' {
		if k := strings.IndexByte(s[1:], s[0]); k >= 0 {
			return s[1 : k+1], strings.TrimSpace(s[k+2:])
		}
	}
	return splitName(s)
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

func (p *parser) blockExpr(name, args string, off int) (*expr, error) {
	if name == "" {
		return nil, errAt(p.src, off, "block tag needs a name: {{#name}}…{{/name}}")
	}
	if h, ok := p.lookupHelper(name); ok {
		return p.call(h, name, args, off), nil
	}
	if args != "" {
		return nil, errAt(p.src, off, "missing helper %q: {{#%s …}} has arguments but no block helper of that name is registered", name, name)
	}
	pp, err := parsePath(name)
	if err != nil {
		return nil, errAt(p.src, off, "%v", err)
	}
	return &expr{name: name, path: pp, off: off}, nil
}

func (p *parser) call(h helperEntry, name, args string, off int) *expr {
	e := &expr{name: name, helper: h.fn, rawArgs: args, toks: tokenize(args), off: off}
	if args == "" && name[0] != '#' {
		if pp, err := parsePath(name); err == nil && len(pp.segs) == 1 {
			e.shadow = pp
		}
	}
	return e
}

func (p *parser) open(b *openBlock) error {
	if len(p.stack) >= p.maxDepth {
		return errAt(p.src, b.off, "blocks nested deeper than %d: flatten the template", p.maxDepth)
	}
	p.stack = append(p.stack, b)
	return nil
}

func (p *parser) elseTag(off int, chain string) error {
	if len(p.stack) == 0 {
		return errAt(p.src, off, "{{else}} outside a block: put it between {{#name}} and {{/name}}")
	}
	top := p.stack[len(p.stack)-1]
	if top.inElse {
		return errAt(p.src, off, "second {{else}} in {{#%s}} opened at line %s", top.shown, lineCol(p.src, top.off))
	}
	top.inElse = true
	if chain == "" {
		return nil
	}
	// {{else if cond}}: a block nested in the inverse, closed with the parent.
	name, args := splitName(chain)
	e, err := p.blockExpr(name, args, off)
	if err != nil {
		return err
	}
	return p.open(&openBlock{n: node{kind: nBlock, off: off, expr: e}, name: top.name, shown: top.shown, off: off, chained: true})
}

func lineCol(src string, off int) string {
	l, c := position(src, off)
	return strconv.Itoa(l) + ", col " + strconv.Itoa(c)
}

func (p *parser) closeTag(name string, off int) error {
	if len(p.stack) == 0 {
		return errAt(p.src, off, "{{/%s}} closes nothing: remove it or add the matching {{#%s}}", name, name)
	}
	for {
		top := p.stack[len(p.stack)-1]
		if !strings.EqualFold(top.name, name) && !(top.inline != "" && strings.EqualFold(name, "inline")) {
			return errAt(p.src, off, "{{/%s}} does not match {{#%s}} opened at line %s: close the inner block first", name, top.shown, lineCol(p.src, top.off))
		}
		p.pop()
		if !top.chained {
			return nil
		}
	}
}

// tokenize splits helper arguments generically: quoted literals ('…' or "…",
// backslash escapes only the quote and backslash), numbers, true/false/null
// (any case), {…} and […] groups (kept as literal text), otherwise paths.
// It never fails; helpers that need other rules read Call.RawArgs.
func tokenize(s string) []argTok {
	var out []argTok
	i := 0
	for i < len(s) {
		if isSpace(s[i]) {
			i++
			continue
		}
		start := i
		switch c := s[i]; c {
		case '\'', '"':
			var b strings.Builder
			i++
			for i < len(s) && s[i] != c {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == c || s[i+1] == '\\') {
					i++
				}
				b.WriteByte(s[i])
				i++
			}
			if i < len(s) {
				i++
			}
			out = append(out, argTok{kind: argString, text: s[start:i], str: b.String(), quoted: true})
			continue
		case '{', '[':
			i = matchGroup(s, i)
			for i < len(s) && !isSpace(s[i]) { // e.g. the regex [a-z]+
				i++
			}
			out = append(out, argTok{kind: argString, text: s[start:i], str: s[start:i]})
			continue
		}
		for i < len(s) && !isSpace(s[i]) {
			i++
		}
		out = append(out, classify(s[start:i]))
	}
	return out
}

// matchGroup returns the offset after the bracket group starting at s[i],
// honouring quotes; an unbalanced group runs to the end of s.
func matchGroup(s string, i int) int {
	depth := 0
	var q byte
	for ; i < len(s); i++ {
		c := s[i]
		if q != 0 {
			if c == '\\' {
				i++
			} else if c == q {
				q = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			q = c
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

func classify(w string) argTok {
	switch strings.ToLower(w) {
	case "true":
		return argTok{kind: argBool, text: w, str: w, b: true}
	case "false":
		return argTok{kind: argBool, text: w, str: w}
	case "null":
		return argTok{kind: argNull, text: w, str: w}
	}
	if looksNumeric(w) {
		if f, err := strconv.ParseFloat(w, 64); err == nil {
			return argTok{kind: argNumber, text: w, str: w, num: f}
		}
	}
	pp, err := parsePath(w)
	if err != nil {
		pp = nil
	}
	return argTok{kind: argPath, text: w, str: w, path: pp}
}

func looksNumeric(w string) bool {
	if w == "" {
		return false
	}
	k := 0
	if w[0] == '-' || w[0] == '+' {
		k = 1
	}
	return k < len(w) && (w[k] >= '0' && w[k] <= '9' || w[k] == '.' && k+1 < len(w) && w[k+1] >= '0' && w[k+1] <= '9')
}
