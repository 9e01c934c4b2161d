// Package endpointlint checks the service-endpoint-type contributions of an
// extension manifest for what tfx packages without validating and Azure
// DevOps rejects or silently ignores only after publishing: scheme types
// outside the closed set, malformed input descriptors, required inputs
// nobody can set, templates that reference missing inputs, do not parse or
// call unknown helpers, selectors Azure DevOps does not know, a missing
// TestConnection data source, unusable URLs and confidential inputs written
// into URLs. Every Finding names the contribution, the JSON path and the fix.
//
// The linter reads the manifest as written (JSON paths point into the file;
// a JavaScript manifest is evaluated first, see scheme.EvalManifestJS), and
// resolves scheme defaults from internal/scheme's closed set.
package endpointlint

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/patrol-dev/patrol/internal/scheme"
)

// Severity of a finding.
type Severity string

// Severities. An error is something Azure DevOps rejects, skips or gets
// wrong at run time; a warning is legal but probably unintended.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Finding is one problem.
type Finding struct {
	Severity     Severity `json:"severity"`
	Rule         string   `json:"rule"`
	Contribution string   `json:"contribution"`
	// Path is the JSON path into the manifest, e.g.
	// $.contributions[2].properties.dataSources[0].resultSelector.
	Path    string `json:"path"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

// Report is the result of linting one manifest.
type Report struct {
	Manifest string    `json:"manifest"`
	Types    int       `json:"endpointTypes"`
	Errors   int       `json:"errors"`
	Warnings int       `json:"warnings"`
	Findings []Finding `json:"findings"`
}

// Rules, in the order they are documented (docs/endpoints.md).
const (
	RuleSchemeType        = "scheme-type"
	RuleInput             = "input-descriptor"
	RuleRequiredUnset     = "required-input-unsettable"
	RuleHeaderInput       = "header-input"
	RuleTemplate          = "template"
	RuleResultSelector    = "result-selector"
	RuleTestConnection    = "test-connection"
	RuleURL               = "url"
	RuleConfidentialURL   = "confidential-in-url"
	RuleDataSourceUnique  = "data-source-name"
	RuleHTMLEncodedSecret = "html-encoded-secret"
)

// File lints a manifest file: .json, or a JavaScript manifest evaluated
// with jo.
func File(path string, jo scheme.JSOptions) (*Report, error) {
	data, err := scheme.ReadManifestFile(path, jo)
	if err != nil {
		return nil, err
	}
	return Lint(data, path)
}

// Lint checks a manifest's JSON. It fails only when the text is not a
// manifest at all (not JSON, no contributions array); everything else is a
// finding.
func Lint(data []byte, source string) (*Report, error) {
	clean, err := scheme.CleanJSON(data)
	if err != nil {
		return nil, &scheme.ManifestError{Source: source, Err: err}
	}
	var doc map[string]any
	if err := json.Unmarshal(clean, &doc); err != nil {
		return nil, &scheme.ManifestError{Source: source, Err: fmt.Errorf("not a JSON object: %v", err)}
	}
	contribs, ok := doc["contributions"].([]any)
	if !ok {
		return nil, &scheme.ManifestError{Source: source, Err: fmt.Errorf("no contributions array; this is not an extension manifest")}
	}
	r := &Report{Manifest: source, Findings: []Finding{}}
	for i, c := range contribs {
		cm, _ := c.(map[string]any)
		if !strings.EqualFold(str(cm["type"]), scheme.EndpointTypeContribution) {
			continue
		}
		r.Types++
		l := &typeLinter{r: r, id: str(cm["id"]), path: fmt.Sprintf("$.contributions[%d]", i)}
		if l.id == "" {
			l.id = fmt.Sprintf("contributions[%d]", i)
		}
		props, _ := cm["properties"].(map[string]any)
		if props == nil {
			l.add(Error, RuleInput, l.path+".properties", "the contribution has no properties object", "add properties {name, url, authenticationSchemes, …}")
			continue
		}
		l.lint(props)
	}
	sort.SliceStable(r.Findings, func(a, b int) bool { return r.Findings[a].Path < r.Findings[b].Path })
	for _, f := range r.Findings {
		if f.Severity == Error {
			r.Errors++
		} else {
			r.Warnings++
		}
	}
	return r, nil
}

type typeLinter struct {
	r    *Report
	id   string
	path string
	// type-level inputs: id → descriptor
	typeInputs []input
}

type input struct {
	id           string
	confidential bool
}

func (l *typeLinter) add(sev Severity, rule, path, msg, fix string) {
	l.r.Findings = append(l.r.Findings, Finding{Severity: sev, Rule: rule, Contribution: l.id, Path: path, Message: msg, Fix: fix})
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(strings.TrimSpace(x), "true")
	}
	return false
}

func (l *typeLinter) lint(p map[string]any) {
	pp := l.path + ".properties"
	if strings.TrimSpace(str(p["name"])) == "" {
		l.add(Error, RuleInput, pp+".name", "the endpoint type has no name", "set properties.name (the type name endpoints use in \"type\")")
	}
	l.typeInputs = l.inputs(p["inputDescriptors"], pp+".inputDescriptors")
	l.typeURL(p, pp)
	schemes, _ := p["authenticationSchemes"].([]any)
	if len(schemes) == 0 {
		l.add(Error, RuleSchemeType, pp+".authenticationSchemes", "the type declares no authentication scheme; Azure DevOps cannot create endpoints of it",
			"add at least one entry, e.g. {\"type\": \"ms.vss-endpoint.endpoint-auth-scheme-none\"}")
	}
	var schemeInputs []input
	for i, s := range schemes {
		sp := fmt.Sprintf("%s.authenticationSchemes[%d]", pp, i)
		sm, _ := s.(map[string]any)
		schemeInputs = append(schemeInputs, l.scheme(sm, sp)...)
	}
	l.dataSources(p["dataSources"], pp+".dataSources", schemeInputs)
}

func (l *typeLinter) typeURL(p map[string]any, pp string) {
	var v, path string
	switch u := p["url"].(type) {
	case string:
		v, path = u, pp+".url"
	case map[string]any:
		v, path = str(u["value"]), pp+".url.value"
	}
	if v == "" || strings.Contains(v, "{{") || strings.Contains(v, "$(") {
		return
	}
	if !strings.HasPrefix(strings.ToLower(v), "https://") && !strings.HasPrefix(strings.ToLower(v), "http://") {
		l.add(Error, RuleURL, path, fmt.Sprintf("the default endpoint URL %q is not an absolute http(s) URL", v), "write the full URL, e.g. https://"+strings.TrimLeft(v, "/"))
	}
}
