package endpointlint

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/patrol-dev/patrol/internal/mustache"
	"github.com/patrol-dev/patrol/internal/scheme"
)

var (
	dataTypes  = []string{"none", "string", "number", "boolean", "guid", "uri"}
	inputModes = []string{"none", "textbox", "passwordbox", "combo", "radiobuttons", "checkbox", "textarea"}
	verbs      = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}
	// endpointRef finds endpoint.<key> in templates, $(endpoint.<key>) macros
	// and the quoted 'endpoint.<key>' arguments of #getTokenUsingBasicAuth.
	endpointRef = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`endpoint\.([A-Za-z_][A-Za-z0-9_\-]*)`) })
	// serverFilled are parameters Azure DevOps fills itself after an OAuth flow.
	serverFilled = []string{"AccessToken", "RefreshToken", "IdToken", "ExpiresAt", "ExpiresIn", "IssuedAt"}
)

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// inputs checks an inputDescriptors array and returns its ids.
func (l *typeLinter) inputs(v any, path string) []input {
	list, _ := v.([]any)
	var out []input
	seen := map[string]string{}
	for i, d := range list {
		dp := fmt.Sprintf("%s[%d]", path, i)
		dm, _ := d.(map[string]any)
		id := strings.TrimSpace(str(dm["id"]))
		if id == "" {
			l.add(Error, RuleInput, dp+".id", "the input has no id; Azure DevOps cannot store its value", "give it an id (the key endpoints use in data or authorization.parameters)")
			continue
		}
		if prev, ok := seen[strings.ToLower(id)]; ok {
			if prev == id {
				l.add(Error, RuleInput, dp+".id", fmt.Sprintf("input id %q is declared twice", id), "remove or rename one of them")
			} else {
				l.add(Warning, RuleInput, dp+".id", fmt.Sprintf("input ids %q and %q differ only in case; endpoint values are case-insensitive, so both read the same value", prev, id), "use one spelling")
			}
		}
		seen[strings.ToLower(id)] = id
		out = append(out, input{id: id, confidential: truthy(dm["isConfidential"])})
		if m := str(dm["inputMode"]); m != "" && !oneOf(m, inputModes) {
			l.add(Warning, RuleInput, dp+".inputMode", fmt.Sprintf("inputMode %q is not one Azure DevOps knows", m), "use one of: "+strings.Join(inputModes, ", "))
		}
		val, _ := dm["validation"].(map[string]any)
		if dt := str(val["dataType"]); dt != "" && !oneOf(dt, dataTypes) {
			l.add(Error, RuleInput, dp+".validation.dataType", fmt.Sprintf("dataType %q is not one Azure DevOps knows", dt), "use one of: "+strings.Join(dataTypes, ", "))
		}
		if truthy(dm["required"]) && val == nil {
			l.add(Warning, RuleInput, dp+".required", "\"required\" is not an input-descriptor field; Azure DevOps ignores it", "write validation: {isRequired: true}")
		}
		if truthy(val["isRequired"]) {
			l.requiredSettable(dm, dp, id)
		}
	}
	return out
}

// requiredSettable: a required input the user cannot set blocks every endpoint.
func (l *typeLinter) requiredSettable(dm map[string]any, dp, id string) {
	values, _ := dm["values"].(map[string]any)
	def := values["defaultValue"]
	hasDefault := def != nil && fmt.Sprint(def) != ""
	fix := "drop isRequired, give it a defaultValue, or make it editable"
	switch {
	case strings.EqualFold(str(dm["inputMode"]), "none") && !hasDefault:
		l.add(Error, RuleRequiredUnset, dp, fmt.Sprintf("input %q is required but has inputMode none, so the UI shows no field for it", id), fix)
	case (truthy(values["isReadOnly"]) || truthy(values["isDisabled"])) && !hasDefault:
		l.add(Error, RuleRequiredUnset, dp, fmt.Sprintf("input %q is required but read-only/disabled without a defaultValue", id), fix)
	case truthy(values["isLimitedToPossibleValues"]) && len(asList(values["possibleValues"])) == 0 && !truthy(dm["hasDynamicValueInformation"]):
		l.add(Error, RuleRequiredUnset, dp, fmt.Sprintf("input %q is required and limited to possibleValues, but lists none", id), "add possibleValues or drop isLimitedToPossibleValues")
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

// scheme checks one authenticationSchemes entry and returns the scheme's
// inputs (defaults merged with the entry's).
func (l *typeLinter) scheme(sm map[string]any, sp string) []input {
	ref := str(sm["type"])
	if ref == "" {
		ref = str(sm["scheme"])
	}
	if ref == "" {
		l.add(Error, RuleSchemeType, sp+".type", "the scheme entry has no type", "set type to a scheme contribution id, e.g. ms.vss-endpoint.endpoint-auth-scheme-basic")
		return nil
	}
	var own []input
	if props, ok := sm["properties"].(map[string]any); ok { // contribution-shaped entry (terraform OCI)
		own = append(own, l.inputs(props["inputDescriptors"], sp+".properties.inputDescriptors")...)
		l.headers(props["headers"], sp+".properties.headers", nil)
	}
	own = append(own, l.inputs(sm["inputDescriptors"], sp+".inputDescriptors")...)
	base, err := scheme.Lookup(ref)
	if err != nil {
		if scheme.KnownToAzureDevOps(ref) {
			return own // valid in Azure DevOps; patrol just has no defaults for it
		}
		l.add(Error, RuleSchemeType, sp+".type", fmt.Sprintf("scheme type %q is not in Azure DevOps' closed set of scheme contributions; Azure DevOps skips this entry", ref),
			"use one of: "+strings.Join(scheme.AzureDevOpsSchemeContributions, ", "))
		return own
	}
	if !strings.HasPrefix(strings.ToLower(ref), strings.ToLower(scheme.ContributionPrefix)) {
		l.add(Warning, RuleSchemeType, sp+".type", fmt.Sprintf("scheme type %q is not a contribution id; Azure DevOps expects the full id", ref), "write "+base.ID)
	}
	all := own
	for _, d := range base.InputDescriptors {
		all = append(all, input{id: d.ID, confidential: bool(d.IsConfidential)})
	}
	allowed := append(append([]input{}, all...), l.typeInputs...)
	if oneOf(base.Name, []string{scheme.OAuth2, scheme.OAuth}) {
		for _, s := range serverFilled {
			allowed = append(allowed, input{id: s})
		}
	}
	l.headers(sm["headers"], sp+".headers", allowed)
	l.template(str(sm["authorizationUrl"]), sp+".authorizationUrl")
	for i, c := range asList(sm["clientCertificates"]) {
		cm, _ := c.(map[string]any)
		l.template(str(cm["value"]), fmt.Sprintf("%s.clientCertificates[%d].value", sp, i))
	}
	for i, b := range asList(sm["dataSourceBindings"]) {
		bm, _ := b.(map[string]any)
		bp := fmt.Sprintf("%s.dataSourceBindings[%d]", sp, i)
		if str(bm["endpointUrl"]) != "" {
			l.dataSource(bm, bp, allowed)
		} else {
			l.template(str(bm["resultTemplate"]), bp+".resultTemplate")
		}
	}
	return all
}

// headers checks header templates; allowed nil skips the input check.
func (l *typeLinter) headers(v any, path string, allowed []input) {
	for i, h := range asList(v) {
		hm, _ := h.(map[string]any)
		hp := fmt.Sprintf("%s[%d]", path, i)
		if strings.TrimSpace(str(hm["name"])) == "" {
			l.add(Error, RuleHeaderInput, hp+".name", "the header has no name", "set name, e.g. Authorization")
		}
		val := str(hm["value"])
		if !l.template(val, hp+".value") || allowed == nil {
			continue
		}
		for _, m := range endpointRef().FindAllStringSubmatch(val, -1) {
			key := m[1]
			if strings.EqualFold(key, "url") {
				l.add(Error, RuleHeaderInput, hp+".value", "header templates cannot see endpoint.url (Azure DevOps leaves it out of the header context), so this renders empty or fails",
					"use request.Host / request.AbsolutePath, or an input")
				continue
			}
			if in, ok := findInput(allowed, key); ok && in.confidential && htmlEncoded(val, key) {
				l.add(Warning, RuleHTMLEncodedSecret, hp+".value", fmt.Sprintf("the header writes the confidential input %q with {{…}}, which HTML-encodes it: a secret containing & < > \" ' is sent mangled", in.id),
					fmt.Sprintf("write {{{endpoint.%s}}} (triple-stash writes it raw)", key))
			}
			if !hasInput(allowed, key) {
				l.add(Error, RuleHeaderInput, hp+".value", fmt.Sprintf("the header uses endpoint.%s, but neither the scheme nor the type declares an input %q; Azure DevOps fails the request (strict rendering)", key, key),
					fmt.Sprintf("add an input with id %q to the scheme's or the type's inputDescriptors, or fix the name", key))
			}
		}
	}
}

func hasInput(list []input, id string) bool {
	_, ok := findInput(list, id)
	return ok
}

func findInput(list []input, id string) (input, bool) {
	for _, in := range list {
		if strings.EqualFold(in.id, id) {
			return in, true
		}
	}
	return input{}, false
}

// htmlEncoded: the template writes endpoint.key with a double-stash tag.
func htmlEncoded(tpl, key string) bool {
	re := regexp.MustCompile(`(^|[^{])\{\{\s*endpoint\.` + regexp.QuoteMeta(key) + `\s*\}\}`)
	return re.MatchString(tpl)
}

func lintHelpers() *mustache.HelperSet {
	hs := scheme.Helpers().Clone()
	// Helpers Azure DevOps registers that patrol does not run locally.
	for _, n := range []string{"getFileContent", "#getFileContent", "#GetAzureStorageAccessKey", "#GetKubeConfig", "generatePfxCerticate", "#generatePfxCerticate"} {
		hs.Register(n, func(*mustache.Call) (any, error) { return "", nil })
	}
	return hs
}

var helpers = sync.OnceValue(lintHelpers)

// template reports a template that does not parse (unknown helpers
// included) and returns whether it parsed.
func (l *typeLinter) template(src, path string) bool {
	if !strings.Contains(src, "{{") {
		return true
	}
	if _, err := mustache.ParseWith(src, mustache.Options{Helpers: helpers()}); err != nil {
		msg := err.Error()
		fix := "fix the template syntax at the position shown (docs/mustache.md)"
		if strings.Contains(msg, "missing helper") {
			fix = "use a helper Azure DevOps registers (docs/mustache.md lists them; note `{{ #name }}` with a space calls the inline `#name` helper)"
		}
		l.add(Error, RuleTemplate, path, msg, fix)
		return false
	}
	return true
}
