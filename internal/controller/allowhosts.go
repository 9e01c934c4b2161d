package controller

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/httpx"
)

// DefaultAllowedEndpointHosts are the hosts an identity's spec.endpoints
// may name when --allowed-endpoint-hosts is not given: Entra ID's
// authorities of the public cloud and the sovereign clouds Azure's SDKs know
// (azcore cloud.AzurePublic, AzureGovernment, AzureChina; MSAL's trusted
// authority list adds login.partner.microsoftonline.cn for China), and
// Azure DevOps Services (dev.azure.com, vssps.dev.azure.com and the other
// *.dev.azure.com service hosts, the ORG.visualstudio.com and
// *.vssps.visualstudio.com hosts). Azure DevOps Services has no sovereign
// hosts; an Azure DevOps Server, a proxy or the emulator must be allowed
// explicitly.
var DefaultAllowedEndpointHosts = []string{
	"login.microsoftonline.com",
	"login.microsoftonline.us",
	"login.chinacloudapi.cn",
	"login.partner.microsoftonline.cn",
	"dev.azure.com",
	"*.dev.azure.com",
	"*.visualstudio.com",
}

// AllowedHostsFlag names where the allow-list is configured (in messages).
const AllowedHostsFlag = "--allowed-endpoint-hosts (Helm value controller.allowedEndpointHosts)"

// HostAllowList is the set of hosts the controller sends sign-ins, PATs and
// tokens to: exact host names or IP addresses, and *.suffix wildcards (any
// host ending in .suffix, at any depth).
type HostAllowList struct {
	exact    map[string]bool
	suffixes []string // ".dev.azure.com"
	entries  []string
}

// DefaultAllowedSinkHosts are the hosts spec.sinks of kind keyVault and
// http may deliver to when --allowed-sink-hosts is not given: Azure Key
// Vault of the public and sovereign clouds (azsecrets' vault DNS suffixes).
// A third-party tool (http) must be allowed explicitly: whoever may create
// a PersonalAccessToken could otherwise make the controller send requests
// to any host its Pod reaches and read the answer's start in status.sinks.
var DefaultAllowedSinkHosts = []string{
	"*.vault.azure.net",
	"*.vault.usgovcloudapi.net",
	"*.vault.azure.cn",
}

// AllowedSinkHostsFlag names where the sinks' allow-list is configured.
const AllowedSinkHostsFlag = "--allowed-sink-hosts (Helm value controller.allowedSinkHosts)"

// ParseHostAllowList parses the entries of --allowed-endpoint-hosts (each
// may be a comma-separated list); nil or empty means the default list.
func ParseHostAllowList(entries []string) (*HostAllowList, error) {
	return parseHostList("--allowed-endpoint-hosts", entries, DefaultAllowedEndpointHosts)
}

// ParseSinkHostAllowList parses --allowed-sink-hosts; nil or empty means
// DefaultAllowedSinkHosts.
func ParseSinkHostAllowList(entries []string) (*HostAllowList, error) {
	return parseHostList("--allowed-sink-hosts", entries, DefaultAllowedSinkHosts)
}

func parseHostList(flag string, entries, defaults []string) (*HostAllowList, error) {
	var items []string
	for _, e := range entries {
		for _, s := range strings.Split(e, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
	}
	if len(items) == 0 {
		items = defaults
	}
	l := &HostAllowList{exact: map[string]bool{}}
	for _, s := range items {
		h := strings.TrimSuffix(strings.ToLower(s), ".")
		bad := func(problem string) error {
			return fmt.Errorf("%s: %q %s; give host names (login.microsoftonline.us), IP addresses or *.suffix wildcards (*.dev.azure.com), without scheme, port or path", flag, s, problem)
		}
		switch {
		case strings.HasPrefix(h, "["):
			return nil, bad("is bracketed; give the IPv6 address alone")
		case net.ParseIP(h) != nil:
			l.exact[h] = true
		case strings.ContainsAny(h, ":/@?#"):
			return nil, bad("has a scheme, port, path or user")
		case strings.HasPrefix(h, "*."):
			suf := h[1:]
			if strings.Contains(suf[1:], "*") || !strings.Contains(suf[1:], ".") || !validHost(suf[1:]) {
				return nil, bad("is not a wildcard of a domain of at least two labels")
			}
			l.suffixes = append(l.suffixes, suf)
		case strings.Contains(h, "*"):
			return nil, bad("has a '*' other than a leading '*.'")
		case !validHost(h):
			return nil, bad("is not a host name")
		default:
			l.exact[h] = true
		}
		if !slices.Contains(l.entries, h) {
			l.entries = append(l.entries, h)
		}
	}
	return l, nil
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// String lists the entries, comma-separated.
func (l *HostAllowList) String() string { return strings.Join(l.entries, ",") }

// Allows reports whether host (a URL's Hostname()) is allowed.
func (l *HostAllowList) Allows(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "" {
		return false
	}
	if l.exact[h] {
		return true
	}
	for _, suf := range l.suffixes {
		if strings.HasSuffix(h, suf) && len(h) > len(suf) {
			return true
		}
	}
	return false
}

// EndpointNotAllowedError: an identity's endpoint names a host the
// controller may not send credentials to.
type EndpointNotAllowedError struct {
	Identity string
	Field    string // spec.endpoints.vssps
	URL      string
	Host     string
	Allowed  string
	Problem  string // set when the URL does not parse or is not https
}

func (e *EndpointNotAllowedError) Error() string {
	if e.Problem != "" {
		return fmt.Sprintf("%s: %s %q %s; give an https URL of an allowed host", e.Identity, e.Field, e.URL, e.Problem)
	}
	return fmt.Sprintf("%s: %s names host %s, which is not an allowed endpoint host (allowed: %s); nothing is sent to it. "+
		"If it is your sovereign cloud, Azure DevOps Server or proxy, add it to %s; otherwise fix %s",
		e.Identity, e.Field, e.Host, e.Allowed, AllowedHostsFlag, e.Field)
}

// checkEndpoints refuses id when one of its endpoints (as used: the
// defaults when empty) names a host that allowed does not allow. Nothing is
// sent anywhere before this check passed.
func checkEndpoints(id identity, allowed *HostAllowList) error {
	if allowed == nil {
		var err error
		if allowed, err = ParseHostAllowList(nil); err != nil {
			return err
		}
	}
	ep := patrolv1.Endpoints{}
	if id.spec.Endpoints != nil {
		ep = *id.spec.Endpoints
	}
	for _, f := range []struct{ field, url, def string }{
		{"spec.endpoints.authorityHost", ep.AuthorityHost, entra.DefaultAuthorityHost},
		{"spec.endpoints.vssps", ep.VSSPS, devops.DefaultVSSPSURL},
		{"spec.endpoints.devops", ep.DevOps, devops.DefaultDevOpsURL},
	} {
		raw := f.url
		if raw == "" {
			raw = f.def
		}
		e := &EndpointNotAllowedError{Identity: id.String(), Field: f.field, Allowed: allowed.String()}
		if e.URL, e.Host, e.Problem = urlHost(raw); e.Problem != "" || !allowed.Allows(e.Host) {
			return e
		}
	}
	return nil
}

// endpointNotAllowed reports whether err is (or wraps) an EndpointNotAllowedError.
func endpointNotAllowed(err error) bool {
	var e *EndpointNotAllowedError
	return errors.As(err, &e)
}

// SinkHostNotAllowedError: a sink of spec.sinks delivers to a host the
// controller may not send PATs or Key Vault tokens to.
type SinkHostNotAllowedError struct {
	Field   string // spec.sinks[0] (tool).http.url
	URL     string
	Host    string
	Allowed string
	Problem string // set when the URL does not parse or is not https
}

func (e *SinkHostNotAllowedError) Error() string {
	if e.Problem != "" {
		return fmt.Sprintf("%s %q %s; give an https URL of an allowed host", e.Field, e.URL, e.Problem)
	}
	return fmt.Sprintf("%s names host %s, which is not an allowed sink host (allowed: %s); nothing is sent to it. "+
		"If the cluster's operator trusts it, they add it to %s; otherwise fix %s",
		e.Field, e.Host, e.Allowed, AllowedSinkHostsFlag, e.Field)
}

// checkSinkHost refuses raw (a sink's URL, field names it) unless its host
// is allowed.
func checkSinkHost(field, raw string, allowed *HostAllowList) error {
	if allowed == nil {
		var err error
		if allowed, err = ParseSinkHostAllowList(nil); err != nil {
			return err
		}
	}
	e := &SinkHostNotAllowedError{Field: field, Allowed: allowed.String()}
	if e.URL, e.Host, e.Problem = urlHost(raw); e.Problem != "" || !allowed.Allows(e.Host) {
		return e
	}
	return nil
}

// urlHost is raw (redacted, for messages) and its host, or why it names no
// host credentials may go to (not https, user information, no parse).
func urlHost(raw string) (shown, host, problem string) {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not shown)", "", "does not parse"
	}
	shown = httpx.RedactURL(u)
	switch {
	case !strings.EqualFold(u.Scheme, "https") || u.Host == "":
		return shown, "", "is not an https URL"
	case u.User != nil:
		return shown, "", "carries user information"
	}
	return shown, u.Hostname(), ""
}
