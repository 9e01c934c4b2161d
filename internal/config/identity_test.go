package config

import (
	"errors"
	"strings"
	"testing"
)

const identitiesYAML = `apiVersion: patrol.dev/v1
organization: contoso
auth: {method: ropc, username: bot@contoso.example}
identities:
  labs-admin: {method: ropc, username: admin@contoso.example, passwordFile: /run/secrets/admin}
credentials:
  - name: a
    scopes: [vso.code]
    sinks: [{type: file, path: /tmp/a}]
  - name: b
    organization: contoso-labs
    identity: labs-admin
    scopes: [vso.code]
    sinks: [{type: file, path: /tmp/b}]
`

func TestIdentitiesAndOrganizations(t *testing.T) {
	f, err := ParseFile([]byte(identitiesYAML), "p.yaml", ValidateOptions{SkipSinks: true})
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := f.Identities["labs-admin"]; !ok || id.Username != "admin@contoso.example" || id.PasswordFile != "/run/secrets/admin" {
		t.Fatalf("identities: %+v", f.Identities)
	}
	if c := f.Credentials[1]; c.Organization != "contoso-labs" || c.Identity != "labs-admin" {
		t.Fatalf("credential b: %+v", c)
	}
	if c := f.Credentials[0]; c.Organization != "" || c.Identity != "" {
		t.Fatalf("credential a keeps the defaults: %+v", c)
	}
}

func TestIdentityProblems(t *testing.T) {
	cases := []struct {
		name, yaml, path, msg string
		line                  int
	}{
		{"unknown identity", strings.Replace(identitiesYAML, "identity: labs-admin", "identity: labs-admn", 1),
			"credentials[1].identity", `unknown identity "labs-admn"; known identities: labs-admin`, 12},
		{"no identities", strings.Replace(strings.Replace(identitiesYAML, "identities:\n  labs-admin: {method: ropc, username: admin@contoso.example, passwordFile: /run/secrets/admin}\n", "", 1), "", "", 1),
			"credentials[1].identity", "the file defines no identities", 10},
		{"bad organization", strings.Replace(identitiesYAML, "organization: contoso-labs", "organization: contoso_labs", 1),
			"credentials[1].organization", "not an Azure DevOps organisation name", 11},
		{"organization URL with a project", strings.Replace(identitiesYAML, "organization: contoso-labs", "organization: https://dev.azure.com/contoso-labs/Platform", 1),
			"credentials[1].organization", "is not an organisation URL: the path must be the organisation alone", 11},
		{"organization URL of another host", strings.Replace(identitiesYAML, "organization: contoso-labs", "organization: https://contoso-labs.example.com", 1),
			"credentials[1].organization", "the host is neither dev.azure.com nor ORG.visualstudio.com", 11},
		{"top-level organization URL over http", strings.Replace(identitiesYAML, "organization: contoso\n", "organization: http://dev.azure.com/contoso\n", 1),
			"organization", "only https is accepted", 2},
		{"password in identity", strings.Replace(identitiesYAML, "passwordFile: /run/secrets/admin", "password: hunter2", 1),
			"identities.labs-admin.password", "passwords are not read from patrol.yaml", 5},
		{"bad identity username", strings.Replace(identitiesYAML, "username: admin@contoso.example", "username: admin", 1),
			"identities.labs-admin.username", "not a user principal name", 5},
		{"misspelt identity field", strings.Replace(identitiesYAML, "username: admin@contoso.example", "usernme: admin@contoso.example", 1),
			"identities.labs-admin.usernme", `did you mean "username"?`, 5},
		{"bad identity name", strings.Replace(strings.Replace(identitiesYAML, "labs-admin:", "labs admin:", 1), "identity: labs-admin", "identity: labs admin", 1),
			"identities.labs admin", "not a valid identity name", 5},
	}
	for _, tc := range cases {
		_, err := ParseFile([]byte(tc.yaml), "p.yaml", ValidateOptions{SkipSinks: true})
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Errorf("%s: want a FileError, got %v", tc.name, err)
			continue
		}
		found := false
		for _, p := range fe.Problems {
			if p.Path == tc.path && strings.Contains(p.Msg, tc.msg) && p.Line == tc.line {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want a problem at %s (line %d) saying %q, got %v", tc.name, tc.path, tc.line, tc.msg, err)
		}
	}
}

// An organisation may be written as its URL, like --org: the file then
// holds the name, so the plan, status, metrics labels, the lock and the sink
// identities all see the name.
func TestOrganizationURL(t *testing.T) {
	for _, tc := range []struct{ top, cred, wantTop, wantCred string }{
		{"https://dev.azure.com/contoso", "https://dev.azure.com/contoso-labs", "contoso", "contoso-labs"},
		{"https://contoso.visualstudio.com/", "https://Contoso-Labs.VisualStudio.com", "contoso", "contoso-labs"},
		{"contoso", "https://dev.azure.com/contoso-labs/", "contoso", "contoso-labs"},
	} {
		y := strings.Replace(identitiesYAML, "organization: contoso-labs", "organization: "+tc.cred, 1)
		y = strings.Replace(y, "organization: contoso\n", "organization: "+tc.top+"\n", 1)
		f, err := ParseFile([]byte(y), "p.yaml", ValidateOptions{SkipSinks: true})
		if err != nil {
			t.Errorf("%s / %s: %v", tc.top, tc.cred, err)
			continue
		}
		if f.Organization != tc.wantTop || f.Credentials[1].Organization != tc.wantCred {
			t.Errorf("%s / %s: got %q / %q, want %q / %q", tc.top, tc.cred, f.Organization, f.Credentials[1].Organization, tc.wantTop, tc.wantCred)
		}
	}
}

// Service-endpoint and variable-group sinks live in their credential's
// organisation: the same-named endpoint or group in two organisations is two
// places, not a duplicate; in one organisation (however it is spelt: the
// default, its name, its URL) it is one.
func TestDuplicateDevOpsSinkPerOrganization(t *testing.T) {
	sinks := map[string]string{
		"endpoint": "{type: azure-devops-service-endpoint, project: Platform, endpointName: sonar, parameter: username}",
		"variable": "{type: azure-devops-variable-group, project: Platform, groupName: creds, variable: ADO_PAT}",
	}
	for name, sk := range sinks {
		for _, tc := range []struct {
			orgA, orgB string
			dup        bool
		}{
			{"fabrikam", "contoso-labs", false},
			{"", "contoso-labs", false},
			{"https://dev.azure.com/fabrikam", "https://fabrikam.visualstudio.com", true},
			{"", "contoso", true},
			{"", "https://dev.azure.com/Contoso", true},
			{"fabrikam", "Fabrikam", true},
		} {
			acct := func(org string) string {
				if org == "" {
					return ""
				}
				return "    organization: " + org + "\n"
			}
			y := "apiVersion: patrol.dev/v1\norganization: contoso\ncredentials:\n  - name: a\n" + acct(tc.orgA) + "    scopes: [vso.code]\n    sinks: [" + sk + "]\n  - name: b\n" + acct(tc.orgB) + "    scopes: [vso.code]\n    sinks: [" + sk + "]\n"
			_, err := ParseFile([]byte(y), "p.yaml", ValidateOptions{SkipSinks: true})
			got := err != nil && strings.Contains(err.Error(), "the same sink is already configured")
			if got != tc.dup {
				t.Errorf("%s in %q and %q: duplicate %v, want %v (%v)", name, tc.orgA, tc.orgB, got, tc.dup, err)
			}
			if !tc.dup && err != nil {
				t.Errorf("%s in %q and %q: %v", name, tc.orgA, tc.orgB, err)
			}
		}
	}
}

// The default organisation of --org / AZURE_DEVOPS_ORG overrides the
// file's for credentials without their own: the duplicate check uses it.
func TestDuplicateDevOpsSinkDefaultOrganizationFromEnvironment(t *testing.T) {
	sk := "{type: azure-devops-variable-group, project: Platform, groupName: creds, variable: ADO_PAT}"
	for _, tc := range []struct {
		orgB string
		dup  bool
	}{{"fabrikam", true}, {"contoso", false}} {
		y := "apiVersion: patrol.dev/v1\norganization: contoso\ncredentials:\n  - name: a\n    scopes: [vso.code]\n    sinks: [" + sk + "]\n  - name: b\n    organization: " + tc.orgB + "\n    scopes: [vso.code]\n    sinks: [" + sk + "]\n"
		_, err := ParseFile([]byte(y), "p.yaml", ValidateOptions{SkipSinks: true, Organization: "Fabrikam"})
		if got := err != nil && strings.Contains(err.Error(), "the same sink is already configured"); got != tc.dup {
			t.Errorf("default fabrikam, b in %s: duplicate %v, want %v (%v)", tc.orgB, got, tc.dup, err)
		}
	}
}

// Two credentials writing one sink are refused whatever their organisations.
func TestDuplicateSinkAcrossOrganizations(t *testing.T) {
	y := strings.Replace(identitiesYAML, "path: /tmp/b", "path: /tmp/a", 1)
	_, err := ParseFile([]byte(y), "p.yaml", ValidateOptions{SkipSinks: true})
	if err == nil || !strings.Contains(err.Error(), "the same sink is already configured") {
		t.Fatalf("want the duplicate sink refused, got %v", err)
	}
}

func TestForIdentity(t *testing.T) {
	base := Connection{Organization: "contoso", Auth: Auth{Method: "ropc", Username: "bot@contoso.example", Password: "env-secret"}, Endpoints: Endpoints{DevOps: "https://dev.azure.com"}}
	c, err := base.ForIdentity("other", Auth{Username: "admin@contoso.example"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Username != "admin@contoso.example" || c.Auth.Password != "" || c.Auth.Method != DefaultAuthMethod || c.Endpoints.DevOps != base.Endpoints.DevOps {
		t.Fatalf("the default identity's secret must not leak into a named one: %+v", c)
	}
	if _, err := base.ForIdentity("other", Auth{PasswordFile: "/nonexistent"}); err == nil || !strings.Contains(err.Error(), "identities.other") {
		t.Fatalf("want the identity named in the error, got %v", err)
	}
}
