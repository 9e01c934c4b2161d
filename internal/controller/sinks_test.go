package controller_test

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/controller"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/kubetest"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// tool is a third-party HTTPS API that takes the PAT (the http sink's consumer).
type tool struct {
	mu          sync.Mutex
	token, auth string
	srv         *httptest.Server
	onRequest   func() // runs as a request arrives (nil: nothing)
}

func newTool(t *testing.T) *tool {
	tl := &tool{}
	tl.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		v, _ := url.ParseQuery(string(b))
		tl.mu.Lock()
		tl.token, tl.auth = v.Get("pat"), r.Header.Get("Authorization")
		on := tl.onRequest
		tl.mu.Unlock()
		if on != nil {
			on()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(tl.srv.Close)
	return tl
}

func (tl *tool) holds() (token, auth string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.token, tl.auth
}

const sinkEndpointID = "5f0c2a1e-8d3b-4c6a-9e7f-1a2b3c4d5e6f"

// A PersonalAccessToken with further sinks — a service connection, a
// variable group, a Key Vault secret and an HTTP API — against the real
// kube-apiserver and the emulator: every sink holds the new PAT; a forced
// renewal updates them all and revokes the old PAT; a sink that fails
// (the emulator answers 503 on the variable group's update) keeps the old
// PAT unrevoked, sets Ready=False reason SinkFailed naming the sink, and
// records an Event; once the sink works again the controller recovers.
func TestPersonalAccessTokenSinks(t *testing.T) {
	seed := emulator.DefaultSeed()
	seed.ServiceEndpoints = append(seed.ServiceEndpoints, emulator.SeedEndpoint{
		ID: sinkEndpointID, Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: "deploy-conn", Type: "Generic",
		URL: "https://deploy.example", Scheme: "UsernamePassword", Parameters: map[string]string{"username": "bot", "password": "old"},
	})
	seed.VariableGroups = append(seed.VariableGroups, emulator.SeedVariableGroup{
		Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: "ado-creds",
		Variables: map[string]emulator.SeedVar{"OTHER": {Value: "keep-me", IsSecret: true}},
	})
	w := newWorldWith(t, emulator.Options{Seed: &seed})
	tl := newTool(t)
	ctx := context.Background()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tl.srv.Certificate().Raw})
	for name, data := range map[string]map[string][]byte{
		"tool-admin": {"token": []byte("tool-admin-token")},
		"tool-ca":    {"ca.pem": caPEM},
	} {
		if err := w.cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	gs, err := w.verf.ListVariableGroups(ctx, emulator.DefaultProject, "ado-creds")
	if err != nil || len(gs) != 1 {
		t.Fatalf("variable group: %v %v", gs, err)
	}
	groupID := gs[0].ID
	w.runController(controller.Options{})

	pat := w.pat("deliver", func(p *patrolv1.PersonalAccessToken) {
		p.Spec.Sinks = []patrolv1.PATSink{
			{Name: "se", ServiceConnection: &patrolv1.ServiceConnectionSink{Project: emulator.DefaultProject, EndpointName: "deploy-conn", Parameter: "password",
				PollInterval: &metav1.Duration{Duration: 10 * time.Millisecond}}},
			{Name: "vg", VariableGroup: &patrolv1.VariableGroupSink{Project: emulator.DefaultProject, GroupName: "ado-creds", Variable: "ADO_PAT"}},
			{Name: "kv", KeyVault: &patrolv1.KeyVaultSink{VaultURL: w.emu.KeyVaultURL("patrol-kv"), SecretName: "ado-pat", DisableChallengeResourceVerification: true}},
			{Name: "tool", HTTP: &patrolv1.HTTPSink{URL: tl.srv.URL + "/api/token", Body: "pat={{token}}", ContentType: "application/x-www-form-urlencoded",
				Auth:        &patrolv1.HTTPSinkAuth{Type: "bearer", TokenRef: &patrolv1.SecretKeyRef{Name: "tool-admin", Key: "token"}},
				CABundleRef: &patrolv1.SecretKeyRef{Name: "tool-ca", Key: "ca.pem"}}},
		}
	})
	if err := w.cl.Create(ctx, pat); err != nil {
		t.Fatal(err)
	}
	// everywhere checks that the Secret and every sink hold one PAT, which
	// authenticates, and that status.sinks says so; it returns the PAT.
	everywhere := func(p *patrolv1.PersonalAccessToken) string {
		t.Helper()
		tok := string(w.secret("deliver-secret").Data["token"])
		if !w.works(tok) {
			t.Fatal("the Secret's PAT does not authenticate")
		}
		if v, _ := w.emu.ServiceEndpointSecret(emulator.DefaultOrg, sinkEndpointID, "password"); v != tok {
			t.Errorf("service connection holds another value")
		}
		if v, _ := w.emu.ServiceEndpointSecret(emulator.DefaultOrg, sinkEndpointID, "username"); v != "bot" {
			t.Errorf("service connection's username changed: %q", v)
		}
		if v, _ := w.emu.VariableGroupValue(emulator.DefaultOrg, groupID, "ADO_PAT"); v != tok {
			t.Errorf("variable group holds another value")
		}
		if v, _ := w.emu.VariableGroupValue(emulator.DefaultOrg, groupID, "OTHER"); v != "keep-me" {
			t.Errorf("variable group lost its other secret")
		}
		if s, ok := w.emu.KeyVaultSecret("patrol-kv", "ado-pat"); !ok || s.Value != tok {
			t.Errorf("Key Vault secret: present %v, holds the PAT %v", ok, s.Value == tok)
		}
		if got, auth := tl.holds(); got != tok || auth != "Bearer tool-admin-token" {
			t.Errorf("http tool: holds the PAT %v, Authorization %q", got == tok, auth)
		}
		if len(p.Status.Sinks) != 4 {
			t.Fatalf("status.sinks: %+v", p.Status.Sinks)
		}
		for i, want := range []struct{ name, kind, dest string }{
			{"se", "serviceConnection", "azure-devops-service-endpoint:"}, {"vg", "variableGroup", "azure-devops-variable-group:Platform/ado-creds#ADO_PAT"},
			{"kv", "keyVault", "azure-key-vault:"}, {"tool", "http", "http:tool"},
		} {
			s := p.Status.Sinks[i]
			if s.Name != want.name || s.Kind != want.kind || !strings.HasPrefix(s.Destination, want.dest) || s.AuthorizationID != p.Status.AuthorizationID ||
				s.LastDeliveredTime == nil || s.LastError != "" || s.DeliveryPending || s.NotAfter == nil {
				t.Errorf("status.sinks[%d] = %+v, want %s/%s holding %s", i, s, want.name, want.kind, p.Status.AuthorizationID)
			}
		}
		return tok
	}
	p := w.readyWith("deliver", "")
	first := everywhere(p)
	cred := w.ns + ".deliver"

	// Forced renewal: every sink gets the new PAT, then the old one is revoked.
	p.Annotations = map[string]string{patrolv1.AnnotationRenewNow: "1"}
	if err := w.cl.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	p = w.readyWith("deliver", p.Status.AuthorizationID)
	second := everywhere(p)
	if second == first {
		t.Fatal("not renewed")
	}
	w.eventually("first PAT revoked", 10*time.Second, func() error {
		if w.works(first) {
			return errors.New("the replaced PAT still authenticates")
		}
		return nil
	})

	// The variable group fails: the new PAT reaches the others, the old
	// one stays valid (the group still holds it), Ready=False names it.
	w.emu.SetFaults(emulator.Faults{ServerErrorRate: 1, Routes: []string{"PUT /devops/{org}/_apis/distributedtask/variablegroups/{id}"}})
	p.Annotations[patrolv1.AnnotationRenewNow] = "2"
	if err := w.cl.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	w.eventually("SinkFailed", 60*time.Second, func() error {
		p = w.get("deliver")
		c := meta.FindStatusCondition(p.Status.Conditions, patrolv1.ConditionReady)
		ic := meta.FindStatusCondition(p.Status.Conditions, patrolv1.ConditionIssuing)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != patrolv1.ReasonSinkFailed || !strings.Contains(c.Message, "sink vg (variableGroup)") ||
			ic == nil || ic.Reason != patrolv1.ReasonSinkFailed {
			return fmt.Errorf("conditions %+v", p.Status.Conditions)
		}
		return nil
	})
	if v, _ := w.emu.VariableGroupValue(emulator.DefaultOrg, groupID, "ADO_PAT"); v != second {
		t.Error("the failed variable group does not hold the previous PAT")
	}
	if !w.works(second) {
		t.Error("the PAT the failed sink holds was revoked")
	}
	if vg := p.Status.Sinks[1]; vg.Name != "vg" || vg.LastError == "" || vg.LastErrorTime == nil || vg.AuthorizationID == p.Status.Sinks[0].AuthorizationID {
		t.Errorf("status.sinks[vg] = %+v", vg)
	}
	if p.Status.LastFailure == "" || !strings.Contains(p.Status.LastFailure, "sink vg") || strings.Contains(p.Status.LastFailure, second) {
		t.Errorf("lastFailure %q", p.Status.LastFailure)
	}
	var evs eventsv1.EventList
	if err := w.cl.List(ctx, &evs, client.InNamespace(w.ns)); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs.Items {
		found = found || (e.Regarding.Name == "deliver" && e.Reason == patrolv1.ReasonSinkFailed && strings.Contains(e.Note, "sink vg"))
	}
	if !found {
		t.Error("no SinkFailed Event naming the sink")
	}

	// Fixed: the next attempt (backoff) brings every sink in line and
	// revokes what they held before.
	w.emu.SetFaults(emulator.Faults{})
	w.eventually("recovered", 60*time.Second, func() error {
		p = w.get("deliver")
		c := meta.FindStatusCondition(p.Status.Conditions, patrolv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue || p.Status.AuthorizationID == "" || p.Status.AuthorizationID == p.Status.Sinks[1].AuthorizationID && p.Status.Sinks[1].LastError != "" {
			return fmt.Errorf("conditions %+v", p.Status.Conditions)
		}
		return nil
	})
	third := everywhere(p)
	if third == second {
		t.Fatal("not renewed after the failure")
	}
	w.eventually("second PAT revoked", 10*time.Second, func() error {
		if w.works(second) {
			return errors.New("the PAT the failed sink held still authenticates")
		}
		return nil
	})
	if ids := w.managed(cred); len(ids) != 1 || ids[0] != p.Status.AuthorizationID {
		t.Errorf("active managed PATs %v, want only %s", ids, p.Status.AuthorizationID)
	}

	// A sink naming a service connection that does not exist cannot be
	// read: nothing is created or revoked, and the condition names it.
	current := p.Status.AuthorizationID
	p.Spec.Sinks = append(p.Spec.Sinks, patrolv1.PATSink{Name: "missing", ServiceConnection: &patrolv1.ServiceConnectionSink{Project: emulator.DefaultProject, EndpointName: "nope", Parameter: "password"}})
	if err := w.cl.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	w.eventually("SinkFailed (missing)", 30*time.Second, func() error {
		p = w.get("deliver")
		c := meta.FindStatusCondition(p.Status.Conditions, patrolv1.ConditionReady)
		if c == nil || c.Reason != patrolv1.ReasonSinkFailed || !strings.Contains(c.Message, "sink missing (serviceConnection) cannot be read: ") || p.Status.ObservedGeneration != p.Generation {
			return fmt.Errorf("conditions %+v", p.Status.Conditions)
		}
		return nil
	})
	if ids := w.managed(cred); len(ids) != 1 || ids[0] != current || !w.works(third) {
		t.Errorf("active managed PATs %v, want only %s, still working", ids, current)
	}
	if len(p.Status.Sinks) != 5 || p.Status.Sinks[4].LastError == "" {
		t.Errorf("status.sinks: %+v", p.Status.Sinks)
	}
	// Removed again: Ready with the same PAT.
	p.Spec.Sinks = p.Spec.Sinks[:4]
	if err := w.cl.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	p = w.readyWith("deliver", "")
	if p.Status.AuthorizationID != current || len(p.Status.Sinks) != 4 {
		t.Errorf("after removing the missing sink: %s, %d sinks", p.Status.AuthorizationID, len(p.Status.Sinks))
	}
}

// The apiserver refuses, at admission, the sinks its OpenAPI and CEL rules
// can check; each refusal names the problem.
func TestAdmissionRefusesBadSinks(t *testing.T) {
	c := kubetest.Start(t)
	cl := installCRDs(t, c)
	w := &world{t: t, ns: c.Namespace(t)}
	vg := func() *patrolv1.VariableGroupSink {
		return &patrolv1.VariableGroupSink{Project: "Platform", GroupName: "ado-creds", Variable: "ADO_PAT"}
	}
	ref := &patrolv1.SecretKeyRef{Name: "tool-admin", Key: "token"}
	for _, tc := range []struct {
		name  string
		sinks []patrolv1.PATSink
		want  string
	}{
		{"no-kind", []patrolv1.PATSink{{Name: "a"}}, "set exactly one of serviceConnection, variableGroup, keyVault or http"},
		{"two-kinds", []patrolv1.PATSink{{Name: "a", VariableGroup: vg(), KeyVault: &patrolv1.KeyVaultSink{VaultURL: "https://v.vault.azure.net", SecretName: "s"}}}, "set exactly one of"},
		{"same-name", []patrolv1.PATSink{{Name: "a", VariableGroup: vg()}, {Name: "a", VariableGroup: vg()}}, "Duplicate value"},
		{"bad-name", []patrolv1.PATSink{{Name: "Bad_Name", VariableGroup: vg()}}, "spec.sinks[0].name"},
		{"endpoint-both", []patrolv1.PATSink{{Name: "a", ServiceConnection: &patrolv1.ServiceConnectionSink{Project: "P", EndpointID: sinkEndpointID, EndpointName: "x", Parameter: "apitoken"}}}, "exactly one of endpointId or endpointName"},
		{"endpoint-parameter", []patrolv1.PATSink{{Name: "a", ServiceConnection: &patrolv1.ServiceConnectionSink{Project: "P", EndpointName: "x"}}}, "spec.sinks[0].serviceConnection.parameter"},
		{"group-none", []patrolv1.PATSink{{Name: "a", VariableGroup: &patrolv1.VariableGroupSink{Project: "P", Variable: "V"}}}, "exactly one of groupId or groupName"},
		{"vault-secret-name", []patrolv1.PATSink{{Name: "a", KeyVault: &patrolv1.KeyVaultSink{VaultURL: "https://v.vault.azure.net", SecretName: "ado_pat"}}}, "spec.sinks[0].keyVault.secretName"},
		{"vault-http", []patrolv1.PATSink{{Name: "a", KeyVault: &patrolv1.KeyVaultSink{VaultURL: "http://v.vault.azure.net", SecretName: "s"}}}, "spec.sinks[0].keyVault.vaultUrl"},
		{"vault-no-challenge-check", []patrolv1.PATSink{{Name: "a", KeyVault: &patrolv1.KeyVaultSink{VaultURL: "https://evil.example", SecretName: "s", DisableChallengeResourceVerification: true}}}, "only for a vault on the loopback address"},
		{"vault-tag", []patrolv1.PATSink{{Name: "a", KeyVault: &patrolv1.KeyVaultSink{VaultURL: "https://v.vault.azure.net", SecretName: "s", Tags: map[string]string{"Patrol-x": "y"}}}}, "prefix is reserved"},
		{"http-plain", []patrolv1.PATSink{{Name: "a", HTTP: &patrolv1.HTTPSink{URL: "http://tool.example/api", Body: "{{token}}"}}}, "spec.sinks[0].http.url"},
		{"http-authorization", []patrolv1.PATSink{{Name: "a", HTTP: &patrolv1.HTTPSink{URL: "https://tool.example/api", Body: "{{token}}", Headers: map[string]string{"authorization": "Bearer x"}}}}, "never inline"},
		{"http-bearer", []patrolv1.PATSink{{Name: "a", HTTP: &patrolv1.HTTPSink{URL: "https://tool.example/api", Body: "{{token}}", Auth: &patrolv1.HTTPSinkAuth{Type: "bearer"}}}}, "bearer needs tokenRef"},
		{"http-basic", []patrolv1.PATSink{{Name: "a", HTTP: &patrolv1.HTTPSink{URL: "https://tool.example/api", Body: "{{token}}", Auth: &patrolv1.HTTPSinkAuth{Type: "basic", TokenRef: ref}}}}, "basic needs username and passwordRef"},
		{"http-status", []patrolv1.PATSink{{Name: "a", HTTP: &patrolv1.HTTPSink{URL: "https://tool.example/api", Body: "{{token}}", ExpectStatus: []int32{42}}}}, "spec.sinks[0].http.expectStatus[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cl.Create(context.Background(), w.pat("bad-"+tc.name, func(p *patrolv1.PersonalAccessToken) { p.Spec.Sinks = tc.sinks }))
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want a refusal naming %q, got %v", tc.want, err)
			}
		})
	}
	good := w.pat("good", func(p *patrolv1.PersonalAccessToken) {
		p.Spec.Sinks = []patrolv1.PATSink{
			{Name: "se", ServiceConnection: &patrolv1.ServiceConnectionSink{Project: "P", EndpointID: sinkEndpointID, Parameter: "apitoken"}},
			{Name: "vg", VariableGroup: vg()},
			{Name: "kv", KeyVault: &patrolv1.KeyVaultSink{VaultURL: "https://v.vault.azure.net", SecretName: "ado-pat", Tags: map[string]string{"team": "build"}}},
			{Name: "tool", HTTP: &patrolv1.HTTPSink{URL: "https://tool.example/api", Body: "pat={{token}}", Auth: &patrolv1.HTTPSinkAuth{Type: "basic", Username: "admin", PasswordRef: ref}, ExpectStatus: []int32{200, 204}}},
		}
	})
	if err := cl.Create(context.Background(), good); err != nil {
		t.Fatalf("valid sinks were refused: %v", err)
	}
}
