package controller_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/controller"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// wiWorld is a world whose emulator (replaced: the world's identity bot
// stays on the first one) has, for the app DefaultSPClientID, a federated
// credential trusting the kube-apiserver's ServiceAccount issuer (verified
// with its signing key) and the ServiceAccount <ns>/deployer.
type wiWorld struct{ *world }

func newWIWorld(t *testing.T) *wiWorld {
	w := newWorld(t)
	seed := emulator.DefaultSeed()
	for i := range seed.Apps {
		if seed.Apps[i].ClientID == emulator.DefaultSPClientID {
			seed.Apps[i].FederatedCredentials = append(seed.Apps[i].FederatedCredentials, emulator.FederatedCredential{
				Issuer: w.c.ServiceAccountIssuer, Subject: "system:serviceaccount:" + w.ns + ":deployer",
				IssuerKeyPEM: string(w.c.ServiceAccountPublicKeyPEM)})
		}
	}
	emu, err := emulator.Start(context.Background(), emulator.Options{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	ctx := context.Background()
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "wi-ca"}, Data: map[string][]byte{"ca.pem": emu.CAPEM()}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "deployer"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "other"}},
	}
	for _, o := range objs {
		if err := w.cl.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	w.emu = emu
	return &wiWorld{w}
}

// wiSpec signs in as DefaultSPClientID with the tokens of ServiceAccount sa.
func (w *wiWorld) wiSpec(sa string) patrolv1.AzureDevOpsIdentitySpec {
	return patrolv1.AzureDevOpsIdentitySpec{
		Organization: emulator.DefaultOrg, Method: patrolv1.MethodWorkloadIdentity, TenantID: emulator.DefaultTenantID, ClientID: emulator.DefaultSPClientID,
		WorkloadIdentity: &patrolv1.WorkloadIdentity{ServiceAccountRef: &patrolv1.ServiceAccountRef{Name: sa}},
		Endpoints: &patrolv1.Endpoints{AuthorityHost: w.emu.AuthorityHost(), DisableInstanceDiscovery: true, VSSPS: w.emu.VSSPSURL(), DevOps: w.emu.DevOpsURL(),
			CABundleRef: &patrolv1.SecretKeyRef{Name: "wi-ca", Key: "ca.pem"}},
	}
}

func (w *wiWorld) identity(name, sa string) {
	w.t.Helper()
	if err := w.cl.Create(context.Background(), &patrolv1.AzureDevOpsIdentity{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name}, Spec: w.wiSpec(sa)}); err != nil {
		w.t.Fatal(err)
	}
}

// exchange presents assertion to the emulator's token endpoint as
// DefaultSPClientID's client assertion (client credentials).
func (w *wiWorld) exchange(assertion string) (int, string) {
	w.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {emulator.DefaultSPClientID}, "scope": {api.Scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	resp, err := w.emu.HTTPClient().PostForm(w.emu.AuthorityHost()+emulator.DefaultTenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// saToken requests a token of ServiceAccount ns/name as the admin.
func (w *wiWorld) saToken(name string) string {
	w.t.Helper()
	tr, err := w.c.AdminClient(w.t).CoreV1().ServiceAccounts(w.ns).CreateToken(context.Background(), name,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{Audiences: []string{patrolv1.DefaultWorkloadIdentityAudience}}}, metav1.CreateOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return tr.Status.Token
}

// eatFailing waits until EntraAccessToken name is not Ready for reason,
// its message containing every want.
func (w *world) eatFailing(name, reason string, want ...string) *patrolv1.EntraAccessToken {
	w.t.Helper()
	var e *patrolv1.EntraAccessToken
	w.eventually(name+" "+reason, 60*time.Second, func() error {
		e = w.getEAT(name)
		c := meta.FindStatusCondition(e.Status.Conditions, patrolv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reason {
			return fmt.Errorf("Ready %+v", c)
		}
		for _, s := range want {
			if !strings.Contains(c.Message, s) {
				return fmt.Errorf("message %q lacks %q", c.Message, s)
			}
		}
		return nil
	})
	return e
}

// An AzureDevOpsIdentity with workloadIdentity.serviceAccountRef signs in
// as a ServiceAccount of its namespace: the controller requests the
// ServiceAccount's token from the real kube-apiserver (TokenRequest), the
// emulator verifies it against the apiserver's issuer key and subject, and
// the EntraAccessToken's Secret holds an Entra token Azure DevOps accepts.
// A ServiceAccount that does not exist is reported naming the field; the
// token of a ServiceAccount the federated credential does not trust is
// refused by Entra, as is one signed by another key.
func TestWorkloadIdentityServiceAccount(t *testing.T) {
	w := newWIWorld(t)
	ctx := context.Background()
	w.identity("wi", "deployer")
	w.identity("wi-missing", "nobody")
	w.identity("wi-other", "other")
	w.runController(controller.Options{})
	for id, name := range map[string]string{"wi": "git", "wi-missing": "missing", "wi-other": "other"} {
		if err := w.cl.Create(ctx, w.eat(name, func(e *patrolv1.EntraAccessToken) { e.Spec.IdentityRef.Name = id })); err != nil {
			t.Fatal(err)
		}
	}
	e, tok := w.eatReadyWith("git", "")
	if !w.bearerWorks(tok) {
		t.Fatal("the Secret's Entra token is not accepted by Azure DevOps")
	}
	if c := entra.Claims(tok); c["oid"] != emulator.DefaultSPObjectID || c["appid"] != emulator.DefaultSPClientID && c["azp"] != emulator.DefaultSPClientID {
		t.Errorf("token claims %v, want the app %s", c, emulator.DefaultSPClientID)
	}
	if e.Status.NotAfter == nil {
		t.Errorf("status %+v", e.Status)
	}

	w.eatFailing("missing", patrolv1.ReasonIdentityInvalid, "spec.workloadIdentity.serviceAccountRef.name", "ServiceAccount "+w.ns+"/nobody does not exist", "kubectl create serviceaccount nobody -n "+w.ns)
	w.eatFailing("other", patrolv1.ReasonFailed, "AADSTS70021", "system:serviceaccount:"+w.ns+":other")

	// The emulator itself: the deployer's token is accepted, the other
	// ServiceAccount's refused, a forged deployer token (right claims,
	// another key) refused.
	if code, body := w.exchange(w.saToken("deployer")); code != 200 {
		t.Errorf("deployer's token: %d %s", code, body)
	}
	if code, body := w.exchange(w.saToken("other")); code != 400 || !strings.Contains(body, "AADSTS70021") {
		t.Errorf("other ServiceAccount's token: %d %s", code, body)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": w.c.ServiceAccountIssuer, "sub": "system:serviceaccount:" + w.ns + ":deployer",
		"aud": []string{patrolv1.DefaultWorkloadIdentityAudience}, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := w.exchange(forged); code != 401 || !strings.Contains(body, "AADSTS700027") {
		t.Errorf("forged token: %d %s", code, body)
	}
}

// The controller may not request the ServiceAccount's token (RBAC): the
// status names the field and the grant. A ClusterAzureDevOpsIdentity's
// ServiceAccount is looked up in the cluster resource namespace.
func TestWorkloadIdentityForbiddenAndCluster(t *testing.T) {
	w := newWIWorld(t)
	ctx := context.Background()
	w.identity("wi", "deployer")
	if err := w.cl.Create(ctx, w.eat("git", func(e *patrolv1.EntraAccessToken) { e.Spec.IdentityRef.Name = "wi" })); err != nil {
		t.Fatal(err)
	}
	pr := w.reconciler(nil, nil)
	rotator, err := kubernetes.NewForConfig(w.c.Rotator)
	if err != nil {
		t.Fatal(err)
	}
	admin := pr.Kube
	pr.Kube = rotator // no RBAC at all
	r := &controller.EntraTokenReconciler{PATReconciler: pr}
	run := func(name string) {
		t.Helper()
		if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: w.ns, Name: name}}); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}
	run("git")
	c := meta.FindStatusCondition(w.getEAT("git").Status.Conditions, patrolv1.ConditionReady)
	if c == nil || c.Reason != patrolv1.ReasonIdentityInvalid || !strings.Contains(c.Message, "spec.workloadIdentity.serviceAccountRef.name") ||
		!strings.Contains(c.Message, "create on serviceaccounts/token is forbidden") || !strings.Contains(c.Message, "controller.serviceAccountTokens") {
		t.Errorf("forbidden TokenRequest: Ready %+v", c)
	}

	// A ClusterAzureDevOpsIdentity: the ServiceAccount deployer of the
	// cluster resource namespace (the world's).
	pr.Kube, pr.ClusterResourceNamespace = admin, w.ns
	cid := &patrolv1.ClusterAzureDevOpsIdentity{ObjectMeta: metav1.ObjectMeta{Name: "wi-" + w.ns}, Spec: w.wiSpec("deployer")}
	if err := w.cl.Create(ctx, cid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.cl.Delete(context.Background(), cid) })
	if err := w.cl.Create(ctx, w.eat("cluster", func(e *patrolv1.EntraAccessToken) {
		e.Spec.IdentityRef = patrolv1.IdentityRef{Kind: "ClusterAzureDevOpsIdentity", Name: cid.Name}
	})); err != nil {
		t.Fatal(err)
	}
	run("cluster")
	e := w.getEAT("cluster")
	if c := meta.FindStatusCondition(e.Status.Conditions, patrolv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("cluster identity: Ready %+v", c)
	}
	if tok := string(w.secret("cluster-secret").Data["token"]); !w.bearerWorks(tok) {
		t.Error("the cluster identity's token is not accepted")
	}
}

// Admission: serviceAccountRef or federatedTokenFile, not both; audience
// with serviceAccountRef only.
func TestWorkloadIdentityAdmission(t *testing.T) {
	w := newWIWorld(t)
	for _, tc := range []struct {
		name string
		wi   patrolv1.WorkloadIdentity
		want string
	}{
		{"both", patrolv1.WorkloadIdentity{ServiceAccountRef: &patrolv1.ServiceAccountRef{Name: "deployer"}, FederatedTokenFile: "/var/run/token"}, "not both"},
		{"audience-with-file", patrolv1.WorkloadIdentity{FederatedTokenFile: "/var/run/token", Audience: "api://x"}, "audience applies to serviceAccountRef only"},
		{"bad-name", patrolv1.WorkloadIdentity{ServiceAccountRef: &patrolv1.ServiceAccountRef{Name: "Deployer_1"}}, "spec.workloadIdentity.serviceAccountRef.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := w.wiSpec("deployer")
			sp.WorkloadIdentity = &tc.wi
			err := w.cl.Create(context.Background(), &patrolv1.AzureDevOpsIdentity{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "bad-" + tc.name}, Spec: sp})
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want a refusal naming %q, got %v", tc.want, err)
			}
		})
	}
	sp := w.wiSpec("deployer")
	sp.WorkloadIdentity.Audience = "api://patrol-test"
	if err := w.cl.Create(context.Background(), &patrolv1.AzureDevOpsIdentity{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "good"}, Spec: sp}); err != nil {
		t.Errorf("a valid identity was refused: %v", err)
	}
}
