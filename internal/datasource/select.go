package datasource

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/patrol-dev/patrol/internal/mustache"
)

// Select applies a resultSelector to a response body and returns the parsed
// document (JSON; nil otherwise) and the selected tokens.
//   - "jsonpath:<expr>": Newtonsoft-dialect JSONPath (via internal/mustache);
//   - "xpath:<expr>": the subset /a/b, //a/b, optional /text(), element
//     names only (no predicates, attributes or functions) — text content of
//     every match;
//   - "plaintext": the body as one string;
//   - "none" or "": the whole JSON document (or the body when not JSON).
func Select(body []byte, selector string) (any, []any, error) {
	sel := strings.TrimSpace(selector)
	lower := strings.ToLower(sel)
	var doc any
	jsonErr := json.Unmarshal(body, &doc)
	switch {
	case strings.HasPrefix(lower, "jsonpath:"):
		if jsonErr != nil {
			return nil, nil, fmt.Errorf("response is not JSON (%v); jsonpath selector cannot apply", jsonErr)
		}
		items, err := mustache.SelectTokens(doc, sel[len("jsonpath:"):])
		return doc, items, err
	case strings.HasPrefix(lower, "xpath:"):
		items, err := selectXPath(body, sel[len("xpath:"):])
		return nil, items, err
	case lower == "plaintext":
		return doc, []any{string(body)}, nil
	case lower == "none" || lower == "":
		if jsonErr != nil {
			return nil, []any{string(body)}, nil
		}
		return doc, []any{doc}, nil
	}
	return nil, nil, checkSelector(sel)
}

// checkSelector accepts the selector kinds Azure DevOps knows.
func checkSelector(sel string) error {
	lower := strings.ToLower(strings.TrimSpace(sel))
	switch {
	case strings.HasPrefix(lower, "jsonpath:"), strings.HasPrefix(lower, "xpath:"), lower == "plaintext", lower == "none", lower == "":
		return nil
	}
	return fmt.Errorf("%q is not a selector Azure DevOps knows; use jsonpath:<expr>, xpath:<expr>, plaintext or none", sel)
}

var xpathStep = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-]*(:[A-Za-z_][A-Za-z0-9_.\-]*)?$`)
})

func selectXPath(body []byte, expr string) ([]any, error) {
	e := strings.TrimSpace(expr)
	e = strings.TrimSuffix(e, "/text()")
	anywhere := strings.HasPrefix(e, "//")
	if !anywhere && !strings.HasPrefix(e, "/") {
		return nil, fmt.Errorf("xpath %q unsupported: patrol supports /a/b and //a/b paths of element names only", expr)
	}
	steps := strings.Split(strings.TrimLeft(e, "/"), "/")
	for _, s := range steps {
		if !xpathStep().MatchString(s) {
			return nil, fmt.Errorf("xpath %q unsupported: step %q (patrol supports element names only — no predicates, attributes, axes or functions)", expr, s)
		}
	}
	for i, s := range steps {
		if j := strings.IndexByte(s, ':'); j >= 0 {
			steps[i] = s[j+1:]
		}
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	var stack []string
	var texts []*strings.Builder
	var out []any
	match := func() bool {
		if anywhere {
			if len(stack) < len(steps) {
				return false
			}
			tail := stack[len(stack)-len(steps):]
			for i := range steps {
				if tail[i] != steps[i] {
					return false
				}
			}
			return true
		}
		if len(stack) != len(steps) {
			return false
		}
		for i := range steps {
			if stack[i] != steps[i] {
				return false
			}
		}
		return true
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("response is not XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			if match() {
				texts = append(texts, &strings.Builder{})
			} else {
				texts = append(texts, nil)
			}
		case xml.CharData:
			for _, b := range texts {
				if b != nil {
					b.Write(t)
				}
			}
		case xml.EndElement:
			if n := len(texts); n > 0 {
				if b := texts[n-1]; b != nil {
					out = append(out, strings.TrimSpace(b.String()))
				}
				texts = texts[:n-1]
			}
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	return out, nil
}
