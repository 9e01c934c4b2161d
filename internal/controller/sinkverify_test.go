package controller_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/controller"
	"github.com/patrol-dev/patrol/internal/emulator"
	_ "github.com/patrol-dev/patrol/internal/emulator/endpointproxy" // the emulator's endpointproxy runner (TestConnection)
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// sonar is a SonarQube whose /api/authentication/validate accepts a token
// (Basic, token as the username) while accept says so.
type sonar struct {
	*httptest.Server
	mu     sync.Mutex
	accept bool
}

func newSonar(t *testing.T) *sonar {
	s := &sonar{accept: true}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		ok := s.accept
		s.mu.Unlock()
		u, _, basic := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/authentication/validate" && basic && u != "" && ok {
			_, _ = io.WriteString(w, `{"valid":true}`)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"errors":[{"msg":"invalid token"}]}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sonar) set(accept bool) {
	s.mu.Lock()
	s.accept = accept
	s.mu.Unlock()
}

// A service connection that refuses the new PAT (its TestConnection, run
// through Azure DevOps, fails): the replaced PAT is kept — also by the
// following reconciles, which verify the connection again instead of
// taking the delivery for done — until the connection accepts the PAT;
// then the replaced one is revoked.
func TestPersonalAccessTokenSinkVerify(t *testing.T) {
	sq := newSonar(t)
	seed := emulator.DefaultSeed()
	seed.ServiceEndpoints = append(seed.ServiceEndpoints, emulator.SeedEndpoint{
		ID: sinkEndpointID, Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: "sonar", Type: "sonarqube",
		URL: sq.URL, Scheme: "UsernamePassword", Parameters: map[string]string{"username": "old-token"},
	})
	w := newWorldWith(t, emulator.Options{Seed: &seed, OutboundHTTPClient: sq.Client()})
	w.runController(controller.Options{})
	ctx := context.Background()
	pat := w.pat("scan", func(p *patrolv1.PersonalAccessToken) {
		p.Spec.Sinks = []patrolv1.PATSink{{Name: "sonar", ServiceConnection: &patrolv1.ServiceConnectionSink{
			Project: emulator.DefaultProject, EndpointID: sinkEndpointID, Parameter: "username", PollInterval: &metav1.Duration{Duration: 10 * time.Millisecond}}}}
	})
	if err := w.cl.Create(ctx, pat); err != nil {
		t.Fatal(err)
	}
	p := w.readyWith("scan", "")
	first := string(w.secret("scan-secret").Data["token"])

	sq.set(false)
	p.Annotations = map[string]string{patrolv1.AnnotationRenewNow: "1"}
	if err := w.cl.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	failed := func() error {
		p = w.get("scan")
		c := meta.FindStatusCondition(p.Status.Conditions, patrolv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != patrolv1.ReasonSinkFailed || !strings.Contains(c.Message, "sink sonar (serviceConnection)") {
			return fmt.Errorf("conditions %+v", p.Status.Conditions)
		}
		return nil
	}
	w.eventually("SinkFailed (verify)", 60*time.Second, failed)
	if !w.works(first) {
		t.Fatal("the replaced PAT was revoked although the connection refuses the new one")
	}
	// Several backoff periods later (200ms … 2s): still failed, still kept.
	attempts := p.Status.FailedIssuanceAttempts
	w.eventually("further attempts", 30*time.Second, func() error {
		if err := failed(); err != nil {
			return err
		}
		if p.Status.FailedIssuanceAttempts < attempts+2 {
			return fmt.Errorf("%d attempts", p.Status.FailedIssuanceAttempts)
		}
		return nil
	})
	if !w.works(first) {
		t.Fatal("a later reconcile revoked the replaced PAT although the connection still refuses the new one")
	}
	if s := p.Status.Sinks[0]; !strings.HasPrefix(s.LastError, "verify: ") {
		t.Errorf("status.sinks[sonar] = %+v", s)
	}

	sq.set(true)
	p = w.readyWith("scan", "")
	w.eventually("replaced PAT revoked", 20*time.Second, func() error {
		if w.works(first) {
			return errors.New("the replaced PAT still authenticates")
		}
		return nil
	})
	if ids := w.managed(w.ns + ".scan"); len(ids) != 1 || ids[0] != p.Status.AuthorizationID {
		t.Errorf("active managed PATs %v, want only %s", ids, p.Status.AuthorizationID)
	}
	if s := p.Status.Sinks[0]; s.LastError != "" || s.AuthorizationID != p.Status.AuthorizationID {
		t.Errorf("status.sinks[sonar] = %+v", s)
	}
}
