package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// OrganizationArg turns what a user gave as the organisation into its name.
// Like az's --org it accepts the organisation's URL,
// https://dev.azure.com/contoso or https://contoso.visualstudio.com (with or
// without a trailing slash, host case-insensitive), as well as the bare
// name, which it returns unchanged (the loader checks name rules). Any other
// URL (another host, a project path, plain http, a query) is an error whose
// text names source, e.g. "--org".
func OrganizationArg(source, s string) (string, error) {
	if !strings.Contains(s, "://") {
		return s, nil
	}
	bad := func(problem string) error {
		return &ConfigError{Source: source, Problem: fmt.Sprintf("%q is not an organisation URL: %s", s, problem),
			Fix: "give the organisation's URL, https://dev.azure.com/ORG or https://ORG.visualstudio.com, or its name alone (e.g. contoso)"}
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", bad("it does not parse")
	}
	switch {
	case !strings.EqualFold(u.Scheme, "https"):
		return "", bad("only https is accepted")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "":
		return "", bad("it has credentials, a port, a query or a fragment")
	}
	host := strings.ToLower(u.Hostname())
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	var name string
	switch {
	case host == "dev.azure.com":
		name = strings.TrimPrefix(path, "/")
		if name == "" || strings.Contains(name, "/") {
			return "", bad("the path must be the organisation alone (https://dev.azure.com/ORG), without a project")
		}
	case strings.HasSuffix(host, ".visualstudio.com") && !strings.Contains(strings.TrimSuffix(host, ".visualstudio.com"), "."):
		name = strings.TrimSuffix(host, ".visualstudio.com")
		if path != "" {
			return "", bad("the path must be empty (https://ORG.visualstudio.com), without a project")
		}
	default:
		return "", bad("the host is neither dev.azure.com nor ORG.visualstudio.com")
	}
	if !orgNameRE().MatchString(name) {
		return "", bad(fmt.Sprintf("%q is not an organisation name (letters, digits and hyphens, 1-50 characters)", name))
	}
	return name, nil
}

// normalizeOrganization turns an organisation URL in *s (patrol.yaml's
// organization: or credentials[].organization) into the name, as --org does,
// so the plan, status, metrics labels, the lock and the sink identities all
// see the name. A bad URL is a problem at path; *s is then cleared so the
// name check does not report it a second time.
func normalizeOrganization(path string, s *string, add func(path, msg string)) {
	if !strings.Contains(*s, "://") {
		return
	}
	name, err := OrganizationArg(path, *s)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			add(path, ce.Problem+"; "+ce.Fix)
		} else {
			add(path, err.Error())
		}
		*s = ""
		return
	}
	*s = name
}
