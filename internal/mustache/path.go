package mustache

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// path is a parsed reference: a.b[0].c, this, ., ./x, this.x, ../x, @root.x, @index …
type path struct {
	text     string
	up       int
	root     bool
	data     string // index, key, first, last
	anchored bool
	segs     []seg
}

type seg struct {
	key   string
	idx   int
	isIdx bool
}

func parsePath(s string) (*path, error) {
	orig := s
	s = strings.TrimSpace(s)
	p := &path{text: orig}
	if s == "" {
		return nil, fmt.Errorf("empty path")
	}
	if strings.HasPrefix(s, "@") {
		switch {
		case s == "@root":
			p.root = true
			return p, nil
		case strings.HasPrefix(s, "@root.") || strings.HasPrefix(s, "@root/"):
			p.root = true
			s = s[6:]
		default:
			name := s[1:]
			switch name {
			case "index", "key", "first", "last":
				p.data = name
				return p, nil
			}
			return nil, fmt.Errorf("unknown data variable %q: use @index, @key, @first, @last or @root", s)
		}
	}
	for strings.HasPrefix(s, "../") {
		p.up++
		s = s[3:]
	}
	if s == ".." {
		p.up++
		s = ""
	}
	if s == "" && p.up > 0 {
		p.anchored = true
		return p, nil
	}
	switch {
	case s == "." || s == "this":
		p.anchored = true
		return p, nil
	case strings.HasPrefix(s, "./"):
		p.anchored = true
		s = s[2:]
	case strings.HasPrefix(s, "this.") || strings.HasPrefix(s, "this/"):
		p.anchored = true
		s = s[5:]
	}
	for i := 0; i < len(s); {
		if s[i] == '[' {
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("path %q: '[' without ']'", orig)
			}
			inner := strings.TrimSpace(s[i+1 : i+j])
			i += j + 1
			if n, err := strconv.Atoi(inner); err == nil && n >= 0 {
				p.segs = append(p.segs, seg{idx: n, isIdx: true})
			} else if inner != "" {
				p.segs = append(p.segs, seg{key: unquote(inner)})
			} else {
				return nil, fmt.Errorf("path %q: empty []", orig)
			}
			if i < len(s) && s[i] == '.' {
				i++
				if i == len(s) {
					return nil, fmt.Errorf("path %q ends with '.'", orig)
				}
			}
			continue
		}
		j := i
		for j < len(s) && s[j] != '.' && s[j] != '[' {
			if isSpace(s[j]) {
				return nil, fmt.Errorf("path %q contains a space: helper arguments need a registered helper name first", orig)
			}
			j++
		}
		if j == i {
			return nil, fmt.Errorf("path %q has an empty segment", orig)
		}
		p.segs = append(p.segs, seg{key: s[i:j]})
		i = j
		if i < len(s) && s[i] == '.' {
			i++
			if i == len(s) {
				return nil, fmt.Errorf("path %q ends with '.'", orig)
			}
		}
	}
	return p, nil
}

// frame is one level of the context stack.
type frame struct {
	value  any
	parent *frame
	data   *dataVars
}

type dataVars struct {
	index       int
	key         string
	first, last bool
	isKey       bool
}

func (p *path) resolve(fr *frame, root any) (any, bool) {
	if p.data != "" {
		for f := fr; f != nil; f = f.parent {
			if f.data == nil {
				continue
			}
			switch p.data {
			case "index":
				return float64(f.data.index), true
			case "key":
				if f.data.isKey {
					return f.data.key, true
				}
				return float64(f.data.index), true
			case "first":
				return f.data.first, true
			case "last":
				return f.data.last, true
			}
		}
		return nil, false
	}
	var v any
	if p.root {
		v = root
	} else {
		f := fr
		for k := 0; k < p.up && f.parent != nil; k++ {
			f = f.parent
		}
		v = f.value
	}
	for _, s := range p.segs {
		var ok bool
		v, ok = child(v, s)
		if !ok {
			return nil, false
		}
	}
	return v, true
}

// child selects a key or index of a JSON-like value. Map keys match exactly
// first, then case-insensitively (Azure DevOps endpoint keys are
// case-insensitive).
func child(v any, s seg) (any, bool) {
	switch m := v.(type) {
	case nil:
		return nil, false
	case map[string]any:
		if s.isIdx {
			x, ok := m[strconv.Itoa(s.idx)]
			return x, ok
		}
		if x, ok := m[s.key]; ok {
			return x, true
		}
		return foldLookup(m, s.key)
	case map[string]string:
		key := s.key
		if s.isIdx {
			key = strconv.Itoa(s.idx)
		}
		if x, ok := m[key]; ok {
			return x, true
		}
		return foldLookup(m, key)
	case []any:
		if s.isIdx {
			if s.idx < len(m) {
				return m[s.idx], true
			}
			return nil, false
		}
		if s.key == "length" {
			return float64(len(m)), true
		}
		return nil, false
	case []string:
		if s.isIdx {
			if s.idx < len(m) {
				return m[s.idx], true
			}
			return nil, false
		}
		if s.key == "length" {
			return float64(len(m)), true
		}
		return nil, false
	case string, float64, bool, json.Number:
		return nil, false
	}
	return reflectChild(v, s)
}

// foldLookup finds key case-insensitively; when several keys match, the
// smallest (byte order) wins so the result is deterministic.
func foldLookup[V any](m map[string]V, key string) (any, bool) {
	best, found := "", false
	for k := range m {
		if strings.EqualFold(k, key) && (!found || k < best) {
			best, found = k, true
		}
	}
	if !found {
		return nil, false
	}
	return m[best], true
}

func reflectChild(v any, s seg) (any, bool) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil, false
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, false
		}
		key := s.key
		if s.isIdx {
			key = strconv.Itoa(s.idx)
		}
		x := rv.MapIndex(reflect.ValueOf(key).Convert(rv.Type().Key()))
		if x.IsValid() {
			return x.Interface(), true
		}
		it := rv.MapRange()
		for it.Next() {
			if strings.EqualFold(it.Key().String(), key) {
				return it.Value().Interface(), true
			}
		}
	case reflect.Slice, reflect.Array:
		if s.isIdx && s.idx < rv.Len() {
			return rv.Index(s.idx).Interface(), true
		}
		if !s.isIdx && s.key == "length" {
			return float64(rv.Len()), true
		}
	}
	return nil, false
}

// list returns v as a slice of elements if it is an array.
func list(v any) ([]any, bool) {
	switch a := v.(type) {
	case []any:
		return a, true
	case []string:
		out := make([]any, len(a))
		for i, s := range a {
			out[i] = s
		}
		return out, true
	case []map[string]any:
		out := make([]any, len(a))
		for i, s := range a {
			out[i] = s
		}
		return out, true
	case nil, string, map[string]any, map[string]string, float64, bool, json.Number:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() != reflect.Uint8 || rv.Kind() == reflect.Array {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out, true
	}
	return nil, false
}

// object returns v's keys (sorted) and a getter if v is an object.
func object(v any) ([]string, func(string) any, bool) {
	switch m := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return keys, func(k string) any { return m[k] }, true
	case map[string]string:
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return keys, func(k string) any { return m[k] }, true
	case nil, string, []any, float64, bool, json.Number:
		return nil, nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String {
		keys := make([]string, 0, rv.Len())
		for _, k := range rv.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		return keys, func(k string) any {
			return rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key())).Interface()
		}, true
	}
	return nil, nil, false
}

// truthy implements Azure DevOps' rule: non-null; non-empty string/array;
// number != 0; true; any object.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case float64:
		return x != 0
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case []any:
		return len(x) > 0
	case []string:
		return len(x) > 0
	case map[string]any, map[string]string:
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		return rv.Len() > 0
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int() != 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return rv.Uint() != 0
	case reflect.Float32, reflect.Float64:
		return rv.Float() != 0
	case reflect.Pointer, reflect.Interface:
		return !rv.IsNil()
	}
	return true
}

// stringify is how a value is written: strings as-is, numbers in shortest
// form (integers without a decimal point), booleans true/false, null as
// nothing, objects and arrays as compact JSON.
func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return formatFloat(x)
	case json.Number:
		return string(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float32:
		return formatFloat(float64(x))
	case fmt.Stringer:
		return x.String()
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10)
	}
	b, err := marshalJSON(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func formatFloat(f float64) string {
	if f == float64(int64(f)) && f < 1e21 && f > -1e21 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func marshalJSON(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

// sameValue reports whether a and b are the same context (so a helper calling
// Fn(This) does not add a ../ level, as in Handlebars).
func sameValue(a, b any) bool {
	ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
	if !ra.IsValid() || !rb.IsValid() {
		return !ra.IsValid() && !rb.IsValid()
	}
	if ra.Type() != rb.Type() {
		return false
	}
	switch ra.Kind() {
	case reflect.Map, reflect.Slice, reflect.Pointer:
		return ra.Pointer() == rb.Pointer() && (ra.Kind() != reflect.Slice || ra.Len() == rb.Len())
	}
	if ra.Type().Comparable() {
		return a == b
	}
	return false
}
