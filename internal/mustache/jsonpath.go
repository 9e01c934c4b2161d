package mustache

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/ohler55/ojg/jp"
)

var jpCache sync.Map // normalized expression -> jp.Expr

var (
	reDotBracket = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`([^.])\.\[`) })
	reAtName     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`@([A-Za-z_])`) })
)

// NormalizeJSONPath rewrites Newtonsoft.Json SelectTokens quirks that Azure
// DevOps manifests rely on into standard JSONPath: "$.[*]" → "$[*]",
// "@name" → "@.name". A leading "jsonpath:" is removed.
func NormalizeJSONPath(expr string) string {
	e := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(expr), "jsonpath:"))
	e = reDotBracket().ReplaceAllString(e, "$1[")
	e = reAtName().ReplaceAllString(e, "@.$1")
	if e == "" || (e[0] != '$' && e[0] != '@') {
		e = "$." + e
	}
	return e
}

// SelectTokens evaluates a JSONPath expression (Newtonsoft dialect, see
// NormalizeJSONPath) against JSON-like data and returns the matches in
// document order. Expressions longer than 4096 bytes are refused.
func SelectTokens(data any, expr string) ([]any, error) {
	if len(expr) > 4096 {
		return nil, fmt.Errorf("JSONPath expression longer than 4096 bytes")
	}
	n := NormalizeJSONPath(expr)
	var x jp.Expr
	if v, ok := jpCache.Load(n); ok {
		x = v.(jp.Expr)
	} else {
		var err error
		x, err = parseJP(n)
		if err != nil {
			return nil, fmt.Errorf("JSONPath %q: %v", expr, err)
		}
		if cacheSlots.Add(1) <= maxCached {
			jpCache.Store(n, x)
		}
	}
	return x.Get(normalizeData(data)), nil
}

func parseJP(s string) (x jp.Expr, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid expression (%v)", r)
		}
	}()
	return jp.ParseString(s)
}

// normalizeData converts the accepted input shapes into the ones ojg
// understands (json.Number → int64/float64, string maps → map[string]any).
func normalizeData(v any) any {
	if !needsNormalize(v) {
		return v
	}
	return deepConvert(v)
}

// deepConvert returns a deep copy of v in the JSON-like shapes the engine
// works on (map[string]any, []any, int64/float64 for json.Number). Callers
// may mutate the copy freely: tree helpers annotate it, JSONPath reads it.
func deepConvert(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepConvert(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepConvert(e)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = e
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepConvert(e)
		}
		return out
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

func needsNormalize(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			if needsNormalize(e) {
				return true
			}
		}
		return false
	case []any:
		for _, e := range x {
			if needsNormalize(e) {
				return true
			}
		}
		return false
	case map[string]string, []string, []map[string]any, json.Number:
		return true
	}
	return false
}
