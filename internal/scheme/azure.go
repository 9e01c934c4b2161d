package scheme

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// DefaultAzureScope is the token scope for AzureRM endpoints in the public cloud.
const DefaultAzureScope = "https://management.azure.com/.default"

var environmentScopes = map[string]string{
	"azurecloud":        DefaultAzureScope,
	"azureusgovernment": "https://management.usgovcloudapi.net/.default",
	"azurechinacloud":   "https://management.chinacloudapi.cn/.default",
	"azuregermancloud":  "https://management.microsoftazure.de/.default",
}

// AzureScope is the scope an Entra token for ep is requested for:
// Options.AzureScope, else by data.environment, else DefaultAzureScope.
func (a *EndpointAuthorizer) AzureScope() string {
	if a.opts.AzureScope != "" {
		return a.opts.AzureScope
	}
	if env, ok := DataCI(a.ep.Data, "environment"); ok {
		if s, ok := environmentScopes[strings.ToLower(env)]; ok {
			return s
		}
	}
	return DefaultAzureScope
}

func (a *EndpointAuthorizer) azureCredential() (azcore.TokenCredential, error) {
	a.azOnce.Do(func() {
		if a.opts.AzureCredential != nil {
			a.azCred = a.opts.AzureCredential
			return
		}
		co := azcore.ClientOptions{Transport: a.opts.HTTPClient}
		if a.opts.AzureAuthorityHost != "" {
			co.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: a.opts.AzureAuthorityHost, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}}
		}
		tenant := Param(a.ep, "tenantId")
		client := Param(a.ep, "servicePrincipalId")
		name := a.scheme.Name
		fail := func(format string, args ...any) {
			a.azErr = authErr(name, "Entra credential", errkind.Usage, format, args...)
		}
		switch strings.ToLower(name) {
		case "serviceprincipal":
			if tenant == "" || client == "" {
				fail("authorization.parameters tenantId and servicePrincipalId are required")
				return
			}
			if strings.EqualFold(Param(a.ep, "authenticationType"), "spnCertificate") {
				pemText := Param(a.ep, "servicePrincipalCertificate")
				p, err := toPEM(pemText, "CERTIFICATE")
				if err != nil {
					fail("servicePrincipalCertificate: %v", err)
					return
				}
				certs, key, err := azidentity.ParseCertificates(p, nil)
				if err != nil {
					fail("servicePrincipalCertificate: %v (PEM certificate plus unencrypted key expected)", err)
					return
				}
				a.azCred, a.azErr = azidentity.NewClientCertificateCredential(tenant, client, certs, key,
					&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: a.opts.DisableInstanceDiscovery})
				return
			}
			secret := Param(a.ep, "servicePrincipalKey")
			if secret == "" {
				fail("authorization.parameters.servicePrincipalKey is empty (authenticationType spnKey)")
				return
			}
			a.azCred, a.azErr = azidentity.NewClientSecretCredential(tenant, client, secret,
				&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: a.opts.DisableInstanceDiscovery})
		case "workloadidentityfederation":
			file := a.opts.FederatedTokenFile
			if file == "" {
				file = os.Getenv("AZURE_FEDERATED_TOKEN_FILE")
			}
			if tenant == "" || client == "" || file == "" {
				fail("needs tenantId and servicePrincipalId parameters and a federated token file (AZURE_FEDERATED_TOKEN_FILE); Azure DevOps' own OIDC token is only available inside pipelines")
				return
			}
			a.azCred, a.azErr = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
				ClientOptions: co, ClientID: client, TenantID: tenant, TokenFilePath: file, DisableInstanceDiscovery: a.opts.DisableInstanceDiscovery})
		case "managedserviceidentity":
			o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}
			if id, ok := DataCI(a.ep.Data, "msiclientId"); ok && id != "" {
				o.ID = azidentity.ClientID(id)
			}
			a.azCred, a.azErr = azidentity.NewManagedIdentityCredential(o)
		default:
			fail("scheme %s has no Entra credential", name)
		}
		if a.azErr != nil {
			if _, ok := a.azErr.(*AuthError); !ok {
				a.azErr = &AuthError{Scheme: name, Step: "Entra credential", Err: a.azErr, kind: errkind.Usage}
			}
		}
	})
	return a.azCred, a.azErr
}

func (a *EndpointAuthorizer) azureToken(ctx context.Context) (string, error) {
	cred, err := a.azureCredential()
	if err != nil {
		return "", err
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{a.AzureScope()}})
	if err != nil {
		return "", &AuthError{Scheme: a.scheme.Name, Step: "Entra token for " + a.AzureScope(), Err: fmt.Errorf("%w", err), kind: errkind.Auth}
	}
	return tok.Token, nil
}
