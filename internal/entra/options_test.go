package entra

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/errkind"
)

func TestParseMethod(t *testing.T) {
	for _, m := range Methods {
		got, err := ParseMethod(" " + strings.ToUpper(string(m)) + " ")
		if err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %q, %v", m, got, err)
		}
	}
	if got, err := ParseMethod(""); err != nil || got != MethodAuto {
		t.Errorf("empty: %q %v", got, err)
	}
	_, err := ParseMethod("password")
	if err == nil || errkind.Of(err) != errkind.Usage {
		t.Fatalf("want usage error, got %v", err)
	}
	for _, m := range Methods {
		if !strings.Contains(err.Error(), string(m)) {
			t.Errorf("error %q does not list %q", err, m)
		}
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache.json")
	if err := os.WriteFile(cache, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	noCache := filepath.Join(dir, "none.json")
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	base := Options{TenantID: "t", ClientID: "c", CachePath: noCache, LookupEnv: env()}
	with := func(f func(*Options)) Options { o := base; f(&o); return o }
	cases := []struct {
		name    string
		opts    Options
		want    Method
		wantErr string
	}{
		{"ropc public", with(func(o *Options) { o.Username, o.Password = "u", "p" }), MethodROPC, ""},
		{"ropc wins over secret", with(func(o *Options) { o.Username, o.Password, o.ClientSecret = "u", "p", "s" }), MethodROPC, ""},
		{"ropc wins over everything", with(func(o *Options) {
			o.Username, o.Password, o.CertificatePath, o.FederatedTokenFile, o.CachePath = "u", "p", "c.pem", "f", cache
		}), MethodROPC, ""},
		{"username without password", with(func(o *Options) { o.Username = "u"; o.ClientSecret = "s" }), "", "AZURE_PASSWORD"},
		{"password without username", with(func(o *Options) { o.Password = "p" }), "", "AZURE_USERNAME (flag --username)"},
		{"client secret", with(func(o *Options) { o.ClientSecret = "s" }), MethodClientSecret, ""},
		{"certificate", with(func(o *Options) { o.CertificatePath = "c.pem" }), MethodClientCertificate, ""},
		{"secret before certificate", with(func(o *Options) { o.ClientSecret, o.CertificatePath = "s", "c.pem" }), MethodClientSecret, ""},
		{"workload identity", with(func(o *Options) { o.FederatedTokenFile = "/var/run/token" }), MethodWorkloadIdentity, ""},
		{"device-code cache file", with(func(o *Options) { o.CachePath = cache }), MethodDeviceCode, ""},
		{"device-code store", with(func(o *Options) { o.Cache = &FileTokenCache{} }), MethodDeviceCode, ""},
		{"cache before MI", with(func(o *Options) { o.CachePath = cache; o.LookupEnv = env("IDENTITY_ENDPOINT", "http://x") }), MethodDeviceCode, ""},
		{"managed identity IDENTITY_ENDPOINT", with(func(o *Options) { o.LookupEnv = env("IDENTITY_ENDPOINT", "http://x") }), MethodManagedIdentity, ""},
		{"managed identity MSI_ENDPOINT", with(func(o *Options) { o.LookupEnv = env("MSI_ENDPOINT", "http://x") }), MethodManagedIdentity, ""},
		{"empty env var ignored", with(func(o *Options) { o.LookupEnv = env("MSI_ENDPOINT", "") }), "", "no sign-in method fits"},
		{"nothing", base, "", "AZURE_FEDERATED_TOKEN_FILE"},
		{"explicit ropc missing client", with(func(o *Options) { o.Method = MethodROPC; o.ClientID = ""; o.Username, o.Password = "u", "p" }), "",
			"AZURE_CLIENT_ID (flag --client-id) is required for --auth ropc: the app registration's Application (client) ID"},
		{"explicit ropc common tenant", with(func(o *Options) { o.Method = MethodROPC; o.TenantID = "common"; o.Username, o.Password = "u", "p" }), "", "common"},
		{"explicit ropc password whitespace", with(func(o *Options) { o.Method = MethodROPC; o.Username, o.Password = "u", "p\n" }), "", "whitespace"},
		{"explicit client-secret missing secret", with(func(o *Options) { o.Method = MethodClientSecret }), "", "AZURE_CLIENT_SECRET is required for --auth client-secret"},
		{"explicit certificate missing", with(func(o *Options) { o.Method = MethodClientCertificate; o.TenantID = "" }), "", "AZURE_TENANT_ID (flag --tenant-id) is required"},
		{"explicit workload identity missing file", with(func(o *Options) { o.Method = MethodWorkloadIdentity }), "", "AZURE_FEDERATED_TOKEN_FILE"},
		{"explicit device-code", with(func(o *Options) { o.Method = MethodDeviceCode }), MethodDeviceCode, ""},
		{"explicit managed identity needs nothing", Options{Method: MethodManagedIdentity}, MethodManagedIdentity, ""},
		{"explicit azure-cli needs nothing", Options{Method: MethodAzureCLI}, MethodAzureCLI, ""},
		{"unknown method", with(func(o *Options) { o.Method = "saml" }), "", "unknown sign-in method"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Resolve(c.opts)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, c.wantErr)
				}
				if errkind.Of(err) != errkind.Usage {
					t.Fatalf("kind %v, want usage", errkind.Of(err))
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Resolve = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestResolveNothingNamesEveryMethod(t *testing.T) {
	_, err := Resolve(Options{CachePath: filepath.Join(t.TempDir(), "x"), LookupEnv: func(string) (string, bool) { return "", false }})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %T %v", err, err)
	}
	for _, want := range []string{"AZURE_USERNAME", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "patrol login", "IDENTITY_ENDPOINT", "azure-cli"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
}

func TestOptionsNeverPrintSecrets(t *testing.T) {
	o := Options{Method: MethodROPC, TenantID: "tenant", ClientID: "client", Username: "bot@x",
		ClientSecret: "SECRET-cs-123", Password: "SECRET-pw-456", CertificatePassword: "SECRET-cp-789"}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("opts", "o", o)
	j, _ := json.Marshal(o)
	outs := []string{fmt.Sprint(o), fmt.Sprintf("%v", o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), fmt.Sprintf("%v", &o), fmt.Sprintf("%s", o), buf.String(), string(j)}
	for _, s := range outs {
		if strings.Contains(s, "SECRET") {
			t.Fatalf("secret printed: %s", s)
		}
	}
	if !strings.Contains(outs[0], "tenant") || !strings.Contains(outs[0], "password=REDACTED") {
		t.Fatalf("String() should show non-secret fields and mark set secrets: %s", outs[0])
	}
}
