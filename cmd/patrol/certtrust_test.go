package main

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A server whose certificate patrol does not trust is a configuration
// problem (exit 2, a hint naming the CA bundle settings), not "transient,
// try again later" (exit 6) — whichever client met it.
func TestUntrustedCertificateIsConfiguration(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request got through an untrusted TLS handshake: %s", r.URL)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	defer srv.Close()
	bundle := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"entra ropc": {map[string]string{"AZURE_DEVOPS_ORG": "contoso", "AZURE_TENANT_ID": "contoso.example", "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001", "AZURE_USERNAME": "bot@contoso.example", "AZURE_PASSWORD": "pw-0123456789", "PATROL_DISABLE_INSTANCE_DISCOVERY": "true"},
			[]string{"token", "--auth", "ropc", "--authority-host", srv.URL + "/"}, "SSL_CERT_FILE"},
		"entra client secret": {map[string]string{"AZURE_DEVOPS_ORG": "contoso", "AZURE_TENANT_ID": "contoso.example", "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001", "AZURE_CLIENT_SECRET": "cs-0123456789", "PATROL_DISABLE_INSTANCE_DISCOVERY": "true"},
			[]string{"token", "--auth", "client-secret", "--authority-host", srv.URL + "/"}, "SSL_CERT_FILE"},
		// Trusted, but issued for other names (127.0.0.1, example.com).
		"entra ropc, host name mismatch": {map[string]string{"AZURE_DEVOPS_ORG": "contoso", "AZURE_TENANT_ID": "contoso.example", "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001", "AZURE_USERNAME": "bot@contoso.example", "AZURE_PASSWORD": "pw-0123456789", "PATROL_DISABLE_INSTANCE_DISCOVERY": "true", "PATROL_CA_BUNDLE": bundle},
			[]string{"token", "--auth", "ropc", "--authority-host", "https://localhost:" + port + "/"}, "the name the certificate is issued for"},
	} {
		code, _, stderr := runCLI(t, tc.env, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "try again later") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 with a hint saying %q", name, code, stderr, tc.want)
		}
	}
}
