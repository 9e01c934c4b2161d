package main

import (
	"bytes"
	"strings"
	"testing"
)

// --org takes the organisation's URL as az does; other URLs are usage errors
// naming the flag.
func TestOrgFlagAcceptsOrganisationURL(t *testing.T) {
	for _, in := range []string{"contoso", "https://dev.azure.com/contoso", "https://dev.azure.com/contoso/", "https://DEV.azure.com/contoso", "https://contoso.visualstudio.com", "https://contoso.visualstudio.com/"} {
		a := newApp(func(string) (string, bool) { return "", false }, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
		root := newRootCmd(a)
		root.SetArgs([]string{"--org", in, "version"})
		root.SetOut(&bytes.Buffer{})
		if err := root.Execute(); err != nil {
			t.Errorf("--org %s: %v", in, err)
			continue
		}
		c, err := a.connection()
		if err != nil || c.Organization != "contoso" {
			t.Errorf("--org %s: organisation %q, %v; want contoso", in, c.Organization, err)
		}
	}
	for _, in := range []string{"https://dev.azure.com/contoso/project", "https://dev.azure.com/", "http://dev.azure.com/contoso", "https://example.com/contoso", "https://a.b.visualstudio.com", "https://contoso.visualstudio.com/project", "https://dev.azure.com/contoso?x=1", "https://dev.azure.com/con.toso"} {
		code, _, stderr := runCLI(t, nil, "--org", in, "version")
		if code != 2 || !strings.Contains(stderr, "--org") || !strings.Contains(stderr, "https://dev.azure.com/ORG") {
			t.Errorf("--org %s: exit %d, stderr %q; want exit 2 naming --org and the accepted forms", in, code, stderr)
		}
	}
}
