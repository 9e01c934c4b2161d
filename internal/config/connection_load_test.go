package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/errkind"
)

func envOf(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const (
	tenant = "7d2f3b9c-51a4-4c1e-9b7e-0c1d2e3f4a5b"
	client = "e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7"
)

// The seed's exact configuration (seeds.md): six variables, nothing else.
func TestSeedEnvironmentWorksUnchanged(t *testing.T) {
	env := map[string]string{
		"AZURE_TENANT_ID":     tenant,
		"AZURE_CLIENT_ID":     client,
		"AZURE_CLIENT_SECRET": "s3cret-value",
		"AZURE_USERNAME":      "bot@contoso.example",
		"AZURE_PASSWORD":      "pw-value",
		"AZURE_DEVOPS_ORG":    "contoso",
	}
	c, err := LoadConnection(LoadOptions{Env: envOf(env)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Organization != "contoso" || c.Auth.TenantID != tenant || c.Auth.ClientID != client ||
		c.Auth.ClientSecret != "s3cret-value" || c.Auth.Username != "bot@contoso.example" || c.Auth.Password != "pw-value" {
		t.Fatalf("seed env not mapped: %+v", c.Redacted())
	}
	if c.Auth.Method != "auto" || c.Endpoints.VSSPS != DefaultVSSPSURL || c.Endpoints.DevOps != DefaultDevOpsURL ||
		c.Endpoints.APIVersion != DefaultAPIVersion || c.Endpoints.AuthorityHost != DefaultAuthorityHost {
		t.Fatalf("defaults not applied: %+v", c.Redacted())
	}
	if err := c.RequireOrganization(); err != nil {
		t.Fatal(err)
	}
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "patrol.yaml")
	yml := `
organization: from-file
auth:
  method: ropc
  tenantId: contoso.example
  username: file@contoso.example
endpoints:
  vssps: https://file.example/vssps
  devops: https://file.example/devops
  apiVersion: 7.2-preview.1
log:
  level: info
rotation:
  concurrency: 4
credentials:
  - name: x
`
	if err := os.WriteFile(f, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"PATROL_CONFIG":    f,
		"AZURE_DEVOPS_ORG": "from-env",
		"PATROL_VSSPS_URL": "https://env.example/vssps",
	}
	c, err := LoadConnection(LoadOptions{Env: envOf(env), Flags: ConnectionFlags{Organization: "from-flag"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Organization != "from-flag" {
		t.Errorf("flag must win: %q", c.Organization)
	}
	if c.Endpoints.VSSPS != "https://env.example/vssps" {
		t.Errorf("env must beat file: %q", c.Endpoints.VSSPS)
	}
	if c.Endpoints.DevOps != "https://file.example/devops" || c.Auth.Method != "ropc" || c.Auth.Username != "file@contoso.example" ||
		c.Endpoints.APIVersion != "7.2-preview.1" || c.Log.Level != "info" {
		t.Errorf("file values lost: %+v", c.Redacted())
	}
	// --config beats PATROL_CONFIG
	other := filepath.Join(dir, "other.yaml")
	os.WriteFile(other, []byte("organization: other\n"), 0o600)
	c, err = LoadConnection(LoadOptions{File: other, Env: envOf(map[string]string{"PATROL_CONFIG": f})})
	if err != nil || c.Organization != "other" {
		t.Fatalf("--config must beat PATROL_CONFIG: %v %q", err, c.Organization)
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("file-password\n"), 0o600)
	cs := filepath.Join(dir, "cs")
	os.WriteFile(cs, []byte("file-secret\r\n"), 0o600)

	c, err := LoadConnection(LoadOptions{Env: envOf(map[string]string{"PATROL_PASSWORD_FILE": pw, "PATROL_CLIENT_SECRET_FILE": cs})})
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Password != "file-password" || c.Auth.ClientSecret != "file-secret" {
		t.Fatalf("secret files not read (trailing newline must be trimmed)")
	}
	// env value beats a file named in env/YAML
	c, _ = LoadConnection(LoadOptions{Env: envOf(map[string]string{"PATROL_PASSWORD_FILE": pw, "AZURE_PASSWORD": "env-pw"})})
	if c.Auth.Password != "env-pw" {
		t.Fatal("AZURE_PASSWORD must beat PATROL_PASSWORD_FILE")
	}
	// a file on the command line beats AZURE_PASSWORD
	c, _ = LoadConnection(LoadOptions{Env: envOf(map[string]string{"AZURE_PASSWORD": "env-pw"}), Flags: ConnectionFlags{PasswordFile: pw}})
	if c.Auth.Password != "file-password" {
		t.Fatal("--password-file must beat AZURE_PASSWORD")
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	_, err = LoadConnection(LoadOptions{Flags: ConnectionFlags{ClientSecretFile: empty}})
	wantConfigError(t, err, "--client-secret-file", "is empty")
	_, err = LoadConnection(LoadOptions{Flags: ConnectionFlags{PasswordFile: filepath.Join(dir, "missing")}})
	wantConfigError(t, err, "--password-file", "cannot be read")
}

func wantConfigError(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error mentioning %q", parts)
	}
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %T: %v", err, err)
	}
	if errkind.Of(err) != errkind.Usage {
		t.Fatalf("kind = %v, want usage", errkind.Of(err))
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

// Every malformed environment variable gets an error naming it and the fix.
func TestMalformedEnv(t *testing.T) {
	cases := []struct {
		name, value string
		want        []string
	}{
		{"AZURE_DEVOPS_ORG", "https://dev.azure.com/contoso/project", []string{"AZURE_DEVOPS_ORG", "organisation", "without a project"}},
		{"AZURE_DEVOPS_ORG", "contoso.visualstudio", []string{"AZURE_DEVOPS_ORG", "organisation name", "e.g. contoso"}},
		{"AZURE_DEVOPS_ORG", "-bad-", []string{"AZURE_DEVOPS_ORG"}},
		{"PATROL_AUTH", "kerberos", []string{"PATROL_AUTH", "--auth", "ropc", "device-code"}},
		{"AZURE_TENANT_ID", "not a tenant", []string{"AZURE_TENANT_ID", "Directory (tenant) ID"}},
		{"AZURE_CLIENT_ID", "my-app", []string{"AZURE_CLIENT_ID", "not a GUID", "Application (client) ID"}},
		{"AZURE_USERNAME", "patrol-bot", []string{"AZURE_USERNAME", "UPN"}},
		{"AZURE_PASSWORD", "pw\n", []string{"AZURE_PASSWORD", "whitespace"}},
		{"AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "yes please", []string{"AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "boolean"}},
		{"PATROL_DISABLE_INSTANCE_DISCOVERY", "maybe", []string{"PATROL_DISABLE_INSTANCE_DISCOVERY", "true or false"}},
		{"AZURE_AUTHORITY_HOST", "http://login.example/", []string{"AZURE_AUTHORITY_HOST", "https"}},
		{"PATROL_VSSPS_URL", "vssps.dev.azure.com", []string{"PATROL_VSSPS_URL", "https"}},
		{"PATROL_DEVOPS_URL", "https://", []string{"PATROL_DEVOPS_URL", "no host"}},
		{"PATROL_DEVOPS_URL", "https://dev.azure.com/?x=1", []string{"PATROL_DEVOPS_URL", "query"}},
		{"PATROL_API_VERSION", "latest", []string{"PATROL_API_VERSION", "7.1-preview.1"}},
		{"PATROL_MAX_PAGES", "many", []string{"PATROL_MAX_PAGES", "whole number", "1..1000000"}},
		{"PATROL_MAX_PAGES", "-3", []string{"PATROL_MAX_PAGES", "--max-pages", "endpoints.maxPages", "out of range"}},
		{"PATROL_LOG_FORMAT", "xml", []string{"PATROL_LOG_FORMAT", "text or json"}},
		{"PATROL_LOG_LEVEL", "loud", []string{"PATROL_LOG_LEVEL", "debug"}},
		{"PATROL_CONFIG", "/nonexistent/patrol.yaml", []string{"/nonexistent/patrol.yaml", "PATROL_CONFIG", "cannot be read"}},
		{"PATROL_PASSWORD_FILE", "/nonexistent/pw", []string{"PATROL_PASSWORD_FILE", "cannot be read"}},
		{"PATROL_CLIENT_SECRET_FILE", "/nonexistent/cs", []string{"PATROL_CLIENT_SECRET_FILE", "cannot be read"}},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			_, err := LoadConnection(LoadOptions{Env: envOf(map[string]string{tc.name: tc.value})})
			wantConfigError(t, err, tc.want...)
		})
	}
}

func TestMaxPagesDefaultAndOverrides(t *testing.T) {
	c, err := LoadConnection(LoadOptions{Env: envOf(nil)})
	if err != nil || c.Endpoints.MaxPages != DefaultMaxPages {
		t.Fatalf("default max pages %d, %v", c.Endpoints.MaxPages, err)
	}
	c, err = LoadConnection(LoadOptions{Env: envOf(map[string]string{"PATROL_MAX_PAGES": "20"}), Flags: ConnectionFlags{MaxPages: 30}})
	if err != nil || c.Endpoints.MaxPages != 30 {
		t.Fatalf("the flag must win over the environment: %d, %v", c.Endpoints.MaxPages, err)
	}
}

func TestMissingOrganization(t *testing.T) {
	c, err := LoadConnection(LoadOptions{Env: envOf(nil)})
	if err != nil {
		t.Fatal(err)
	}
	wantConfigError(t, c.RequireOrganization(), "AZURE_DEVOPS_ORG", "--org", "is not set")
}

func TestFileErrors(t *testing.T) {
	cases := []struct {
		yaml string
		want []string
	}{
		{"organization: [a", []string{"not valid YAML"}},
		{"- a\n- b\n", []string{"mapping"}},
		{"auth:\n  password: hunter2\n", []string{"auth.password", "not accepted", "AZURE_PASSWORD"}},
		{"auth:\n  clientSecret: x\n", []string{"auth.clientSecret", "AZURE_CLIENT_SECRET"}},
		{"auth:\n  tenantID: x\n", []string{"unknown field", "tenantID"}},
		{"endpoints:\n  vssps: 3\n", []string{"endpoints.vssps", "string"}},
		{"endpoints:\n  vssps: http://x\n", []string{"PATROL_VSSPS_URL", "https"}},
	}
	for _, tc := range cases {
		f := filepath.Join(t.TempDir(), "patrol.yaml")
		os.WriteFile(f, []byte(tc.yaml), 0o600)
		_, err := LoadConnection(LoadOptions{File: f, Env: envOf(nil)})
		wantConfigError(t, err, tc.want...)
		if strings.Contains(tc.yaml, "hunter2") && strings.Contains(err.Error(), "hunter2") {
			t.Fatal("error leaks the secret from the file")
		}
	}
	// empty file and other top-level keys are fine
	f := filepath.Join(t.TempDir(), "patrol.yaml")
	os.WriteFile(f, []byte(""), 0o600)
	if _, err := LoadConnection(LoadOptions{File: f, Env: envOf(nil)}); err != nil {
		t.Fatal(err)
	}
}

func TestRedactionNeverShowsSecrets(t *testing.T) {
	c, err := LoadConnection(LoadOptions{Env: envOf(map[string]string{
		"AZURE_PASSWORD": "pw-SECRET", "AZURE_CLIENT_SECRET": "cs-SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD": "cert-SECRET",
	})})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		c.Auth.String(), c.Redacted().Auth.Password, func() string { b, _ := jsonMarshal(c); return string(b) }(),
		sprintf("%v", c), sprintf("%+v", c), sprintf("%#v", c.Auth),
	} {
		if strings.Contains(s, "SECRET") {
			t.Fatalf("secret visible in %q", s)
		}
	}
}

func FuzzParseConnectionYAML(f *testing.F) {
	f.Add([]byte("organization: contoso\nauth:\n  method: ropc\n"))
	f.Add([]byte("endpoints: {vssps: https://x}\n"))
	f.Add([]byte("auth:\n  password: x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConnectionYAML("fuzz.yaml", data)
		if err != nil {
			if errkind.Of(err) != errkind.Usage {
				t.Fatalf("error kind %v for %q", errkind.Of(err), data)
			}
			return
		}
		if c.Auth.Password != "" || c.Auth.ClientSecret != "" {
			t.Fatal("secrets must never come from YAML")
		}
	})
}

// auth.scopes < PATROL_AUTH_SCOPES (space- or comma-separated) < --auth-scope.
func TestAuthScopesPrecedence(t *testing.T) {
	f := filepath.Join(t.TempDir(), "patrol.yaml")
	if err := os.WriteFile(f, []byte("auth:\n  scopes: [vso.pats]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(env map[string]string, flags []string) []string {
		t.Helper()
		c, err := LoadConnection(LoadOptions{File: f, Env: envOf(env), Flags: ConnectionFlags{AuthScopes: flags}})
		if err != nil {
			t.Fatal(err)
		}
		return c.Auth.Scopes
	}
	if got := load(nil, nil); !slices.Equal(got, []string{"vso.pats"}) {
		t.Errorf("file: %q", got)
	}
	if got := load(map[string]string{"PATROL_AUTH_SCOPES": "vso.pats, vso.pats_manage"}, nil); !slices.Equal(got, []string{"vso.pats", "vso.pats_manage"}) {
		t.Errorf("env: %q", got)
	}
	if got := load(map[string]string{"PATROL_AUTH_SCOPES": "vso.pats"}, []string{"user_impersonation"}); !slices.Equal(got, []string{"user_impersonation"}) {
		t.Errorf("flag: %q", got)
	}
	if _, err := ParseConnectionYAML("x", []byte("auth:\n  scopes: vso.pats\n")); err == nil {
		t.Error("auth.scopes as a string must be refused (a list is required)")
	}
}

// A Connection already read strictly (LoadFile) is used as the file layer:
// the file is not read again and env and flags still override it.
func TestLoadConnectionFileConnection(t *testing.T) {
	fc := Connection{Organization: "from-file", Auth: Auth{Username: "bot@contoso.example"}}
	c, err := LoadConnection(LoadOptions{File: "/nonexistent.yaml", FileConnection: &fc, Env: envOf(map[string]string{"AZURE_DEVOPS_ORG": "from-env"})})
	if err != nil {
		t.Fatal(err)
	}
	if c.Organization != "from-env" || c.Auth.Username != "bot@contoso.example" {
		t.Fatalf("got %+v", c)
	}
}

// AZURE_DEVOPS_ORG takes the organisation URL, as --org and organization: do.
func TestEnvOrganizationAcceptsURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://dev.azure.com/contoso":     "contoso",
		"https://dev.azure.com/contoso/":    "contoso",
		"https://fabrikam.visualstudio.com": "fabrikam",
		"contoso":                           "contoso",
	} {
		env := func(k string) (string, bool) {
			if k == EnvOrganization {
				return in, true
			}
			return "", false
		}
		var c Connection
		if err := applyEnv(&c, env); err != nil {
			t.Errorf("AZURE_DEVOPS_ORG=%s: %v", in, err)
			continue
		}
		if c.Organization != want {
			t.Errorf("AZURE_DEVOPS_ORG=%s: organization %q, want %q", in, c.Organization, want)
		}
	}
	env := func(k string) (string, bool) { return "http://dev.azure.com/contoso", k == EnvOrganization }
	var c Connection
	err := applyEnv(&c, env)
	if err == nil || !strings.Contains(err.Error(), EnvOrganization) || !strings.Contains(err.Error(), "https") {
		t.Fatalf("http:// organisation URL: %v, want an error naming %s and https", err, EnvOrganization)
	}
}
