package sink

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/kubetest"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func startEmulator(t *testing.T, seed *emulator.Seed) *emulator.Emulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e, err := emulator.Start(ctx, emulator.Options{Addr: "127.0.0.1:0", Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func emulatorClientOptions(e *emulator.Emulator) azcore.ClientOptions {
	return azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.AuthorityHost()}, Transport: e.HTTPClient()}
}

func emulatorKVSink(t *testing.T, e *emulator.Emulator, cred azcore.TokenCredential) Sink {
	t.Helper()
	params, _ := json.Marshal(map[string]any{"type": KeyVaultTypeName, "vaultUrl": e.KeyVaultURL("patrol-kv"), "secretName": "ado-pat",
		"contentType": "text/plain", "tags": map[string]string{"team": "build"}, "disableChallengeResourceVerification": true})
	s, err := Build(Spec{Type: KeyVaultTypeName, Params: params, Where: "test"}, Deps{TokenCredential: cred, HTTPClient: e.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func checkKVRoundTrip(t *testing.T, e *emulator.Emulator, s Sink) {
	t.Helper()
	ctx := context.Background()
	if h, err := s.Read(ctx); err != nil || h.Present {
		t.Fatalf("Read before write: %+v %v", h, err)
	}
	validTo := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	if err := s.Write(ctx, kvTestPAT, Meta{Credential: "build", AuthorizationID: "auth-7", ValidTo: validTo, RotatedAt: time.Now(), Kind: "pat"}); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, ok := e.KeyVaultSecret("patrol-kv", "ado-pat")
	if !ok || got.Value != kvTestPAT || got.ContentType != "text/plain" || got.Tags[KeyVaultTagAuthorizationID] != "auth-7" || got.Tags["team"] != "build" ||
		got.Expires == nil || !got.Expires.Equal(validTo) || !got.Enabled {
		t.Fatalf("vault holds: ok=%v value ok=%v tags=%v exp=%v", ok, got.Value == kvTestPAT, got.Tags, got.Expires)
	}
	h, err := s.Read(ctx)
	if err != nil || !h.Present || h.AuthorizationID != "auth-7" || !h.ValidTo.Equal(validTo) {
		t.Fatalf("Read: %+v %v", h, err)
	}
}

// The sink against the emulator's Key Vault with a real azidentity
// credential (client secret), through the real 401 challenge.
func TestKeyVaultEmulatorClientSecret(t *testing.T) {
	e := startEmulator(t, nil)
	cred, err := azidentity.NewClientSecretCredential(emulator.DefaultTenantID, emulator.DefaultSPClientID, emulator.DefaultSPSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: emulatorClientOptions(e), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	checkKVRoundTrip(t, e, emulatorKVSink(t, e, cred))

	bad, _ := azidentity.NewClientSecretCredential(emulator.DefaultTenantID, emulator.DefaultSPClientID, "wrong-secret",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: emulatorClientOptions(e), DisableInstanceDiscovery: true})
	err = emulatorKVSink(t, e, bad).Write(context.Background(), kvTestPAT, Meta{})
	if errkind.Of(err) != errkind.Auth || strings.Contains(err.Error(), kvTestPAT) {
		t.Fatalf("wrong client secret: kind %v: %v", errkind.Of(err), err)
	}
}

// Entra Workload ID end to end: the real kube-apiserver issues a
// ServiceAccount token (TokenRequest, audience api://AzureADTokenExchange),
// the emulator trusts the cluster as a federated issuer (its SA public key),
// azidentity's WorkloadIdentityCredential exchanges the projected token file
// for a Key Vault token, and the sink writes the PAT.
func TestKeyVaultWorkloadIdentityFromKubernetes(t *testing.T) {
	c := kubetest.Start(t)
	ctx := kubeCtx(t)
	ns := c.Namespace(t)
	admin := c.AdminClient(t)
	for _, sa := range []string{"patrol", "intruder"} {
		if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tokenFile := func(sa string) string {
		exp := int64(600)
		tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			Audiences: []string{emulator.DefaultFederatedAudience}, ExpirationSeconds: &exp}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "azure-identity-token")
		if err := os.WriteFile(p, []byte(tr.Status.Token), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	seed := emulator.DefaultSeed()
	found := false
	for i := range seed.Apps {
		if seed.Apps[i].ClientID == emulator.DefaultSPClientID {
			seed.Apps[i].FederatedCredentials = append(seed.Apps[i].FederatedCredentials, emulator.FederatedCredential{
				Issuer: c.ServiceAccountIssuer, Subject: "system:serviceaccount:" + ns + ":patrol",
				Audience: emulator.DefaultFederatedAudience, IssuerKeyPEM: string(c.ServiceAccountPublicKeyPEM)})
			found = true
		}
	}
	if !found {
		t.Fatal("default seed has no service principal app")
	}
	e := startEmulator(t, &seed)
	wi := func(file string) azcore.TokenCredential {
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientID: emulator.DefaultSPClientID, TenantID: emulator.DefaultTenantID, TokenFilePath: file,
			ClientOptions: emulatorClientOptions(e), DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		return cred
	}
	checkKVRoundTrip(t, e, emulatorKVSink(t, e, wi(tokenFile("patrol"))))

	// Another ServiceAccount's token does not match the federated subject.
	err := emulatorKVSink(t, e, wi(tokenFile("intruder"))).Write(context.Background(), kvTestPAT+"x", Meta{})
	if errkind.Of(err) != errkind.Auth {
		t.Fatalf("intruder SA: kind %v: %v", errkind.Of(err), err)
	}
	if got, _ := e.KeyVaultSecret("patrol-kv", "ado-pat"); got.Value != kvTestPAT {
		t.Fatal("intruder changed the secret")
	}
}
