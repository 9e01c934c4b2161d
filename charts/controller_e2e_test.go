package charts

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/controller"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/kubetest"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestControllerModeEndToEnd is the "done when" on the real
// apiserver: the chart installed in controller mode (CRDs, RBAC, …
// server-side applied), then patrol's controller run in-process with the
// arguments of the chart's Deployment and AS the chart's ServiceAccount
// (impersonated: only the chart's RBAC applies); a user creates an
// AzureDevOpsIdentity and a PersonalAccessToken and gets a Secret holding a
// PAT that authenticates (against the emulator), renewed on demand, revoked
// when the PersonalAccessToken is deleted.
func TestControllerModeEndToEnd(t *testing.T) {
	bin := helmBin(t)
	c := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	ns := c.Namespace(t) // fresh per run: -count=N reuses the cluster
	// Its own release name: the ClusterRole(Binding) names are cluster-wide.
	// The emulator listens on 127.0.0.1, which the controller's default
	// allow-list of endpoint hosts (Azure's) refuses.
	ch := render(t, bin, "patrol-e2e", ns, "patrol/examples/controller.yaml", "controller.allowedEndpointHosts={127.0.0.1}",
		"controller.allowedSinkHosts={127.0.0.1,*.vault.azure.net}")
	dyn, err := dynamic.NewForConfig(c.Admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range []*unstructured.Unstructured{standInCRD("PrometheusRule", "prometheusrules"), standInCRD("ServiceMonitor", "servicemonitors")} {
		if err := apply(ctx, dyn, crd); err != nil {
			t.Fatal(err)
		}
	}
	nsObj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", // + restricted Pod Security
		"metadata": map[string]any{"name": ns, "labels": map[string]any{"pod-security.kubernetes.io/enforce": "restricted"}}}}
	if err := apply(ctx, dyn, nsObj); err != nil {
		t.Fatal(err)
	}
	for other := range ch.serviceAccountTokens(t) { // the Roles of controller.serviceAccountTokens
		if other != ns {
			if err := apply(ctx, dyn, &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": other}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, u := range append(append([]*unstructured.Unstructured(nil), ch.crds...), ch.all...) {
		var err error
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if err = apply(ctx, dyn, u); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	sch := controller.Scheme()
	admin, err := client.New(c.Admin, client.Options{Scheme: sch})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err := admin.List(ctx, &patrolv1.PersonalAccessTokenList{}); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("CRDs not served: %v", err)
		}
	}

	// The user's side: an emulated organisation, the technical user's
	// password and the emulator's CA in Secrets, an identity.
	// The app DefaultSPClientID trusts the ServiceAccount ado-platform of
	// the release namespace (listed in the example's
	// controller.serviceAccountTokens) as issued by this apiserver.
	seed := emulator.DefaultSeed()
	for i := range seed.Apps {
		if seed.Apps[i].ClientID == emulator.DefaultSPClientID {
			seed.Apps[i].FederatedCredentials = append(seed.Apps[i].FederatedCredentials, emulator.FederatedCredential{Issuer: c.ServiceAccountIssuer,
				Subject: "system:serviceaccount:" + ns + ":ado-platform", IssuerKeyPEM: string(c.ServiceAccountPublicKeyPEM)})
		}
	}
	emu, err := emulator.Start(ctx, emulator.Options{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	for name, data := range map[string]map[string][]byte{"ado-login": {"password": []byte(emulator.DefaultPassword)}, "emu-ca": {"ca.pem": emu.CAPEM()}} {
		if err := admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	id := &patrolv1.AzureDevOpsIdentity{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bot"}, Spec: patrolv1.AzureDevOpsIdentitySpec{
		Organization: emulator.DefaultOrg, Method: patrolv1.MethodROPC, TenantID: emulator.DefaultTenantID, ClientID: emulator.DefaultClientID,
		Username: emulator.DefaultUser, PasswordRef: &patrolv1.SecretKeyRef{Name: "ado-login", Key: "password"},
		Endpoints: &patrolv1.Endpoints{AuthorityHost: emu.AuthorityHost(), DisableInstanceDiscovery: true, VSSPS: emu.VSSPSURL(), DevOps: emu.DevOpsURL(),
			CABundleRef: &patrolv1.SecretKeyRef{Name: "emu-ca", Key: "ca.pem"}},
	}}
	if err := admin.Create(ctx, id); err != nil {
		t.Fatal(err)
	}

	// The controller, as the Deployment runs it: its arguments, the
	// ServiceAccount's rights.
	args := ch.pod().Containers[0].Args
	o := controller.Options{MetricsAddr: "127.0.0.1:0", ProbeAddr: "0", OrphanAge: time.Nanosecond,
		Backoff: controller.Backoff{Base: 200 * time.Millisecond, Max: 2 * time.Second}}
	o.Namespace, _ = controllerArg(args, "namespace")
	o.LeaderElection = boolArg(args, "leader-elect")
	o.LeaderElectionID, _ = controllerArg(args, "leader-election-id")
	o.LeaderElectionNamespace, _ = controllerArg(args, "leader-election-namespace")
	o.ClusterIdentities = boolArg(args, "cluster-identities")
	o.ClusterResourceNamespace, _ = controllerArg(args, "cluster-resource-namespace")
	if v, ok := controllerArg(args, "allowed-endpoint-hosts"); !ok || v != "127.0.0.1" {
		t.Fatalf("controller.allowedEndpointHosts={127.0.0.1} rendered --allowed-endpoint-hosts=%q (%t), want 127.0.0.1", v, ok)
	} else {
		o.AllowedEndpointHosts = []string{v}
	}
	if v, ok := controllerArg(args, "allowed-sink-hosts"); !ok || v != "127.0.0.1,*.vault.azure.net" {
		t.Fatalf("controller.allowedSinkHosts={127.0.0.1,*.vault.azure.net} rendered --allowed-sink-hosts=%q (%t)", v, ok)
	} else {
		o.AllowedSinkHosts = []string{v}
	}
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	saCfg := rest.CopyConfig(c.Admin)
	saCfg.Impersonate = rest.ImpersonationConfig{UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns, ch.sa.Name),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
	ready := make(chan struct{})
	o.Ready = ready
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- controller.Run(runCtx, saCfg, o) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil && !strings.Contains(err.Error(), "context canceled") {
				t.Errorf("controller: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("controller did not stop in 30s")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("controller (as the chart's ServiceAccount) ended: %v", err)
	case <-time.After(45 * time.Second):
		t.Fatal("controller not ready in 45s")
	}

	src, err := entra.New(entra.Options{Method: entra.MethodROPC, AuthorityHost: emu.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultClientID, Username: emulator.DefaultUser, Password: emulator.DefaultPassword, DisableInstanceDiscovery: true, HTTPClient: emu.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	verf, err := devops.New(devops.Options{Organization: emulator.DefaultOrg, VSSPSURL: emu.VSSPSURL(), DevOpsURL: emu.DevOpsURL(),
		Token: entra.ReuseTokenSource(src, 0), HTTPClient: emu.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	pat := &patrolv1.PersonalAccessToken{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "build-agent"}, Spec: patrolv1.PersonalAccessTokenSpec{
		IdentityRef: patrolv1.IdentityRef{Name: "bot"}, Scopes: []patrolv1.Scope{"vso.code"},
		Lifetime:     &metav1.Duration{Duration: 30 * 24 * time.Hour},
		SecretTarget: patrolv1.SecretTarget{Name: "ado-pat"},
	}}
	if err := admin.Create(ctx, pat); err != nil {
		t.Fatal(err)
	}
	// readyWith waits until the PersonalAccessToken is Ready with an
	// authorizationId other than not and its Secret holds a PAT that works.
	readyWith := func(what, not string) (authID, token string) {
		t.Helper()
		eventually(t, what, 60*time.Second, func() error {
			var p patrolv1.PersonalAccessToken
			if err := admin.Get(ctx, client.ObjectKeyFromObject(pat), &p); err != nil {
				return err
			}
			if c := meta.FindStatusCondition(p.Status.Conditions, patrolv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || p.Status.AuthorizationID == not {
				return fmt.Errorf("not Ready with a new PAT: %+v", p.Status)
			}
			var s corev1.Secret
			if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ado-pat"}, &s); err != nil {
				return err
			}
			authID, token = p.Status.AuthorizationID, string(s.Data["token"])
			if _, err := verf.VerifyPAT(ctx, token); err != nil {
				return fmt.Errorf("the Secret's PAT does not authenticate: %w", err)
			}
			return nil
		})
		return authID, token
	}
	first, old := readyWith("PersonalAccessToken Ready with a Secret holding a working PAT", "")

	// Renewal on demand (patrol.dev/renew-now): a new PAT in the Secret, the old one revoked.
	var p patrolv1.PersonalAccessToken
	if err := admin.Get(ctx, client.ObjectKeyFromObject(pat), &p); err != nil {
		t.Fatal(err)
	}
	p.Annotations = map[string]string{"patrol.dev/renew-now": "1"}
	if err := admin.Update(ctx, &p); err != nil {
		t.Fatal(err)
	}
	_, token := readyWith("renewal after patrol.dev/renew-now", first)
	eventually(t, "the replaced PAT revoked", 60*time.Second, func() error {
		if _, err := verf.VerifyPAT(ctx, old); err == nil {
			return fmt.Errorf("the replaced PAT still authenticates")
		}
		return nil
	})
	checkWorkloadIdentityE2E(ctx, t, admin, emu, ns)

	// Deleting the PersonalAccessToken revokes its PAT (finalizer), with the
	// ServiceAccount's rights.
	if err := admin.Delete(ctx, pat); err != nil {
		t.Fatal(err)
	}
	eventually(t, "PAT revoked after the PersonalAccessToken's deletion", 60*time.Second, func() error {
		if _, err := verf.VerifyPAT(ctx, token); err == nil {
			return fmt.Errorf("the PAT still authenticates")
		}
		return nil
	})
}

func eventually(t *testing.T, what string, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkWorkloadIdentityE2E: with the chart's RBAC, an identity federating
// as ServiceAccount ado-platform (in controller.serviceAccountTokens) gets
// its token and signs in — an EntraAccessToken's Secret holds an Entra
// token; one naming the ServiceAccount default (not listed) is refused by
// RBAC, and its status says what to grant.
func checkWorkloadIdentityE2E(ctx context.Context, t *testing.T, admin client.Client, emu *emulator.Emulator, ns string) {
	t.Helper()
	if err := admin.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ado-platform"}}); err != nil {
		t.Fatal(err)
	}
	for id, sa := range map[string]string{"platform": "ado-platform", "unlisted": "default"} {
		if err := admin.Create(ctx, &patrolv1.AzureDevOpsIdentity{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: id}, Spec: patrolv1.AzureDevOpsIdentitySpec{
			Organization: emulator.DefaultOrg, Method: patrolv1.MethodWorkloadIdentity, TenantID: emulator.DefaultTenantID, ClientID: emulator.DefaultSPClientID,
			WorkloadIdentity: &patrolv1.WorkloadIdentity{ServiceAccountRef: &patrolv1.ServiceAccountRef{Name: sa}},
			Endpoints: &patrolv1.Endpoints{AuthorityHost: emu.AuthorityHost(), DisableInstanceDiscovery: true, VSSPS: emu.VSSPSURL(), DevOps: emu.DevOpsURL(),
				CABundleRef: &patrolv1.SecretKeyRef{Name: "emu-ca", Key: "ca.pem"}},
		}}); err != nil {
			t.Fatal(err)
		}
		if err := admin.Create(ctx, &patrolv1.EntraAccessToken{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: id}, Spec: patrolv1.EntraAccessTokenSpec{
			IdentityRef: patrolv1.IdentityRef{Name: id}, SecretTarget: patrolv1.SecretTarget{Name: id + "-entra"}}}); err != nil {
			t.Fatal(err)
		}
	}
	ready := func(name string) (*metav1.Condition, error) {
		var e patrolv1.EntraAccessToken
		if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &e); err != nil {
			return nil, err
		}
		c := meta.FindStatusCondition(e.Status.Conditions, patrolv1.ConditionReady)
		if c == nil {
			return nil, fmt.Errorf("no Ready condition yet")
		}
		return c, nil
	}
	eventually(t, "the workload identity's EntraAccessToken Ready", 60*time.Second, func() error {
		c, err := ready("platform")
		if err != nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready %+v (%v)", c, err)
		}
		var s corev1.Secret
		if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "platform-entra"}, &s); err != nil {
			return err
		}
		if got := entra.Claims(string(s.Data["token"]))["oid"]; got != emulator.DefaultSPObjectID {
			return fmt.Errorf("the Secret's token is not the app's (oid %v)", got)
		}
		return nil
	})
	eventually(t, "the unlisted ServiceAccount refused", 60*time.Second, func() error {
		c, err := ready("unlisted")
		if err != nil || c.Status != metav1.ConditionFalse || c.Reason != patrolv1.ReasonIdentityInvalid ||
			!strings.Contains(c.Message, "spec.workloadIdentity.serviceAccountRef.name") || !strings.Contains(c.Message, "controller.serviceAccountTokens") {
			return fmt.Errorf("Ready %+v (%v)", c, err)
		}
		return nil
	})
}
