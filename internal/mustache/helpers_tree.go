package mustache

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

func registerTree(s *HelperSet) {
	s.Register("addField", helperAddField)
	s.Register("recursiveSelect", helperRecursiveSelect)
	s.Register("copyFieldFromParent", helperCopyFieldFromParent)
	s.Register("selectTokens", helperSelectTokens)
	s.Register("sortBy", helperSortBy)
	s.Register("selectMaxOfLong", helperSelectMaxOfLong)
	s.Register("splitAndIterate", helperSplitAndIterate)
	s.Register("splitAndPrefix", func(c *Call) (any, error) {
		if len(c.toks) < 3 {
			return nil, fmt.Errorf("needs a value, a separator and a prefix: {{#splitAndPrefix definition '/' '/job/'}}")
		}
		v, _ := word(c, 0)
		str, sep, prefix := stringify(v), literal(c, 1), literal(c, 2)
		parts := []string{str}
		if sep != "" {
			parts = strings.Split(str, sep)
		}
		var b strings.Builder
		for _, p := range parts {
			if p == "" {
				continue
			}
			b.WriteString(prefix)
			b.WriteString(p)
		}
		return b.String(), nil
	})
	s.Register("joinPaths", func(c *Call) (any, error) {
		if len(c.toks) < 1 {
			return nil, fmt.Errorf("needs path parts: {{joinPaths base 'sub dir' name}}")
		}
		var parts []string
		for i := range c.toks {
			v, _ := word(c, i)
			if p := stringify(v); p != "" {
				parts = append(parts, p)
			}
		}
		out := ""
		for i, p := range parts {
			if i == 0 {
				out = p
				continue
			}
			out = strings.TrimRight(out, "/") + "/" + strings.TrimLeft(p, "/")
		}
		return out, nil
	})
	s.Register("removePrefixFromPath", func(c *Call) (any, error) {
		if len(c.toks) < 2 {
			return nil, fmt.Errorf("needs a prefix and a path: {{removePrefixFromPath 'prefix' path}}")
		}
		pv, _ := word(c, 0)
		v, _ := word(c, 1)
		prefix, p := stringify(pv), stringify(v)
		if prefix != "" && strings.HasPrefix(p, prefix) {
			p = strings.TrimLeft(p[len(prefix):], "/")
		}
		return p, nil
	})
	s.Register("extractUrlQueryParameter", func(c *Call) (any, error) {
		u, names, err := urlAndNames(c)
		if err != nil {
			return nil, err
		}
		q := u.Query()
		for _, n := range names {
			for k, vs := range q {
				if strings.EqualFold(k, n) && len(vs) > 0 {
					return vs[0], nil
				}
			}
		}
		return "", nil
	})
	s.Register("extractUrlQueryParamKeyValue", func(c *Call) (any, error) {
		u, names, err := urlAndNames(c)
		if err != nil {
			return nil, err
		}
		q := u.Query()
		var out []string
		for _, n := range names {
			for k, vs := range q {
				if strings.EqualFold(k, n) && len(vs) > 0 {
					out = append(out, k+"="+vs[0])
				}
			}
		}
		return strings.Join(out, "&"), nil
	})
	s.Register("toCommaSeparatedKeyValueList", func(c *Call) (any, error) {
		if len(c.Args) < 1 {
			return nil, fmt.Errorf(`needs an object: {{toCommaSeparatedKeyValueList extra [leadingComma]}}`)
		}
		v := c.Arg(0)
		if s, ok := v.(string); ok {
			var m map[string]any
			if err := jsonUnmarshalString(s, &m); err != nil {
				return nil, fmt.Errorf("argument is neither an object nor a JSON object string")
			}
			v = m
		}
		keys, get, ok := object(v)
		if !ok {
			return "", nil
		}
		var parts []string
		for _, k := range keys {
			kb, _ := marshalJSON(k)
			vb, _ := marshalJSON(stringify(get(k)))
			parts = append(parts, string(kb)+":"+string(vb))
		}
		out := strings.Join(parts, ",")
		if out != "" && flag(c.Arg(1)) {
			out = "," + out
		}
		return out, nil
	})
	s.Register("extractNumbersAndSort", func(c *Call) (any, error) {
		if len(c.Args) < 1 {
			return nil, fmt.Errorf("needs a value: {{extractNumbersAndSort path}}")
		}
		var text []string
		if items, ok := list(c.Arg(0)); ok {
			for _, it := range items {
				text = append(text, stringify(it))
			}
		} else {
			text = []string{c.ArgString(0)}
		}
		var nums []int64
		for _, t := range text {
			for _, m := range reDigits().FindAllString(t, -1) {
				if n, err := strconv.ParseInt(m, 10, 64); err == nil {
					nums = append(nums, n)
				}
			}
		}
		sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
		if c.IsBlock {
			items := make([]any, len(nums))
			for i, n := range nums {
				items[i] = float64(n)
			}
			return iterate(c, items)
		}
		out := make([]string, len(nums))
		for i, n := range nums {
			out[i] = strconv.FormatInt(n, 10)
		}
		return strings.Join(out, ","), nil
	})
	s.Register("recursiveFormat", func(c *Call) (any, error) {
		if len(c.toks) < 3 {
			return nil, fmt.Errorf("needs a depth, a format and an argument: {{#recursiveFormat 15 'tree=jobs[name{0}]' ',jobs[name{0}]'}}")
		}
		n, err := intArg(c, 0)
		if err != nil {
			return nil, err
		}
		if n < 0 || n > 100 {
			return nil, fmt.Errorf("depth must be 0…100, got %d", n)
		}
		f, arg := literal(c, 1), literal(c, 2)
		out := f
		for range n {
			out = strings.Replace(out, "{0}", arg, 1)
			if len(out) > 1<<20 {
				return nil, fmt.Errorf("result exceeds 1 MiB")
			}
		}
		return strings.Replace(out, "{0}", "", 1), nil
	})
}

var reDigits = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\d+`) })

func jsonUnmarshalString(s string, v any) error {
	return jsonUnmarshal([]byte(s), v)
}

func urlAndNames(c *Call) (*url.URL, []string, error) {
	var raw any
	var names string
	switch len(c.toks) {
	case 0:
		return nil, nil, fmt.Errorf("needs parameter names: {{extractUrlQueryParameter [url] 'name1,name2'}}")
	case 1:
		raw = c.This
		if _, isObj := c.This.(map[string]any); isObj {
			raw, _ = c.Lookup("defaultResultKey")
		}
		names = literal(c, 0)
	default:
		raw, _ = word(c, 0)
		names = literal(c, 1)
	}
	u, err := url.Parse(stringify(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("the value is not a URL")
	}
	var ns []string
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			ns = append(ns, n)
		}
	}
	return u, ns, nil
}

// iterate renders the block body once per item (with @index/@first/@last)
// or, inline, returns the items as a JSON array.
func iterate(c *Call, items []any) (any, error) {
	if !c.IsBlock {
		return items, nil
	}
	if len(items) == 0 {
		return c.Inverse(c.This)
	}
	var b strings.Builder
	for i, it := range items {
		s, err := c.fnData(it, &dataVars{index: i, first: i == 0, last: i == len(items)-1})
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
		if b.Len() > c.options().MaxOutput {
			return nil, fmt.Errorf("output exceeds %d bytes", c.options().MaxOutput)
		}
	}
	return b.String(), nil
}

func getKey(m map[string]any, k string) (any, bool) {
	v, ok := child(m, seg{key: k})
	return v, ok
}

// helperAddField: {{#addField jobs 'parentPath' 'name' '/'}} walks the tree
// through the "jobs" arrays and sets on every child
// parentPath = parent.parentPath + '/' + parent.name (empty parts skipped),
// then renders the body with the annotated copy as context.
func helperAddField(c *Call) (any, error) {
	if len(c.toks) < 3 {
		return nil, fmt.Errorf("needs prop, field, parentProp [sep]: {{#addField jobs 'parentPath' 'name' '/'}}")
	}
	prop, field, parentProp := literal(c, 0), literal(c, 1), literal(c, 2)
	sep := "/"
	if len(c.toks) > 3 {
		sep = literal(c, 3)
	}
	root := deepConvert(c.This) // a copy: tree helpers never mutate caller data
	var walk func(parent map[string]any, depth int) error
	walk = func(parent map[string]any, depth int) error {
		if depth > 1000 {
			return fmt.Errorf("tree deeper than 1000 levels")
		}
		kids, _ := getKey(parent, prop)
		items, ok := kids.([]any)
		if !ok {
			return nil
		}
		pv, _ := getKey(parent, field)
		pn, _ := getKey(parent, parentProp)
		var parts []string
		if s := stringify(pv); s != "" {
			parts = append(parts, s)
		}
		if depth > 0 {
			if s := stringify(pn); s != "" {
				parts = append(parts, s)
			}
		}
		val := strings.Join(parts, sep)
		for _, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				continue
			}
			m[field] = val
			if err := walk(m, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if m, ok := root.(map[string]any); ok {
		if err := walk(m, 0); err != nil {
			return nil, err
		}
	} else if items, ok := root.([]any); ok {
		// an array context: its items are the top level
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				if err := walk(m, 1); err != nil {
					return nil, err
				}
			}
		}
	}
	if c.IsBlock {
		return c.Fn(root)
	}
	return root, nil
}

// helperRecursiveSelect: {{#recursiveSelect jobs}} renders the body for
// every object reachable through "jobs" arrays (depth first, pre-order).
func helperRecursiveSelect(c *Call) (any, error) {
	if len(c.toks) < 1 {
		return nil, fmt.Errorf("needs a property: {{#recursiveSelect jobs}}")
	}
	prop := literal(c, 0)
	var out []any
	var walk func(v any, depth int) error
	walk = func(v any, depth int) error {
		if depth > 1000 {
			return fmt.Errorf("tree deeper than 1000 levels")
		}
		kids := v
		if m, ok := v.(map[string]any); ok {
			kids, _ = getKey(m, prop)
		}
		items, _ := list(kids)
		for _, it := range items {
			out = append(out, it)
			if m, ok := it.(map[string]any); ok {
				if err := walk(m, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(c.This, 0); err != nil {
		return nil, err
	}
	return iterate(c, out)
}

// helperCopyFieldFromParent: {{#copyFieldFromParent builds artifacts id}}
// copies each parent's "id" into the items of its "artifacts" array (unless
// they have one), for parents in the "builds" array (or the context itself).
func helperCopyFieldFromParent(c *Call) (any, error) {
	if len(c.toks) < 3 {
		return nil, fmt.Errorf("needs parent, child and prop: {{#copyFieldFromParent parent child prop}}")
	}
	parentKey, childKey, prop := literal(c, 0), literal(c, 1), literal(c, 2)
	root := deepConvert(c.This) // a copy: tree helpers never mutate caller data
	var parents []any
	if m, ok := root.(map[string]any); ok {
		if pv, ok := getKey(m, parentKey); ok {
			parents, _ = list(pv)
		} else {
			parents = []any{m}
		}
	} else if a, ok := root.([]any); ok {
		parents = a
	}
	for _, p := range parents {
		pm, ok := p.(map[string]any)
		if !ok {
			continue
		}
		val, ok := getKey(pm, prop)
		if !ok {
			continue
		}
		kids, _ := getKey(pm, childKey)
		items, _ := kids.([]any)
		for _, k := range items {
			if km, ok := k.(map[string]any); ok {
				if _, has := getKey(km, prop); !has {
					km[prop] = val
				}
			}
		}
	}
	if c.IsBlock {
		return c.Fn(root)
	}
	return root, nil
}

// helperSelectTokens: {{#selectTokens '$.value[?(@.state==\'x\')]'}} renders the
// body per JSONPath match; inline it writes the matches as a JSON array.
func helperSelectTokens(c *Call) (any, error) {
	if len(c.toks) < 1 {
		return nil, fmt.Errorf("needs a JSONPath: {{#selectTokens '$.value[*]'}}")
	}
	expr := strings.TrimSpace(c.RawArgs)
	if len(c.toks) == 1 {
		expr = literal(c, 0)
	}
	res, err := SelectTokens(c.This, expr)
	if err != nil {
		return nil, err
	}
	return iterate(c, res)
}

func compareValues(a, b any) int {
	fa, oka := toNumber(a)
	fb, okb := toNumber(b)
	if oka && okb {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(stringify(a), stringify(b))
}

// helperSortBy: {{#sortBy [array] prop [desc]}}: the array argument (or the
// context when it is an array) sorted by prop, stable.
func helperSortBy(c *Call) (any, error) {
	if len(c.toks) < 1 {
		return nil, fmt.Errorf("needs a property: {{#sortBy [array] prop [desc]}}")
	}
	var items []any
	rest := 0
	if v, ok := word(c, 0); ok && !c.toks[0].quoted {
		if a, isList := list(v); isList {
			items, rest = a, 1
		}
	}
	if rest == 0 {
		a, ok := list(c.This)
		if !ok {
			return nil, fmt.Errorf("the context is not an array: pass the array first, {{#sortBy items %s}}", c.toks[0].text)
		}
		items = a
	}
	if rest >= len(c.toks) {
		return nil, fmt.Errorf("needs a property to sort by")
	}
	prop := literal(c, rest)
	desc := false
	if rest+1 < len(c.toks) {
		desc = flag(literal(c, rest+1))
	}
	sorted := append([]any(nil), items...)
	key := func(v any) any {
		if prop == "." || prop == "this" {
			return v
		}
		x, _ := child(v, seg{key: prop})
		return x
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		r := compareValues(key(sorted[i]), key(sorted[j]))
		if desc {
			return r > 0
		}
		return r < 0
	})
	return iterate(c, sorted)
}

// helperSelectMaxOfLong: {{#selectMaxOfLong builds id}} renders the body with
// the item whose "id" is the largest integer; inline writes that number.
func helperSelectMaxOfLong(c *Call) (any, error) {
	if len(c.toks) < 2 {
		return nil, fmt.Errorf("needs an array and a property: {{selectMaxOfLong builds id}}")
	}
	v, _ := word(c, 0)
	items, _ := list(v)
	prop := literal(c, 1)
	var best any
	var bestN int64
	found := false
	for _, it := range items {
		x, _ := child(it, seg{key: prop})
		f, ok := toNumber(x)
		if !ok {
			continue
		}
		if n := int64(f); !found || n > bestN {
			best, bestN, found = it, n, true
		}
	}
	if !c.IsBlock {
		if !found {
			return "", nil
		}
		return float64(bestN), nil
	}
	if !found {
		return c.Inverse(c.This)
	}
	return c.Fn(best)
}

// helperSplitAndIterate: {{#splitAndIterate ',' path}}…{{this}}…{{/splitAndIterate}}.
func helperSplitAndIterate(c *Call) (any, error) {
	if len(c.toks) < 2 {
		return nil, fmt.Errorf("needs a separator and a path: {{#splitAndIterate ',' path}}")
	}
	sep := literal(c, 0)
	v, _ := word(c, 1)
	s := stringify(v)
	var items []any
	if s != "" {
		parts := []string{s}
		if sep != "" {
			parts = strings.Split(s, sep)
		}
		for _, p := range parts {
			items = append(items, p)
		}
	}
	return iterate(c, items)
}
