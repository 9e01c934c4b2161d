package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/controller"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/kubetest"
	"github.com/patrol-dev/patrol/internal/rotation"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// installCRDs applies deploy/crds and returns an admin client.
func installCRDs(t *testing.T, c *kubetest.Cluster) client.Client {
	t.Helper()
	c.InstallCRDs(t, "../../deploy/crds")
	sch := controller.Scheme()
	_ = eventsv1.AddToScheme(sch)
	cl, err := client.New(c.Admin, client.Options{Scheme: sch})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// world is a cluster namespace with the CRDs, an emulator and an identity.
type world struct {
	t    *testing.T
	c    *kubetest.Cluster
	cl   client.Client
	ns   string
	emu  *emulator.Emulator
	verf *devops.Client
}

func newWorld(t *testing.T) *world { return newWorldClock(t, nil) }

// newWorldClock is newWorld with the emulator on clock now (nil: time.Now).
func newWorldClock(t *testing.T, now func() time.Time) *world {
	return newWorldWith(t, emulator.Options{Now: now})
}

// newWorldWith is newWorld with the emulator started with opts (Addr and Logger set here).
func newWorldWith(t *testing.T, opts emulator.Options) *world {
	c := kubetest.Start(t)
	w := &world{t: t, c: c, cl: installCRDs(t, c), ns: c.Namespace(t)}
	opts.Addr, opts.Logger = "127.0.0.1:0", slog.New(slog.DiscardHandler)
	emu, err := emulator.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	w.emu = emu
	ctx := context.Background()
	for name, data := range map[string]map[string][]byte{
		"ado-login": {"password": []byte(emulator.DefaultPassword)},
		"emu-ca":    {"ca.pem": emu.CAPEM()},
	} {
		if err := w.cl.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	id := &patrolv1.AzureDevOpsIdentity{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "bot"}, Spec: patrolv1.AzureDevOpsIdentitySpec{
		Organization: emulator.DefaultOrg, Method: patrolv1.MethodROPC, TenantID: emulator.DefaultTenantID, ClientID: emulator.DefaultClientID,
		Username: emulator.DefaultUser, PasswordRef: &patrolv1.SecretKeyRef{Name: "ado-login", Key: "password"},
		Endpoints: &patrolv1.Endpoints{AuthorityHost: emu.AuthorityHost(), DisableInstanceDiscovery: true, VSSPS: emu.VSSPSURL(), DevOps: emu.DevOpsURL(),
			CABundleRef: &patrolv1.SecretKeyRef{Name: "emu-ca", Key: "ca.pem"}},
	}}
	if err := w.cl.Create(ctx, id); err != nil {
		t.Fatal(err)
	}
	src, err := entra.New(entra.Options{Method: entra.MethodROPC, AuthorityHost: emu.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultClientID, Username: emulator.DefaultUser, Password: emulator.DefaultPassword, DisableInstanceDiscovery: true, HTTPClient: emu.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	if w.verf, err = devops.New(devops.Options{Organization: emulator.DefaultOrg, VSSPSURL: emu.VSSPSURL(), DevOpsURL: emu.DevOpsURL(),
		Token: entra.ReuseTokenSource(src, 0), HTTPClient: emu.HTTPClient()}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) pat(name string, mut ...func(*patrolv1.PersonalAccessToken)) *patrolv1.PersonalAccessToken {
	p := &patrolv1.PersonalAccessToken{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}, Spec: patrolv1.PersonalAccessTokenSpec{
		IdentityRef: patrolv1.IdentityRef{Name: "bot"}, Scopes: []patrolv1.Scope{"vso.code"},
		Lifetime: &metav1.Duration{Duration: 30 * 24 * time.Hour},
		SecretTarget: patrolv1.SecretTarget{Name: name + "-secret", AuthorizationIDKey: "authorizationId", Labels: map[string]string{"team": "build"},
			Templates: map[string]string{".git-credentials": "https://pat:{{token}}@dev.azure.com\n", "expiry": "valid to {{validTo}} ({{authorizationId}})"}},
	}}
	for _, m := range mut {
		m(p)
	}
	return p
}

// runController starts the controller on the world's namespace; stop ends it.
func (w *world) runController(o controller.Options) (stop func(), metricsURL string) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	o.Namespace = w.ns
	if o.AllowedEndpointHosts == nil {
		// The emulator's host; the default list allows only Azure's.
		o.AllowedEndpointHosts = []string{"127.0.0.1"}
	}
	if o.AllowedSinkHosts == nil {
		// The emulator's Key Vault and the tests' tools.
		o.AllowedSinkHosts = []string{"127.0.0.1"}
	}
	if o.OrphanAge == 0 {
		o.OrphanAge = time.Nanosecond
	}
	if o.Backoff == (controller.Backoff{}) {
		o.Backoff = controller.Backoff{Base: 200 * time.Millisecond, Max: 2 * time.Second}
	}
	addr := make(chan string, 1)
	o.MetricsAddr = "127.0.0.1:0"
	o.MetricsListening = func(a string) { addr <- a }
	ready := make(chan struct{})
	o.Ready = ready
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	done := make(chan error, 1)
	go func() { done <- controller.Run(ctx, w.c.Admin, o) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		w.t.Fatalf("controller ended: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		w.t.Fatal("controller not ready in 30s")
	}
	var a string
	select {
	case a = <-addr:
	case <-time.After(10 * time.Second):
		w.t.Fatal("metrics not listening")
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				w.t.Errorf("controller: %v", err)
			}
		case <-time.After(30 * time.Second):
			w.t.Error("controller did not stop in 30s")
		}
	}
	w.t.Cleanup(stop)
	return stop, "http://" + a + "/metrics"
}

// eventually polls f until it returns nil.
func (w *world) eventually(what string, timeout time.Duration, f func() error) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *world) get(name string) *patrolv1.PersonalAccessToken {
	w.t.Helper()
	var p patrolv1.PersonalAccessToken
	if err := w.cl.Get(context.Background(), client.ObjectKey{Namespace: w.ns, Name: name}, &p); err != nil {
		w.t.Fatal(err)
	}
	return &p
}

// readyWith waits until name is Ready with an authorizationId other than not.
func (w *world) readyWith(name, not string) *patrolv1.PersonalAccessToken {
	w.t.Helper()
	var p *patrolv1.PersonalAccessToken
	w.eventually(name+" Ready", 60*time.Second, func() error {
		p = w.get(name)
		c := meta.FindStatusCondition(p.Status.Conditions, patrolv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue || p.Status.AuthorizationID == "" || p.Status.AuthorizationID == not || p.Status.ObservedGeneration != p.Generation {
			return fmt.Errorf("status %+v", p.Status)
		}
		return nil
	})
	return p
}

func (w *world) secret(name string) *corev1.Secret {
	w.t.Helper()
	var s corev1.Secret
	if err := w.cl.Get(context.Background(), client.ObjectKey{Namespace: w.ns, Name: name}, &s); err != nil {
		w.t.Fatal(err)
	}
	return &s
}

// works reports whether PAT secret authenticates against the emulator.
func (w *world) works(secret string) bool {
	_, err := w.verf.VerifyPAT(context.Background(), secret)
	return err == nil
}

// managed lists the active managed PATs of credential cred.
func (w *world) managed(cred string) []string {
	w.t.Helper()
	var ids []string
	for p, err := range w.verf.ListPATs(context.Background(), devops.ListOptions{Filter: api.FilterActive}) {
		if err != nil {
			w.t.Fatal(err)
		}
		if c, _, ok := rotation.ParseDisplayName(p.DisplayName); ok && strings.EqualFold(c, cred) {
			ids = append(ids, p.AuthorizationID)
		}
	}
	return ids
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// table is what kubectl get shows for resource (plural) in the world's
// namespace: the column names and the first row's cells.
func (w *world) table(resource string) ([]string, []string) {
	w.t.Helper()
	hc, err := rest.HTTPClientFor(w.c.Admin)
	if err != nil {
		w.t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", w.c.URL+"/apis/patrol.dev/v1alpha1/namespaces/"+w.ns+"/"+resource, nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tab metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&tab); err != nil {
		w.t.Fatal(err)
	}
	var cols, row []string
	for _, c := range tab.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if len(tab.Rows) > 0 {
		for _, c := range tab.Rows[0].Cells {
			row = append(row, fmt.Sprint(c))
		}
	}
	return cols, row
}
