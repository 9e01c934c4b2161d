package e2e

import (
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/httpx/httpxtest"
)

// A server that echoes everything patrol sends (request line, headers,
// body) into its error answer stands in for Entra, for Azure DevOps and for
// a data-source server. patrol's output at debug level must carry none of
// the credentials it sent there, in any encoding; the suite's leak scan
// (TestMain) checks every output too.
func TestEchoingServersGetNoSecretIntoOutput(t *testing.T) {
	w := start(t, nil)
	echo := httpxtest.Echo(t, http.StatusBadRequest)
	// Trust the emulator's CA and the echo server's certificate.
	emuCA, err := os.ReadFile(w.env["SSL_CERT_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(w.dir, "ca-and-echo.pem")
	if err := os.WriteFile(ca, append(emuCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: echo.Certificate().Raw})...), 0o600); err != nil {
		t.Fatal(err)
	}
	base := with(w.env, env{"SSL_CERT_FILE": ca})
	const dsPassword = "ds-hunter2-Secret!"
	for v, what := range map[string]string{
		url.QueryEscape(emulator.DefaultPassword):     "URL-encoded password",
		url.QueryEscape(emulator.DefaultClientSecret): "URL-encoded client secret",
		dsPassword: "data-source password",
		base64.StdEncoding.EncodeToString([]byte("u:" + dsPassword)): "data-source Basic credentials",
	} {
		addSecret(v, what)
	}

	// Entra: the ROPC form (password, client secret) is echoed.
	r := w.patrol(with(base, env{"AZURE_AUTHORITY_HOST": echo.URL + "/"}), "pat", "list")
	if r.code == 0 {
		t.Fatal("pat list against an echoing authority succeeded")
	}
	// Azure DevOps: the Bearer token (a JWT from the emulator) is echoed.
	r2 := w.patrol(with(base, env{"PATROL_VSSPS_URL": echo.URL}), "pat", "list")
	if r2.code == 0 {
		t.Fatal("pat list against an echoing Azure DevOps succeeded")
	}
	// A data source: Basic credentials are echoed.
	ep := filepath.Join(w.dir, "tc.json")
	os.WriteFile(ep, []byte(`{"type":"teamcity","url":"`+echo.URL+`/","authorization":{"scheme":"UsernamePassword","parameters":{"username":"u","password":"`+dsPassword+`"}}}`), 0o600)
	r3 := w.patrol(base, "endpoint", "request", "--manifest", "../../internal/scheme/testdata/manifests/microsoft__azure-pipelines-extensions__teamcity.json",
		"--endpoint", ep, "--data-source", "BuildConfigurations", "--param", "project=P1", "-o", "json")
	if r3.code == 0 {
		t.Fatal("a data source against an echoing server succeeded")
	}
	for i, res := range []result{r, r2, r3} {
		out := res.stdout + res.stderr
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("run %d: expected the echoed credentials to show as REDACTED:\n%s", i+1, out)
		}
		collectMu.Lock()
		leaks := leaksIn(out, secrets)
		collectMu.Unlock()
		if len(leaks) > 0 {
			t.Errorf("run %d leaked %v:\n%s", i+1, leaks, out)
		}
	}
}
