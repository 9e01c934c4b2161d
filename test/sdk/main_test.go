// Package sdk runs Microsoft's own Go SDK for Azure DevOps,
// github.com/microsoft/azure-devops-go-api/azuredevops/v7, unmodified against
// `patrol emulator`: the real binary, started on 127.0.0.1 with a random port,
// its default seed and its CA file. The only client configuration is the
// organization URL, the Authorization header and a TLS config that trusts the
// emulator CA — everything else (location discovery, resource areas, api-version
// negotiation, route templates, models) is the SDK's own.
//
// It is a nested module so that the SDK never enters patrol's go.mod.
// PATROL_BIN may name a prebuilt patrol binary; otherwise TestMain builds
// ../../cmd/patrol.
package sdk

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7"
)

// Emulator-only values of the default seed (docs/emulator.md, "Seed format").
const (
	adminUser   = "admin@contoso.example" // Project Collection Administrator (TokenAdmin)
	project     = "Platform"
	devopsScope = "499b84ac-1321-427f-aa17-267ca6975798/.default"
)

// emu describes the running `patrol emulator`.
var emu struct {
	env      map[string]string // the export lines it printed
	org      string
	orgURL   string // dev.azure.com stand-in: DevOpsURL()/{org}
	vsspsURL string
	tls      *tls.Config
	http     *http.Client
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "patrol-sdk-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdk tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := os.Getenv("PATROL_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "patrol")
		build := exec.Command("go", "build", "-o", bin, "./cmd/patrol")
		build.Dir = filepath.Join("..", "..")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "sdk tests: building patrol:", err)
			return 1
		}
	}
	caFile := filepath.Join(dir, "ca.pem")
	cmd := exec.Command(bin, "--log-level", "debug", "emulator", "--addr", "127.0.0.1:0", "--ca-file", caFile, "--print-credentials")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdk tests:", err)
		return 1
	}
	var logs lockedBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "sdk tests: starting patrol emulator:", err)
		return 1
	}
	defer stop(cmd)

	env, err := readExports(stdout, 60*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sdk tests: patrol emulator: %v\n%s", err, logs.String())
		return 1
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if err := setup(env, caFile); err != nil {
		fmt.Fprintln(os.Stderr, "sdk tests:", err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "---- patrol emulator log ----\n%s", logs.String())
	}
	return code
}

// readExports parses the `export K=V` lines `patrol emulator` prints, until
// the last one --print-credentials adds (AZURE_CLIENT_SECRET).
func readExports(r io.Reader, timeout time.Duration) (map[string]string, error) {
	type result struct {
		env map[string]string
		err error
	}
	done := make(chan result, 1)
	go func() {
		env := map[string]string{}
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			kv, ok := strings.CutPrefix(line, "export ")
			if !ok {
				continue
			}
			k, v, _ := strings.Cut(kv, "=")
			v, _, _ = strings.Cut(v, "  #") // trailing comment
			env[k] = strings.Trim(strings.TrimSpace(v), "'")
			if k == "AZURE_CLIENT_SECRET" {
				done <- result{env: env}
				return
			}
		}
		done <- result{err: fmt.Errorf("its output ended before the export lines (%v)", sc.Err())}
	}()
	select {
	case res := <-done:
		return res.env, res.err
	case <-time.After(timeout):
		return nil, fmt.Errorf("no export lines within %s", timeout)
	}
}

func setup(env map[string]string, caFile string) error {
	for _, k := range []string{"PATROL_DEVOPS_URL", "PATROL_VSSPS_URL", "AZURE_AUTHORITY_HOST", "AZURE_TENANT_ID",
		"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_DEVOPS_ORG"} {
		if env[k] == "" {
			return fmt.Errorf("patrol emulator printed no %s", k)
		}
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("reading the emulator CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	emu.env = env
	emu.org = env["AZURE_DEVOPS_ORG"]
	emu.orgURL = env["PATROL_DEVOPS_URL"] + "/" + emu.org
	emu.vsspsURL = env["PATROL_VSSPS_URL"] + "/" + emu.org
	emu.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	emu.http = &http.Client{Transport: &http.Transport{TLSClientConfig: emu.tls}, Timeout: 30 * time.Second}
	return nil
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ---- credentials ----

var (
	tokenMu sync.Mutex
	tokens  = map[string]string{}
)

// bearer signs upn in with the password grant (the seed's confidential app)
// and returns an Azure DevOps access token, cached per user.
func bearer(t *testing.T, upn string) string {
	t.Helper()
	tokenMu.Lock()
	defer tokenMu.Unlock()
	if tok := tokens[upn]; tok != "" {
		return tok
	}
	form := url.Values{"grant_type": {"password"}, "client_id": {emu.env["AZURE_CLIENT_ID"]},
		"client_secret": {emu.env["AZURE_CLIENT_SECRET"]}, "username": {upn},
		"password": {emu.env["AZURE_PASSWORD"]}, "scope": {devopsScope}}
	res, err := emu.http.PostForm(emu.env["AZURE_AUTHORITY_HOST"]+emu.env["AZURE_TENANT_ID"]+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatalf("token for %s: %v", upn, err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("token for %s: %d %v %s", upn, res.StatusCode, err, body.Error)
	}
	tokens[upn] = body.AccessToken
	return body.AccessToken
}

// connection is an SDK connection as a user would make one for Entra
// sign-in: the organization URL, "Bearer <token>" and the emulator CA.
func connection(t *testing.T, upn string) *azuredevops.Connection {
	t.Helper()
	return &azuredevops.Connection{
		AuthorizationString:     "Bearer " + bearer(t, upn),
		BaseUrl:                 emu.orgURL,
		SuppressFedAuthRedirect: true,
		TlsConfig:               emu.tls,
	}
}

// patConnection is the SDK's own PAT connection plus the emulator CA.
func patConnection(pat string) *azuredevops.Connection {
	c := azuredevops.NewPatConnection(emu.orgURL, pat)
	c.TlsConfig = emu.tls
	return c
}

// createPAT makes a PAT through the PAT lifecycle API (the Go SDK has no
// client for it) and returns its authorizationId and secret.
func createPAT(t *testing.T, upn, name, scope string) (id, secret string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"displayName": name, "scope": scope,
		"validTo": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339), "allOrgs": false})
	req, _ := http.NewRequest(http.MethodPost, emu.vsspsURL+"/_apis/tokens/pats?api-version=7.1-preview.1", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer(t, upn))
	req.Header.Set("Content-Type", "application/json")
	res, err := emu.http.Do(req)
	if err != nil {
		t.Fatalf("creating PAT %s: %v", name, err)
	}
	defer res.Body.Close()
	var out struct {
		PatToken struct {
			AuthorizationID string `json:"authorizationId"`
			Token           string `json:"token"`
		} `json:"patToken"`
		PatTokenError string `json:"patTokenError"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK || out.PatToken.Token == "" {
		t.Fatalf("creating PAT %s: %d %v %s", name, res.StatusCode, err, out.PatTokenError)
	}
	return out.PatToken.AuthorizationID, out.PatToken.Token
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
