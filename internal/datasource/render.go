package datasource

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/mustache"
	"github.com/patrol-dev/patrol/internal/scheme"
)

var macroRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$\(([A-Za-z0-9_.\-]+)\)`) })

// endpointAll is data ∪ parameters (header contexts).
func endpointAll(ep *api.ServiceEndpoint) map[string]any {
	m := map[string]any{}
	for k, v := range ep.Data {
		m[k] = v
	}
	if ep.Authorization != nil {
		for k, v := range ep.Authorization.Parameters {
			if v != nil {
				m[k] = *v
			}
		}
	}
	return m
}

// baseContext is the URL/body context: no secrets.
func baseContext(req Request, t *scheme.EndpointType, opts Options) map[string]any {
	end := map[string]any{}
	for k, v := range req.Endpoint.Data {
		if d, ok := inputOf(t.InputDescriptors, k); ok && bool(d.IsConfidential) {
			continue
		}
		end[k] = v
	}
	u := req.Endpoint.URL
	if u == "" {
		u = req.Type.URL.Value
	}
	end["url"] = u
	m := map[string]any{
		"endpoint":                 end,
		"system":                   map[string]any{"teamProject": opts.Project, "utcNow": opts.Now().UTC().Format("2006-01-02T15:04:05.0000000Z")},
		"systemWhiteListedUrlList": []any{},
	}
	if opts.Configuration != nil {
		m["configuration"] = opts.Configuration
	}
	for k, v := range req.Parameters {
		m[k] = v
	}
	return m
}

func inputOf(ds []scheme.InputDescriptor, id string) (scheme.InputDescriptor, bool) {
	for _, d := range ds {
		if strings.EqualFold(d.ID, id) {
			return d, true
		}
	}
	return scheme.InputDescriptor{}, false
}

// expand applies $(name) macros, then Mustache (strict: a missing value is an error).
func expand(ctx context.Context, src string, req Request, c map[string]any) (string, error) {
	var merr error
	out := macroRe().ReplaceAllStringFunc(src, func(m string) string {
		name := m[2 : len(m)-1]
		if v, ok := lookupMacro(name, c); ok {
			return v
		}
		if merr == nil {
			merr = fmt.Errorf("macro $(%s) has no value; pass it as a parameter (--param %s=…)", name, name)
		}
		return m
	})
	if merr != nil {
		return "", merr
	}
	return renderString(ctx, out, c)
}

func lookupMacro(name string, c map[string]any) (string, bool) {
	if strings.HasPrefix(strings.ToLower(name), "endpoint.") {
		end, _ := c["endpoint"].(map[string]any)
		key := name[len("endpoint."):]
		for k, v := range end {
			if strings.EqualFold(k, key) {
				return fmt.Sprint(v), true
			}
		}
		return "", false
	}
	for k, v := range c {
		if strings.EqualFold(k, name) {
			if s, ok := v.(string); ok {
				return s, true
			}
		}
	}
	return "", false
}

func parse(src string) (*mustache.Template, error) {
	return mustache.ParseWith(src, mustache.Options{Helpers: scheme.Helpers(), Strict: true})
}

func renderString(ctx context.Context, src string, data any) (string, error) {
	if !strings.Contains(src, "{{") {
		return src, nil
	}
	t, err := parse(src)
	if err != nil {
		return "", err
	}
	return t.RenderContext(ctx, data)
}

// renderObject renders a template that must produce a JSON object; values
// become strings.
func renderObject(ctx context.Context, src string, data any) (map[string]any, error) {
	s, err := renderString(ctx, src, data)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("rendered text is not a JSON object: %v", err)
	}
	for k, v := range m {
		if _, ok := v.(string); !ok {
			b, _ := json.Marshal(v)
			m[k] = string(b)
		}
	}
	return m, nil
}

func renderItem(ctx context.Context, tpl string, item any, base map[string]any) (string, error) {
	if tpl == "" {
		if s, ok := item.(string); ok {
			return s, nil
		}
		b, err := json.Marshal(item)
		return string(b), err
	}
	c := copyMap(base)
	switch x := item.(type) {
	case map[string]any:
		for k, v := range x {
			c[k] = v
		}
	default:
		c[DefaultResultKey] = x
	}
	t, err := mustache.ParseWith(tpl, mustache.Options{Helpers: scheme.Helpers()})
	if err != nil {
		return "", err
	}
	return t.RenderContext(ctx, c)
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// renderSelector renders resultSelector like endpointUrl ($(name) macros,
// then Mustache with the data-source context; Azure DevOps renders it
// before selecting: jsonpath:$.items[?(@.id ==
// {{systemId}})]) and checks its kind before anything is sent.
func renderSelector(ctx context.Context, src string, req Request, c map[string]any) (string, error) {
	sel, err := expand(ctx, src, req, c)
	if err != nil {
		return "", err
	}
	sel = strings.TrimSpace(sel)
	if err := checkSelector(sel); err != nil {
		return "", err
	}
	return sel, nil
}
