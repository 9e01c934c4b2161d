package mustache

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// HelperFunc implements a helper. Its result is written raw (never
// HTML-encoded): a string as-is, other values as described for stringify
// (numbers shortest, booleans true/false, nil as nothing, objects as JSON).
// A block helper renders its body with c.Fn / c.Inverse; a value helper
// called in block form ({{#name …}}) writes its value and ignores the body.
type HelperFunc func(c *Call) (any, error)

// Call is one helper invocation.
type Call struct {
	Ctx  context.Context
	Name string // as written in the template, e.g. "#base64", "equals"
	// RawArgs is the argument text exactly as written (after the name,
	// surrounding whitespace trimmed), for helpers that parse their own JSON
	// or tokens (#getTokenUsingBasicAuth { … } keeps nested "} }" intact).
	RawArgs string
	// Args is the generic parse of RawArgs: quoted literals (string),
	// numbers (float64), true/false (bool), null (nil), {…}/[…] groups
	// (their text), otherwise paths resolved against the context (nil when
	// absent).
	Args []any
	// This is the current context, Root the data given to Render.
	This, Root any
	// Lookup resolves a path (same syntax as in templates) against the
	// current context.
	Lookup func(path string) (any, bool)
	// IsBlock is true for {{#name …}}…{{/name}}.
	IsBlock bool
	// Fn renders the block body with ctx as context; Inverse renders the
	// {{else}} part. Both return "" for inline calls.
	Fn      func(ctx any) (string, error)
	Inverse func(ctx any) (string, error)

	toks        []argTok
	opts        *Options
	resolveTok  func(argTok) (any, bool)
	fnData      func(any, *dataVars) (string, error)
	inverseData func(any, *dataVars) (string, error)
}

// Arg returns Args[i] or nil.
func (c *Call) Arg(i int) any {
	if i < len(c.Args) {
		return c.Args[i]
	}
	return nil
}

// ArgString returns Args[i] written as a string ("" when absent).
func (c *Call) ArgString(i int) string { return stringify(c.Arg(i)) }

// Words splits RawArgs on whitespace, keeping '…'/"…" literals (quotes
// removed) and {…}/[…] groups together. Quoted reports which were quoted.
func (c *Call) Words() (words []string, quoted []bool) {
	for _, t := range c.toks {
		if t.quoted {
			words = append(words, t.str)
		} else {
			words = append(words, t.text)
		}
		quoted = append(quoted, t.quoted)
	}
	return words, quoted
}

func (c *Call) options() *Options {
	if c.opts == nil {
		o := Options{}.withDefaults()
		c.opts = &o
	}
	return c.opts
}

type helperEntry struct {
	name string
	fn   HelperFunc
}

// HelperSet is a table of helpers keyed by their Azure DevOps name
// (case-insensitive; "#name" and "name" are different entries). It is safe
// for concurrent use.
type HelperSet struct {
	mu sync.RWMutex
	m  map[string]helperEntry
}

// NewHelperSet returns an empty set (no built-ins, not even if/each).
func NewHelperSet() *HelperSet { return &HelperSet{m: map[string]helperEntry{}} }

// Register adds or replaces a helper. Use a leading '#' for helpers called
// inline as {{ #name args }} ("#getTokenUsingBasicAuth").
func (s *HelperSet) Register(name string, fn HelperFunc) {
	if name == "" || fn == nil {
		panic("mustache: Register needs a name and a function")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[strings.ToLower(name)] = helperEntry{name: name, fn: fn}
}

// Names lists the registered helper names, sorted.
func (s *HelperSet) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.m))
	for _, e := range s.m {
		out = append(out, e.name)
	}
	sort.Strings(out)
	return out
}

// Clone returns an independent copy.
func (s *HelperSet) Clone() *HelperSet {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := &HelperSet{m: make(map[string]helperEntry, len(s.m))}
	for k, v := range s.m {
		c.m[k] = v
	}
	return c
}

func (s *HelperSet) snapshot() map[string]helperEntry {
	if s == defaultSet() {
		return s.m // never mutated after it is built
	}
	return s.Clone().m
}

var (
	defaultOnce sync.Once
	defaultTab  *HelperSet
)

// defaultSet is the built-in table, built on first use (no work at init;
// a function, not a sync.OnceValue variable, because building it refers
// back to it).
func defaultSet() *HelperSet {
	defaultOnce.Do(func() { defaultTab = buildDefaults() })
	return defaultTab
}

// DefaultHelpers returns a fresh copy of the built-in table; safe to extend.
func DefaultHelpers() *HelperSet { return defaultSet().Clone() }

func buildDefaults() *HelperSet {
	s := NewHelperSet()
	// Handlebars built-ins.
	s.Register("if", helperIf)
	s.Register("unless", helperUnless)
	s.Register("each", helperEach)
	s.Register("with", helperWith)
	s.Register("lookup", helperLookup)
	registerCommon(s)
	registerEndpoint(s)
	registerTree(s)
	return s
}

// predicate wraps a boolean test: in block form it renders the body when
// true and the {{else}} part otherwise; inline it writes true/false.
func predicate(test func(c *Call) (bool, error)) HelperFunc {
	return func(c *Call) (any, error) {
		ok, err := test(c)
		if err != nil {
			return nil, err
		}
		if !c.IsBlock {
			return ok, nil
		}
		if ok {
			return c.Fn(c.This)
		}
		return c.Inverse(c.This)
	}
}

func helperIf(c *Call) (any, error) {
	if len(c.Args) == 0 {
		return nil, fmt.Errorf("needs a condition: {{#if path}}…{{/if}}")
	}
	ok := truthy(c.Args[0])
	if !c.IsBlock {
		if len(c.Args) >= 2 {
			if ok {
				return c.Args[1], nil
			}
			return c.Arg(2), nil
		}
		return ok, nil
	}
	if ok {
		return c.Fn(c.This)
	}
	return c.Inverse(c.This)
}

func helperUnless(c *Call) (any, error) {
	if len(c.Args) == 0 {
		return nil, fmt.Errorf("needs a condition: {{#unless path}}…{{/unless}}")
	}
	ok := !truthy(c.Args[0])
	if !c.IsBlock {
		return ok, nil
	}
	if ok {
		return c.Fn(c.This)
	}
	return c.Inverse(c.This)
}

func helperEach(c *Call) (any, error) {
	if !c.IsBlock {
		return nil, fmt.Errorf("is a block helper: write {{#each path}}…{{/each}}")
	}
	v := c.This
	if len(c.Args) > 0 {
		v = c.Args[0]
	}
	var b strings.Builder
	if items, ok := list(v); ok && len(items) > 0 {
		for i, it := range items {
			s, err := c.fnData(it, &dataVars{index: i, first: i == 0, last: i == len(items)-1})
			if err != nil {
				return nil, err
			}
			b.WriteString(s)
		}
		return b.String(), nil
	}
	if keys, get, ok := object(v); ok && len(keys) > 0 {
		for i, k := range keys {
			s, err := c.fnData(get(k), &dataVars{index: i, key: k, isKey: true, first: i == 0, last: i == len(keys)-1})
			if err != nil {
				return nil, err
			}
			b.WriteString(s)
		}
		return b.String(), nil
	}
	return c.Inverse(c.This)
}

func helperWith(c *Call) (any, error) {
	if !c.IsBlock {
		return nil, fmt.Errorf("is a block helper: write {{#with path}}…{{/with}}")
	}
	v := c.Arg(0)
	if truthy(v) {
		return c.Fn(v)
	}
	return c.Inverse(c.This)
}

func helperLookup(c *Call) (any, error) {
	if len(c.Args) < 2 {
		return nil, fmt.Errorf("needs an object and a key: {{lookup obj key}}")
	}
	key := c.Args[1]
	var s seg
	if f, ok := key.(float64); ok && f >= 0 && f == float64(int(f)) {
		s = seg{idx: int(f), isIdx: true}
		if _, isList := list(c.Args[0]); !isList {
			s = seg{key: stringify(key)}
		}
	} else {
		s = seg{key: stringify(key)}
	}
	v, _ := child(c.Args[0], s)
	if c.IsBlock {
		if truthy(v) {
			return c.Fn(v)
		}
		return c.Inverse(c.This)
	}
	return v, nil
}
