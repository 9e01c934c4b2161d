package scheme

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/errkind"
)

func startEmu(t *testing.T) *emulator.Emulator {
	t.Helper()
	e, err := emulator.Start(context.Background(), emulator.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func claimsOf(t *testing.T, tok string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func audOf(c jwt.MapClaims) string {
	a, _ := c.GetAudience()
	return strings.Join(a, ",")
}

func azOpts(e *emulator.Emulator) Options {
	return Options{HTTPClient: e.HTTPClient(), AzureAuthorityHost: e.AuthorityHost(), DisableInstanceDiscovery: true}
}

func TestServicePrincipalAgainstEmulator(t *testing.T) {
	e := startEmu(t)
	azurerm, _ := BuiltinType("azurerm")
	ep := endpoint("azurerm", "https://management.azure.com/", "ServicePrincipal", map[string]string{
		"serviceprincipalid": emulator.DefaultSPClientID, "tenantid": emulator.DefaultTenantID,
		"authenticationType": "spnKey", "serviceprincipalkey": emulator.DefaultSPSecret}, map[string]string{"environment": "AzureCloud"})
	a, err := New(ep, &azurerm, azOpts(e))
	if err != nil {
		t.Fatal(err)
	}
	if a.Method() != MethodAzure || a.AzureScope() != DefaultAzureScope {
		t.Fatalf("method %s scope %s", a.Method(), a.AzureScope())
	}
	h, err := a.Headers(context.Background(), "GET", "https://management.azure.com/subscriptions")
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimPrefix(h.Get("Authorization"), "Bearer ")
	c := claimsOf(t, tok)
	if audOf(c) != "https://management.azure.com" || c["appid"] != emulator.DefaultSPClientID || c["idtyp"] != "app" {
		t.Errorf("claims = %v", c)
	}
	// Configurable scope (e.g. Azure DevOps itself).
	o := azOpts(e)
	o.AzureScope = "499b84ac-1321-427f-aa17-267ca6975798/.default"
	a, _ = New(ep, &azurerm, o)
	h, err = a.Headers(context.Background(), "GET", "https://x/")
	if err != nil || audOf(claimsOf(t, strings.TrimPrefix(h.Get("Authorization"), "Bearer "))) != "499b84ac-1321-427f-aa17-267ca6975798" {
		t.Errorf("custom scope: %v", err)
	}
	// Wrong secret: an Auth error that does not contain the secret.
	ep.Authorization.Parameters["serviceprincipalkey"] = sp("wrong-secret-value")
	a, _ = New(ep, &azurerm, azOpts(e))
	_, err = a.Headers(context.Background(), "GET", "https://x/")
	if err == nil || errkind.Of(err) != errkind.Auth || strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("wrong secret: %v (kind %v)", err, errkind.Of(err))
	}
}

func TestWorkloadIdentityAgainstEmulator(t *testing.T) {
	e := startEmu(t)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	sa, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": emulator.DefaultFederatedIssuer, "sub": emulator.DefaultFederatedSubject,
		"aud": []string{emulator.DefaultFederatedAudience}, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(sa), 0o600); err != nil {
		t.Fatal(err)
	}
	azurerm, _ := BuiltinType("azurerm")
	wif, _ := Lookup("WorkloadIdentityFederation")
	azurerm.AuthenticationSchemes = append(azurerm.AuthenticationSchemes, wif)
	ep := endpoint("azurerm", "https://management.azure.com/", "WorkloadIdentityFederation", map[string]string{
		"serviceprincipalid": emulator.DefaultSPClientID, "tenantid": emulator.DefaultTenantID}, nil)
	o := azOpts(e)
	o.FederatedTokenFile = file
	a, err := New(ep, &azurerm, o)
	if err != nil {
		t.Fatal(err)
	}
	h, err := a.Headers(context.Background(), "GET", "https://management.azure.com/")
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, strings.TrimPrefix(h.Get("Authorization"), "Bearer ")); c["oid"] != emulator.DefaultSPObjectID {
		t.Errorf("claims = %v", c)
	}
	o.FederatedTokenFile = ""
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "")
	a, _ = New(ep, &azurerm, o)
	if _, err := a.Headers(context.Background(), "GET", "https://x/"); err == nil || errkind.Of(err) != errkind.Usage {
		t.Errorf("no token file: %v", err)
	}
}

func TestManagedIdentityAgainstEmulator(t *testing.T) {
	e := startEmu(t)
	t.Setenv("IDENTITY_ENDPOINT", e.URL()+"/msi/token")
	t.Setenv("IDENTITY_HEADER", emulator.DefaultIdentityHeader)
	msi, _ := Lookup("ManagedServiceIdentity")
	et := &EndpointType{Name: "azurerm", AuthenticationSchemes: []Scheme{msi}}
	ep := endpoint("azurerm", "https://management.azure.com/", "ManagedServiceIdentity", map[string]string{"tenantid": emulator.DefaultTenantID},
		map[string]string{"msiclientId": emulator.DefaultMIClientID})
	a, err := New(ep, et, azOpts(e))
	if err != nil {
		t.Fatal(err)
	}
	h, err := a.Headers(context.Background(), "GET", "https://management.azure.com/")
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, strings.TrimPrefix(h.Get("Authorization"), "Bearer ")); c["oid"] != emulator.DefaultMIObjectID || audOf(c) != "https://management.azure.com" {
		t.Errorf("claims = %v", c)
	}
}
