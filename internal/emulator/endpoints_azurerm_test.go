package emulator

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

func createAzureRM(t *testing.T, e *Emulator, auth, name, secret string) api.ServiceEndpoint {
	t.Helper()
	create := api.ServiceEndpoint{Name: name, Type: "azurerm", URL: "https://management.azure.com/",
		Data: map[string]string{"environment": "AzureCloud", "scopeLevel": "Subscription", "subscriptionId": "11111111-2222-4333-8444-555555555555",
			"subscriptionName": "contoso-prod", "creationMode": "Manual"},
		Authorization: &api.EndpointAuthorization{Scheme: "ServicePrincipal", Parameters: map[string]*string{
			"serviceprincipalid": strp(ManagedAppClientID), "tenantid": strp(DefaultTenantID),
			"authenticationType": strp("spnKey"), "serviceprincipalkey": strp(secret)}},
		ServiceEndpointProjectReferences: []api.ServiceEndpointProjectReference{{ProjectReference: api.ProjectReference{ID: DefaultProjectID}}}}
	return createGenericEndpoint(t, e, auth, create)
}

func testConnection(t *testing.T, e *Emulator, auth, id string) api.ServiceEndpointRequestResult {
	t.Helper()
	r := do(t, e, "POST", e.DevOpsURL()+"/"+DefaultOrg+"/"+DefaultProject+"/_apis/serviceendpoint/endpointproxy?endpointId="+id+"&api-version="+api.ServiceEndpointAPIVersion,
		auth, api.ServiceEndpointRequest{DataSourceDetails: &api.DataSourceDetails{DataSourceName: "TestConnection"}})
	if r.Status != 200 {
		t.Fatalf("endpointproxy: %d %s", r.Status, r.Body)
	}
	var res api.ServiceEndpointRequestResult
	r.json(t, &res)
	return res
}

// TestConnection signs in with the connection's own credential: the
// current secret works, a wrong one or a removed one does not.
func TestAzureRMTestConnection(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)
	good := createAzureRM(t, e, auth, "deploy", ManagedAppSecret)
	if res := testConnection(t, e, auth, good.ID); res.StatusCode != "ok" {
		t.Fatalf("current secret: %+v", res)
	}
	bad := createAzureRM(t, e, auth, "deploy-bad", "not-the-secret")
	if res := testConnection(t, e, auth, bad.ID); res.StatusCode != "badRequest" || !strings.Contains(res.ErrorMessage, "AADSTS7000215") {
		t.Fatalf("wrong secret: %+v", res)
	}
}

// A secret-based connection converts to workload identity federation with
// the issuer and subject the service assigns, verifies once the app has the
// matching federated credential, and reverts within the deadline.
func TestAzureRMConvertAuthenticationScheme(t *testing.T) {
	clock := &fakeClock{t: time.Now().UTC()}
	e := start(t, Options{Now: clock.now})
	auth := userToken(t, e, DefaultUser)
	ep := createAzureRM(t, e, auth, "deploy", ManagedAppSecret)
	convert := func(scheme string) resp {
		body := ep
		body.Authorization = &api.EndpointAuthorization{Scheme: scheme}
		return do(t, e, http.MethodPut, epURL(e, "/_apis/serviceendpoint/endpoints/"+ep.ID+"?operation=ConvertAuthenticationScheme"), auth, body)
	}
	if r := convert("ServicePrincipal"); r.Status != 400 {
		t.Fatalf("ServicePrincipal → ServicePrincipal: %d %s", r.Status, r.Body)
	}
	r := convert("WorkloadIdentityFederation")
	var got api.ServiceEndpoint
	r.json(t, &got)
	wantIss, wantSub := "https://vstoken.dev.azure.com/"+DefaultOrgID, "sc://"+DefaultOrg+"/"+DefaultProject+"/deploy"
	if r.Status != 200 || got.Authorization.Scheme != "WorkloadIdentityFederation" ||
		got.Authorization.Param("workloadIdentityFederationIssuer") != wantIss || got.Authorization.Param("workloadIdentityFederationSubject") != wantSub ||
		got.Authorization.Param("serviceprincipalkey") != "" || got.Data["revertSchemeDeadline"] == "" {
		t.Fatalf("convert: %d %s", r.Status, r.Body)
	}
	if res := testConnection(t, e, auth, ep.ID); res.StatusCode != "badRequest" || !strings.Contains(res.ErrorMessage, "AADSTS70021") {
		t.Fatalf("converted without federated credential: %+v", res)
	}
	graph := graphToken(t, e, DefaultSPClientID, DefaultSPSecret)
	if r := do(t, e, "POST", e.GraphURL()+"/v1.0/applications(appId='"+ManagedAppClientID+"')/federatedIdentityCredentials", graph,
		map[string]any{"name": "ado-deploy", "issuer": wantIss, "subject": wantSub, "audiences": []string{"api://AzureADTokenExchange"}}); r.Status != 201 {
		t.Fatalf("add federated credential: %d %s", r.Status, r.Body)
	}
	if res := testConnection(t, e, auth, ep.ID); res.StatusCode != "ok" {
		t.Fatalf("converted with federated credential: %+v", res)
	}
	// Back to the secret within the window; the secret still signs in.
	if r := convert("ServicePrincipal"); r.Status != 200 {
		t.Fatalf("revert: %d %s", r.Status, r.Body)
	}
	if res := testConnection(t, e, auth, ep.ID); res.StatusCode != "ok" {
		t.Fatalf("reverted: %+v", res)
	}
	// After the deadline a revert is refused.
	if r := convert("WorkloadIdentityFederation"); r.Status != 200 {
		t.Fatalf("convert again: %d %s", r.Status, r.Body)
	}
	clock.add(RevertSchemeWindow + time.Minute)
	auth = userToken(t, e, DefaultUser) // the earlier token expired meanwhile
	if r := convert("ServicePrincipal"); r.Status != 400 || !strings.Contains(string(r.Body), "revert deadline") {
		t.Fatalf("revert after deadline: %d %s", r.Status, r.Body)
	}
}
