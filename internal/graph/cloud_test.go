package graph

import "testing"

func TestCloudGraph(t *testing.T) {
	for _, c := range []struct{ authority, base, url, scope string }{
		{"https://login.microsoftonline.com/", "", DefaultURL, Scope},
		{"https://login.microsoftonline.us/", "", "https://graph.microsoft.us", "https://graph.microsoft.us/.default"},
		{"https://LOGIN.chinacloudapi.cn", "", "https://microsoftgraph.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn/.default"},
		{"https://login.microsoftonline.us/", "https://dod-graph.microsoft.us", "https://graph.microsoft.us", "https://dod-graph.microsoft.us/.default"},
		// A stand-in for Graph (the emulator) answers for the authority's cloud.
		{"https://127.0.0.1:8443/", "https://127.0.0.1:8443", DefaultURL, Scope},
		{"https://login.microsoftonline.us/", "https://graph-proxy.contoso.us", "https://graph.microsoft.us", "https://graph.microsoft.us/.default"},
		{"", "", DefaultURL, Scope},
	} {
		if got := URLFor(c.authority); got != c.url {
			t.Errorf("URLFor(%q) = %q, want %q", c.authority, got, c.url)
		}
		base := c.base
		if base == "" {
			base = URLFor(c.authority)
		}
		if got := ScopeFor(base, c.authority); got != c.scope {
			t.Errorf("ScopeFor(%q, %q) = %q, want %q", base, c.authority, got, c.scope)
		}
	}
}
