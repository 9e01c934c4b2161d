package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/patrol-dev/patrol/internal/emulator"
)

// refusingSonar is a SonarQube whose /api/authentication/validate accepts
// any token until refuse is set.
type refusingSonar struct {
	*httptest.Server
	mu     sync.Mutex
	refuse bool
}

func (s *refusingSonar) set(refuse bool) { s.mu.Lock(); s.refuse = refuse; s.mu.Unlock() }

func newRefusingSonar(t *testing.T) *refusingSonar {
	s := &refusingSonar{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		refuse := s.refuse
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if u, _, ok := r.BasicAuth(); !ok || u == "" || refuse {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"msg":"invalid token"}]}`)
			return
		}
		_, _ = io.WriteString(w, `{"valid":true}`)
	}))
	t.Cleanup(s.Close)
	return s
}

// emuEnvSonar is emuEnv with a SonarQube service connection ("sonar" in
// project Platform) whose TestConnection reaches sonar.
func emuEnvSonar(t *testing.T, sonar *refusingSonar) map[string]string {
	t.Helper()
	seed := emulator.DefaultSeed()
	seed.ServiceEndpoints = append(seed.ServiceEndpoints, emulator.SeedEndpoint{ID: "5e0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
		Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: "sonar", Type: "sonarqube",
		URL: sonar.URL, Scheme: "UsernamePassword", Parameters: map[string]string{"username": "old-token"}})
	_, env := emuEnvOpts(t, emulator.Options{Seed: &seed, OutboundHTTPClient: sonar.Client()})
	return env
}

func statusJSON(t *testing.T, env map[string]string, cfg string) (int, StatusCredential) {
	t.Helper()
	code, out, errOut := runCLI(t, env, "status", "--config", cfg, "-o", "json")
	var st Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Credentials) != 1 {
		t.Fatalf("status: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
	return code, st.Credentials[0]
}

// `patrol status` right after a run whose new PAT the consumer refused says
// failed (reason verify), not ok — and keeps saying so on the next run, which
// checks the consumer again, until the consumer accepts the credential.
func TestStatusRemembersFailedVerification(t *testing.T) {
	sonar := newRefusingSonar(t)
	env := emuEnvSonar(t, sonar)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "patrol.yaml")
	if err := os.WriteFile(cfg, []byte(`organization: contoso
rotation:
  lock: {type: none}
  stateFile: `+filepath.Join(dir, "state.json")+`
credentials:
  - name: sonar
    scopes: [vso.code]
    sinks:
      - {type: azure-devops-service-endpoint, project: Platform, endpointName: sonar, parameter: username, pollInterval: 10ms}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, env, "rotate", "--config", cfg); code != 0 {
		t.Fatalf("first rotation: %d\n%s\n%s", code, out, errOut)
	}
	if code, sc := statusJSON(t, env, cfg); code != 0 || sc.Health != "ok" {
		t.Fatalf("status after a good rotation: %d %+v", code, sc)
	}
	sonar.set(true)
	if code, _, errOut := runCLI(t, env, "rotate", "--config", cfg, "--force"); code == 0 || !strings.Contains(errOut, "does not work with the new PAT") {
		t.Fatalf("refused rotation: exit %d\n%s", code, errOut)
	}
	code, sc := statusJSON(t, env, cfg)
	if code != 8 || sc.Health != "failed" || sc.Last == nil || sc.Last.Reason != "verify" || sc.Ready {
		t.Fatalf("status after a refused verification: exit %d %+v", code, sc)
	}
	// The next run is not due, but checks the consumer again: still refused.
	if code, _, _ := runCLI(t, env, "rotate", "--config", cfg); code == 0 {
		t.Fatal("a run while the consumer still refuses the PAT succeeded")
	}
	if code, sc := statusJSON(t, env, cfg); code != 8 || sc.Health != "failed" {
		t.Fatalf("status while the consumer still refuses: exit %d %+v", code, sc)
	}
	// Fixed: the next run's check passes and status is ok again.
	sonar.set(false)
	if code, out, errOut := runCLI(t, env, "rotate", "--config", cfg); code != 0 {
		t.Fatalf("run after the fix: %d\n%s\n%s", code, out, errOut)
	}
	if code, sc := statusJSON(t, env, cfg); code != 0 || sc.Health != "ok" {
		t.Fatalf("status after the fix: %d %+v", code, sc)
	}
}
