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
	urlScheme = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.\-]*)://`) })
	gluedURL  = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(\{\{\{?\s*endpoint\.url\s*\}?\}\}|\$\(endpoint\.url\))[A-Za-z0-9]`)
	})
	hostLike    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+(:[0-9]+)?(/|$)`) })
	selectorOK  = []string{"jsonpath:", "xpath:"}
	selectorFix = "use jsonpath:<expr>, xpath:<expr>, plaintext or none"
)

func (l *typeLinter) dataSources(v any, path string, schemeInputs []input) {
	list := asList(v)
	allowed := append(append([]input{}, l.typeInputs...), schemeInputs...)
	names := map[string]bool{}
	hasTest := false
	for i, d := range list {
		dm, _ := d.(map[string]any)
		dp := fmt.Sprintf("%s[%d]", path, i)
		name := strings.TrimSpace(str(dm["name"]))
		switch {
		case name == "":
			l.add(Error, RuleDataSourceUnique, dp+".name", "the data source has no name; nothing can refer to it", "give it a name (TestConnection for the Verify button)")
		case names[strings.ToLower(name)]:
			l.add(Error, RuleDataSourceUnique, dp+".name", fmt.Sprintf("data source %q is declared twice; Azure DevOps uses the first", name), "rename or remove one of them")
		}
		names[strings.ToLower(name)] = true
		if strings.EqualFold(name, "TestConnection") {
			hasTest = true
		}
		l.dataSource(dm, dp, allowed)
	}
	if !hasTest {
		where := path
		if list == nil {
			where = strings.TrimSuffix(path, ".dataSources")
		}
		l.add(Warning, RuleTestConnection, where, "the type has no TestConnection data source, so the service connection's Verify button and tools such as terraform and patrol cannot check its credentials",
			`add {"name": "TestConnection", "endpointUrl": "<a cheap authenticated GET>"}`)
	}
}

// dataSource checks one data source (or an inline data-source binding).
func (l *typeLinter) dataSource(dm map[string]any, dp string, allowed []input) {
	u := str(dm["endpointUrl"])
	if l.template(u, dp+".endpointUrl") {
		l.url(u, dp+".endpointUrl")
		l.confidentialInURL(u, dp+".endpointUrl", allowed)
	}
	if r := str(dm["resourceUrl"]); r != "" && l.template(r, dp+".resourceUrl") {
		l.confidentialInURL(r, dp+".resourceUrl", allowed)
	}
	if v := str(dm["requestVerb"]); v != "" && !oneOf(v, verbs) {
		l.add(Warning, RuleURL, dp+".requestVerb", fmt.Sprintf("requestVerb %q is not an HTTP method Azure DevOps sends", v), "use GET or POST (PUT, PATCH, DELETE, HEAD also work)")
	}
	for _, f := range []string{"requestContent", "resultTemplate", "callbackContextTemplate", "callbackRequiredTemplate", "initialContextTemplate"} {
		l.template(str(dm[f]), dp+"."+f)
	}
	l.selector(str(dm["resultSelector"]), dp+".resultSelector")
	l.headers(dm["headers"], dp+".headers", allowed)
	if as, ok := dm["authenticationScheme"].(map[string]any); ok {
		if t := str(as["type"]); t != "" && !scheme.KnownToAzureDevOps(t) {
			if _, err := scheme.Lookup(t); err != nil {
				l.add(Error, RuleSchemeType, dp+".authenticationScheme.type", fmt.Sprintf("scheme type %q is not in Azure DevOps' closed set", t),
					"use one of: "+strings.Join(scheme.AzureDevOpsSchemeContributions, ", "))
			}
		}
		if in, ok := as["inputs"].(map[string]any); ok {
			for k, v := range in {
				l.template(str(v), dp+".authenticationScheme.inputs."+k)
			}
		}
	}
}

func (l *typeLinter) url(u, path string) {
	s := strings.TrimSpace(u)
	if s == "" {
		l.add(Error, RuleURL, path, "the data source has no endpointUrl", "set endpointUrl to a path relative to the endpoint URL (api/v1/items) or an absolute URL ({{{endpoint.url}}}/api/v1/items)")
		return
	}
	if gluedURL().MatchString(s) {
		l.add(Warning, RuleURL, path, "the path is glued to endpoint.url without a '/', which works only when users enter the URL with a trailing slash",
			"write {{{endpoint.url}}}/path (patrol and Azure DevOps keep the URL as entered) or a relative URL (path only), which Azure DevOps joins with one '/'")
	}
	if strings.HasPrefix(s, "{{") || strings.HasPrefix(s, "$(") {
		return // its value decides; the template itself was checked
	}
	if m := urlScheme().FindStringSubmatch(s); m != nil {
		switch strings.ToLower(m[1]) {
		case "https":
		case "http":
			l.add(Warning, RuleURL, path, "the URL is plain http://: the endpoint's credentials would travel unencrypted", "use https://")
		default:
			l.add(Error, RuleURL, path, fmt.Sprintf("scheme %s:// is not HTTP; data sources call HTTP(S) servers only", m[1]), "use an https:// URL or a path relative to the endpoint URL")
		}
		return
	}
	switch {
	case strings.HasPrefix(s, "//"):
		l.add(Error, RuleURL, path, "a protocol-relative URL (//host/…) is neither absolute nor relative to the endpoint", "write https://host/… or a path relative to the endpoint URL")
	case hostLike().MatchString(s):
		l.add(Warning, RuleURL, path, fmt.Sprintf("%q looks like a host name but has no scheme, so it is joined to the endpoint URL as a path", truncate(s)), "write https://"+truncate(s)+" if it is a host")
	}
}

func (l *typeLinter) confidentialInURL(u, path string, allowed []input) {
	for _, m := range endpointRef().FindAllStringSubmatch(u, -1) {
		for _, in := range allowed {
			if in.confidential && strings.EqualFold(in.id, m[1]) {
				l.add(Error, RuleConfidentialURL, path, fmt.Sprintf("the URL template writes the confidential input %q; Azure DevOps hides secrets from URLs (it renders empty or fails), and a secret in a URL ends up in server and proxy logs", in.id),
					"send the secret in a header (the scheme's headers) instead of the URL")
				break
			}
		}
	}
}

func (l *typeLinter) selector(sel, path string) {
	s := strings.TrimSpace(sel)
	if s == "" {
		return
	}
	if strings.Contains(s, "{{") && !l.template(s, path) {
		return
	}
	lower := strings.ToLower(s)
	switch {
	case lower == "none" || lower == "plaintext":
	case strings.HasPrefix(lower, selectorOK[0]):
		expr := s[len("jsonpath:"):]
		if strings.Contains(expr, "{{") || strings.Contains(expr, "$(") {
			return
		}
		if _, err := mustache.SelectTokens(map[string]any{}, expr); err != nil {
			l.add(Error, RuleResultSelector, path, fmt.Sprintf("the JSONPath does not parse: %v", err), "fix the expression (Newtonsoft dialect: $.value[?(@.name == 'x')].id)")
		}
	case strings.HasPrefix(lower, selectorOK[1]):
	default:
		l.add(Error, RuleResultSelector, path, fmt.Sprintf("resultSelector %q is not a kind Azure DevOps knows", truncate(s)), selectorFix)
	}
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
