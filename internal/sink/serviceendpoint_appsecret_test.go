package sink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/emulator"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/graph"
	"github.com/patrol-dev/patrol/internal/sink"
)

// Azure DevOps may refuse a new application secret as invalid while Entra
// replicates it (the emulator's passwordReplicationDelay): Verify retries
// that answer for an application secret, not for a PAT.
func TestServiceEndpointVerifyWaitsForAppSecretReplication(t *testing.T) {
	seed := emulator.DefaultSeed()
	seed.PasswordReplicationDelay = emulator.Duration(time.Second)
	seed.ServiceEndpoints = []emulator.SeedEndpoint{{Org: emulator.DefaultOrg, Project: emulator.DefaultProject, Name: "deploy", Type: "azurerm",
		URL: "https://management.azure.com/", Data: map[string]string{"environment": "AzureCloud", "scopeLevel": "Subscription",
			"subscriptionId": "11111111-2222-4333-8444-555555555555", "subscriptionName": "prod", "creationMode": "Manual"},
		Scheme: "ServicePrincipal", Parameters: map[string]string{"serviceprincipalid": emulator.ManagedAppClientID, "tenantid": emulator.DefaultTenantID,
			"authenticationType": "spnKey", "serviceprincipalkey": emulator.ManagedAppSecret}}}
	e, c := startDevOps(t, emulator.Options{Seed: &seed})
	ts, err := entra.New(entra.Options{Method: entra.MethodClientSecret, AuthorityHost: e.AuthorityHost(), TenantID: emulator.DefaultTenantID,
		ClientID: emulator.DefaultSPClientID, ClientSecret: emulator.DefaultSPSecret, Scope: graph.Scope, DisableInstanceDiscovery: true, HTTPClient: e.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	gc, err := graph.New(graph.Options{BaseURL: e.GraphURL(), Token: ts, HTTPClient: e.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	s := build(t, `{"type":"azure-devops-service-endpoint","project":"Platform","endpointName":"deploy","parameter":"serviceprincipalkey","scheme":"ServicePrincipal","pollInterval":"300ms"}`, sink.Deps{DevOps: c})
	v := s.(sink.Verifier)
	ctx := context.Background()
	for _, kind := range []string{"pat", sink.KindEntraAppSecret} {
		pw, err := gc.AddPassword(ctx, emulator.ManagedAppClientID, "patrol:deploy:20260601T080000Z-0123abcd", time.Now().Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		meta := sink.Meta{Credential: "deploy", AuthorizationID: pw.KeyID, ValidTo: pw.EndDateTime, Kind: kind}
		if err := s.Write(ctx, pw.SecretText, meta); err != nil {
			t.Fatal(err)
		}
		err = v.Verify(ctx, meta)
		var ve *sink.EndpointVerifyError
		switch kind {
		case "pat":
			if !errors.As(err, &ve) {
				t.Fatalf("a PAT is not retried: want the refusal, got %v", err)
			}
		default:
			if err != nil {
				t.Fatalf("application secret: %v", err)
			}
		}
	}
}
