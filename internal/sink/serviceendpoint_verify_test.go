package sink_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/emulator"
	_ "github.com/patrol-dev/patrol/internal/emulator/endpointproxy" // the emulator's endpointproxy runner
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
)

const (
	sonarEpID   = "5e0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
	genericEpID = "6f1d2b3c-4d5e-4f60-9b0c-1d2e3f4a5b6c"
	githubEpID  = "7a2e3c4d-5e6f-4071-8c1d-2e3f4a5b6c7d"
)

// fakeSonar is a SonarQube that accepts one token (Basic, token as the
// username, empty password) on /api/authentication/validate.
type fakeSonar struct {
	*httptest.Server
	mu       sync.Mutex
	accept   string // "*" = any non-empty token
	softFail bool   // answer 200 {"valid":false} instead of 401, as SonarQube does
	seen     []string
}

func newFakeSonar(t *testing.T) *fakeSonar {
	f := &fakeSonar{}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		accept, soft := f.accept, f.softFail
		f.seen = append(f.seen, r.URL.Path)
		f.mu.Unlock()
		if r.URL.Path != "/api/authentication/validate" {
			http.NotFound(w, r)
			return
		}
		u, p, ok := r.BasicAuth()
		valid := ok && (u == accept || (accept == "*" && u != "")) && p == ""
		w.Header().Set("Content-Type", "application/json")
		switch {
		case valid:
			_, _ = io.WriteString(w, `{"valid":true}`)
		case soft:
			_, _ = io.WriteString(w, `{"valid":false}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"msg":"invalid token"}]}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSonar) set(accept string, soft bool) {
	f.mu.Lock()
	f.accept, f.softFail = accept, soft
	f.mu.Unlock()
}

func verifyEmulator(t *testing.T, sonar *fakeSonar) (*emulator.Emulator, *devops.Client) {
	t.Helper()
	seed := emulator.DefaultSeed()
	seed.ServiceEndpoints = append(seed.ServiceEndpoints,
		emulator.SeedEndpoint{ID: sonarEpID, Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: "sonar", Type: "sonarqube",
			URL: sonar.URL, Scheme: "UsernamePassword", Parameters: map[string]string{"username": "old-token"}},
		emulator.SeedEndpoint{ID: genericEpID, Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: "plain", Type: "generic",
			URL: sonar.URL, Scheme: "UsernamePassword", Parameters: map[string]string{"username": "u", "password": "old"}},
		emulator.SeedEndpoint{ID: githubEpID, Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: "gh", Type: "github",
			URL: "https://github.com", Scheme: "Token", Parameters: map[string]string{"AccessToken": "old"}},
	)
	return startDevOps(t, emulator.Options{Seed: &seed, OutboundHTTPClient: sonar.Client()})
}

func proxyCalls(e *emulator.Emulator) int64 { return e.CountRequests("endpointproxy") }

func TestServiceEndpointVerify(t *testing.T) {
	ctx := context.Background()
	for _, ref := range []string{`"endpointId":"` + sonarEpID + `"`, `"endpointName":"sonar"`} {
		t.Run(ref, func(t *testing.T) {
			sonar := newFakeSonar(t)
			_, c := verifyEmulator(t, sonar)
			s := build(t, `{"type":"azure-devops-service-endpoint","project":"Platform",`+ref+`,"parameter":"username","pollInterval":"10ms"}`, sink.Deps{DevOps: c})
			v, ok := s.(sink.Verifier)
			if !ok {
				t.Fatal("the service-endpoint sink does not implement sink.Verifier")
			}
			// The tool knows the new token; the connection still holds the old one.
			sonar.set(secret, false)
			err := v.Verify(ctx, meta)
			var ve *sink.EndpointVerifyError
			if !errors.As(err, &ve) || ve.StatusCode != "unauthorized" || errkind.Of(err) != errkind.Auth || ve.ID != sonarEpID || ve.Endpoint != "sonar" {
				t.Fatalf("before the rotation the connection holds the old token, Verify should fail unauthorized: %v", err)
			}
			// Rotate via the sink: now the consumer sees the token the tool accepts.
			if err := s.Write(ctx, secret, meta); err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(ctx, meta); err != nil {
				t.Fatalf("after the rotation: %v", err)
			}
			// A tool that refuses the new token.
			sonar.set("something-else", false)
			err = v.Verify(ctx, meta)
			if !errors.As(err, &ve) || ve.StatusCode != "unauthorized" || errkind.Of(err) != errkind.Auth {
				t.Fatalf("refused token: %v", err)
			}
			if msg := err.Error(); !strings.Contains(msg, `"sonar"`) || !strings.Contains(msg, "unauthorized") || strings.Contains(msg, secret) {
				t.Fatalf("error must name the endpoint and status, never the secret: %s", msg)
			}
			// SonarQube's soft refusal: 200 {"valid":false}.
			sonar.set("something-else", true)
			err = v.Verify(ctx, meta)
			if !errors.As(err, &ve) || ve.StatusCode != "ok" || !strings.Contains(err.Error(), "false") {
				t.Fatalf("valid:false: %v", err)
			}
		})
	}
}

func TestServiceEndpointVerifyNotVerifiable(t *testing.T) {
	sonar := newFakeSonar(t)
	e, c := verifyEmulator(t, sonar)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		id        string
		param     string
		wantProxy int64 // endpointproxy calls: generic is known locally, github is answered by the proxy
	}{
		"generic": {genericEpID, "password", 0},
		"github":  {githubEpID, "AccessToken", 1},
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			s := build(t, `{"type":"azure-devops-service-endpoint","project":"Platform","endpointId":"`+tc.id+`","parameter":"`+tc.param+`","pollInterval":"10ms"}`,
				sink.Deps{DevOps: c, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
			if err := s.Write(ctx, secret, meta); err != nil {
				t.Fatal(err)
			}
			e.ResetCounters()
			if err := s.(sink.Verifier).Verify(ctx, meta); err != nil {
				t.Fatalf("a type without TestConnection is not verifiable, not failed: %v", err)
			}
			if got := proxyCalls(e); got != tc.wantProxy {
				t.Fatalf("endpointproxy calls = %d, want %d", got, tc.wantProxy)
			}
			if l := logs.String(); !strings.Contains(l, "level=INFO") || !strings.Contains(l, "not verified") || strings.Contains(l, secret) {
				t.Fatalf("log: %s", l)
			}
		})
	}
}

func TestServiceEndpointVerifyErrorKinds(t *testing.T) {
	for status, want := range map[string]errkind.Kind{
		"unauthorized": errkind.Auth, "forbidden": errkind.Permission, "notFound": errkind.NotFound,
		"badGateway": errkind.Transient, "tooManyRequests": errkind.Transient, "badRequest": errkind.Unknown,
	} {
		if got := (&sink.EndpointVerifyError{StatusCode: status}).Kind(); got != want {
			t.Errorf("%s: kind %v, want %v", status, got, want)
		}
	}
}

// Through the rotation engine: a tool that refuses the new PAT fails the
// credential with reason verify, and the PAT it replaced is kept, not revoked.
func TestServiceEndpointVerifyInRotation(t *testing.T) {
	sonar := newFakeSonar(t)
	_, c := verifyEmulator(t, sonar)
	ctx := context.Background()
	s := build(t, `{"type":"azure-devops-service-endpoint","project":"Platform","endpointName":"sonar","parameter":"username","pollInterval":"10ms"}`, sink.Deps{DevOps: c})
	eng := &rotation.Engine{PATs: c, Targets: []rotation.Target{{Credential: config.Credential{Name: "sonar", Scopes: []string{"vso.code"}, Lifetime: config.Duration(30 * 24 * time.Hour)}, Sinks: []sink.Sink{s}}}}
	run := func() rotation.Result {
		t.Helper()
		plan, err := eng.Plan(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		rep := eng.Apply(ctx, plan)
		if len(rep.Results) != 1 {
			t.Fatalf("results: %+v", rep.Results)
		}
		return rep.Results[0]
	}
	sonar.set("*", false)
	first := run()
	if first.Err != nil || first.AuthorizationID == "" {
		t.Fatalf("first rotation: %+v", first)
	}
	sonar.set("only-an-old-token", false)
	second := run()
	if second.Err == nil || second.Reason != "verify" || errkind.Of(second.Err) != errkind.Auth {
		t.Fatalf("second rotation with a refusing tool: reason %q err %v", second.Reason, second.Err)
	}
	if len(second.Revoked) != 0 || len(second.Kept) != 1 || !strings.EqualFold(second.Kept[0], first.AuthorizationID) {
		t.Fatalf("the replaced PAT must be kept: revoked %v kept %v", second.Revoked, second.Kept)
	}
	pat, err := c.GetPAT(ctx, first.AuthorizationID)
	if err != nil || !pat.ValidTo.After(time.Now()) {
		t.Fatalf("replaced PAT after a failed verification: %+v %v", pat, err)
	}
	if h, err := s.Read(ctx); err != nil || h.AuthorizationID != second.AuthorizationID {
		t.Fatalf("the connection holds %+v (%v), want the new PAT %s", h, err, second.AuthorizationID)
	}
}
