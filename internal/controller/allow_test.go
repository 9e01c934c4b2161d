package controller_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/controller"
	"github.com/patrol-dev/patrol/internal/emulator"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// An identity whose spec.endpoints name a host outside
// --allowed-endpoint-hosts is Ready=False (EndpointNotAllowed, naming the
// field, the host and the fix), so are the PersonalAccessTokens using it,
// and no request reaches that host: not the sign-in with the password
// (authorityHost), not the PAT API (vssps). The emulator (127.0.0.1) is
// allowed; the other server is reached as localhost, which is not.
func TestEndpointHostNotAllowed(t *testing.T) {
	w := newWorld(t)
	hits, elsewhere := countingServer(t)
	ctx := context.Background()
	mk := func(name string, ep patrolv1.Endpoints) {
		ep.DisableInstanceDiscovery = true
		id := &patrolv1.AzureDevOpsIdentity{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}, Spec: patrolv1.AzureDevOpsIdentitySpec{
			Organization: emulator.DefaultOrg, Method: patrolv1.MethodROPC, TenantID: emulator.DefaultTenantID, ClientID: emulator.DefaultClientID,
			Username: emulator.DefaultUser, PasswordRef: &patrolv1.SecretKeyRef{Name: "ado-login", Key: "password"}, Endpoints: &ep}}
		if err := w.cl.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := w.cl.Create(ctx, w.pat(name+"-pat", func(p *patrolv1.PersonalAccessToken) { p.Spec.IdentityRef.Name = name })); err != nil {
			t.Fatal(err)
		}
	}
	mk("vssps-elsewhere", patrolv1.Endpoints{AuthorityHost: w.emu.AuthorityHost(), VSSPS: elsewhere, DevOps: w.emu.DevOpsURL()})
	mk("authority-elsewhere", patrolv1.Endpoints{AuthorityHost: elsewhere + "/", VSSPS: w.emu.VSSPSURL(), DevOps: w.emu.DevOpsURL()})
	w.runController(controller.Options{})
	// The allowed identity still works next to them.
	if err := w.cl.Create(ctx, w.pat("fine")); err != nil {
		t.Fatal(err)
	}
	w.readyWith("fine", "")

	for name, field := range map[string]string{"vssps-elsewhere": "spec.endpoints.vssps", "authority-elsewhere": "spec.endpoints.authorityHost"} {
		wants := []string{field, "host localhost", "--allowed-endpoint-hosts", "controller.allowedEndpointHosts", "nothing is sent"}
		w.eventually(name+" EndpointNotAllowed", 30*time.Second, func() error {
			var id patrolv1.AzureDevOpsIdentity
			if err := w.cl.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: name}, &id); err != nil {
				return err
			}
			return hasCondition(id.Status.Conditions, patrolv1.ReasonEndpointNotAllowed, wants)
		})
		w.eventually(name+"-pat EndpointNotAllowed", 30*time.Second, func() error {
			p := w.get(name + "-pat")
			if p.Status.FailedIssuanceAttempts < 2 {
				return fmt.Errorf("%d attempts, want retries", p.Status.FailedIssuanceAttempts)
			}
			return hasCondition(p.Status.Conditions, patrolv1.ReasonEndpointNotAllowed, wants)
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d request(s) reached the host that is not allowed", n)
	}
}

func hasCondition(conds []metav1.Condition, reason string, wants []string) error {
	c := meta.FindStatusCondition(conds, patrolv1.ConditionReady)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reason {
		return fmt.Errorf("Ready %+v, want False %s", c, reason)
	}
	for _, s := range wants {
		if !strings.Contains(c.Message, s) {
			return fmt.Errorf("message %q lacks %q", c.Message, s)
		}
	}
	return nil
}

// spec.sinks of kind http and keyVault deliver only to hosts of
// --allowed-sink-hosts: a tool reached as localhost (not allowed here) and
// a vault outside Azure's Key Vault domains get Ready=False
// (EndpointNotAllowed naming the field, the host and the flag), no PAT is
// created and no connection reaches the tool. The allowed list is the
// default plus the emulator, so *.vault.azure.net stays allowed.
func TestSinkHostNotAllowed(t *testing.T) {
	w := newWorld(t)
	hits, elsewhere := countingServer(t)
	ctx := context.Background()
	cases := map[string]struct {
		sink  patrolv1.PATSink
		field string
		host  string
	}{
		"tool":  {patrolv1.PATSink{Name: "tool", HTTP: &patrolv1.HTTPSink{URL: elsewhere + "/api/token", Body: "pat={{token}}"}}, "spec.sinks[0] (tool).http.url", "host localhost"},
		"vault": {patrolv1.PATSink{Name: "kv", KeyVault: &patrolv1.KeyVaultSink{VaultURL: "https://kv.vault.contoso.example", SecretName: "ado-pat"}}, "spec.sinks[0] (kv).keyVault.vaultUrl", "host kv.vault.contoso.example"},
	}
	for name, c := range cases {
		if err := w.cl.Create(ctx, w.pat(name, func(p *patrolv1.PersonalAccessToken) { p.Spec.Sinks = []patrolv1.PATSink{c.sink} })); err != nil {
			t.Fatal(err)
		}
	}
	w.runController(controller.Options{AllowedSinkHosts: append([]string{"127.0.0.1"}, controller.DefaultAllowedSinkHosts...)})
	for name, c := range cases {
		wants := []string{c.field, c.host, "--allowed-sink-hosts", "controller.allowedSinkHosts", "nothing is sent"}
		w.eventually(name+" EndpointNotAllowed", 30*time.Second, func() error {
			return hasCondition(w.get(name).Status.Conditions, patrolv1.ReasonEndpointNotAllowed, wants)
		})
		if ids := w.managed(w.ns + "." + name); len(ids) != 0 {
			t.Errorf("%s: PATs created: %v", name, ids)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d connection(s) reached the tool that is not allowed", n)
	}
	if _, err := controller.ParseSinkHostAllowList([]string{"https://tool.example"}); err == nil || !strings.Contains(err.Error(), "--allowed-sink-hosts") {
		t.Errorf("a URL in --allowed-sink-hosts: %v", err)
	}
}

// countingServer is an HTTPS server reached as localhost (not 127.0.0.1)
// that counts connections: a TLS handshake to "localhost" fails before any
// handler runs, so requests are not what to count.
func countingServer(t *testing.T) (*atomic.Int64, string) {
	hits := &atomic.Int64{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusTeapot) }))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			hits.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return hits, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
}
