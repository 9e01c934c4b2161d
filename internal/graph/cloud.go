package graph

import (
	"net/url"
	"strings"
)

// Microsoft Graph lives on a different host in each national cloud
// (learn.microsoft.com/graph/deployments), and a Graph token must be asked
// for that host's .default scope. patrol derives both from the Entra
// authority host a sign-in uses, so a sovereign-cloud configuration that
// sets only endpoints.authorityHost reaches its own Graph; endpoints.graph
// (PATROL_GRAPH_URL) overrides the URL (US Government DoD, the emulator).

// cloudGraph maps an Entra authority host to its cloud's Graph URL.
var cloudGraph = map[string]string{
	"login.microsoftonline.com":        DefaultURL,
	"login.windows.net":                DefaultURL,
	"login.microsoftonline.us":         "https://graph.microsoft.us", // US Government L4 (GCC High); DoD (L5) is dod-graph.microsoft.us
	"login.chinacloudapi.cn":           "https://microsoftgraph.chinacloudapi.cn",
	"login.partner.microsoftonline.cn": "https://microsoftgraph.chinacloudapi.cn",
}

// graphHosts are the hosts of Microsoft Graph itself; a token for one of
// them is asked for its own .default scope.
var graphHosts = map[string]bool{
	"graph.microsoft.com":             true,
	"graph.microsoft.us":              true,
	"dod-graph.microsoft.us":          true,
	"microsoftgraph.chinacloudapi.cn": true,
}

func hostOf(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// URLFor is the Graph URL of the cloud whose Entra authority host is
// authorityHost (a URL such as https://login.microsoftonline.us/); an
// authority patrol does not know (a private one, the emulator) gets the
// public cloud's, DefaultURL.
func URLFor(authorityHost string) string {
	if u, ok := cloudGraph[hostOf(authorityHost)]; ok {
		return u
	}
	return DefaultURL
}

// ScopeFor is the scope of tokens for the Graph at baseURL: its own
// .default when baseURL is a Graph host, else (a stand-in such as the
// emulator, which answers for graph.microsoft.com) the scope of the
// authority's cloud.
func ScopeFor(baseURL, authorityHost string) string {
	if h := hostOf(baseURL); graphHosts[h] {
		return "https://" + h + "/.default"
	}
	return strings.TrimSuffix(URLFor(authorityHost), "/") + "/.default"
}
