package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/graph"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
)

// Credentials of kind entra-app-secret (docs/entra-apps.md): the account
// is the application (rotation.Account.Application), its "PAT client" a
// rotation.AppSecretClient on Microsoft Graph signed in as the credential's
// identity (a token for Graph's .default scope, graph.ScopeFor), which
// verifies new secrets with client credentials against that identity's
// tenant. Sinks that talk to Azure DevOps use the credential's organisation
// and identity, as for PATs.

// identityEntraOptions are the sign-in settings of identity name ("" = auth:).
func (a *app) identityEntraOptions(f *config.File, name string) (entra.Options, error) {
	if name == "" {
		return a.entraOptions()
	}
	id, ok := f.Identities[name]
	if !ok { // validation refuses this; kept for callers without it
		return entra.Options{}, errkind.New(errkind.Usage, fmt.Errorf("identity %q is not defined under identities: in %s", name, f.Path))
	}
	conn, err := a.connection()
	if err != nil {
		return entra.Options{}, err
	}
	ic, err := conn.ForIdentity(name, id)
	if err != nil {
		return entra.Options{}, err
	}
	opts, _, err := a.entraOptionsFor(ic)
	if err != nil {
		return entra.Options{}, fmt.Errorf("identities.%s: %w", name, err)
	}
	// The hints name this identity's fields, not the environment it does
	// not read.
	p := "identities." + name + "."
	opts.Settings = map[string]string{
		"AZURE_TENANT_ID": p + "tenantId", "AZURE_CLIENT_ID": p + "clientId", "AZURE_USERNAME": p + "username",
		"AZURE_PASSWORD": p + "passwordFile", "AZURE_CLIENT_SECRET": p + "clientSecretFile",
		"AZURE_CLIENT_CERTIFICATE_PATH": p + "certificatePath",
	}
	return opts, nil
}

// appSecretAccount is where credential c's passwords live.
func appSecretAccount(c config.Credential, org string) rotation.Account {
	ref := graph.AppRef{AppID: c.Application.AppID, ObjectID: c.Application.ObjectID}
	return rotation.Account{Organization: org, Identity: c.Identity, Application: ref.String()}
}

// buildAppSecretTarget builds the target of an entra-app-secret credential.
func (a *app) buildAppSecretTarget(ctx context.Context, f *config.File, e *rotation.Engine, c config.Credential, deps sink.Deps) (rotation.Target, error) {
	conn, err := a.connection()
	if err != nil {
		return rotation.Target{}, err
	}
	org := c.Organization
	if org == "" {
		org = conn.Organization
	}
	opts, err := a.identityEntraOptions(f, c.Identity)
	if err != nil {
		return rotation.Target{}, err
	}
	who := "auth:"
	if c.Identity != "" {
		who = "identities." + c.Identity
	}
	switch strings.ToLower(opts.TenantID) {
	case "", "organizations", "common", "consumers":
		return rotation.Target{}, errkind.New(errkind.Usage, fmt.Errorf("credential %s (kind entra-app-secret): %s has no tenant (tenantId is %q); set tenantId there to the application's tenant (a GUID or verified domain): new secrets are verified by signing in to it", c.Name, who, opts.TenantID))
	}
	// Graph of the authority's cloud (or endpoints.graph), and its scope.
	base := conn.Endpoints.Graph
	scope := graph.ScopeFor(base, opts.AuthorityHost)
	gopts := opts
	gopts.Scope = scope
	ts, err := entra.New(gopts)
	if err != nil {
		return rotation.Target{}, fmt.Errorf("credential %s: sign-in of %s for Microsoft Graph: %w", c.Name, who, err)
	}
	gc, err := graph.New(graph.Options{BaseURL: base, Token: entra.ReuseTokenSource(ts, 0), HTTPClient: opts.HTTPClient})
	if err != nil {
		return rotation.Target{}, err
	}
	acct := appSecretAccount(c, org)
	if e.Accounts == nil {
		e.Accounts = map[rotation.Account]rotation.PATClient{}
	}
	if _, ok := e.Accounts[acct]; !ok {
		e.Accounts[acct] = &rotation.AppSecretClient{Graph: gc, App: graph.AppRef{AppID: c.Application.AppID, ObjectID: c.Application.ObjectID},
			SignIn: rotation.ClientCredentialsSignIn(entra.Options{AuthorityHost: opts.AuthorityHost, TenantID: opts.TenantID, Scope: scope,
				DisableInstanceDiscovery: opts.DisableInstanceDiscovery, HTTPClient: opts.HTTPClient})}
	}
	if org != "" {
		dc, err := a.devopsFor(ctx, f, rotation.Account{Organization: org, Identity: c.Identity})
		if err != nil {
			return rotation.Target{}, err
		}
		deps.DevOps = dc
	}
	return a.buildTargetIn(ctx, f, e, c, deps, acct)
}

// azureSinkCredential gives c's Azure SDK sinks (azure-key-vault) the
// credential's identity as an Azure credential (a token per scope the SDK
// asks for, e.g. https://vault.azure.net/.default).
func (a *app) azureSinkCredential(f *config.File, c config.Credential, deps *sink.Deps) error {
	if deps.TokenCredential != nil || !slices.ContainsFunc(c.Sinks, func(s config.SinkSpec) bool { return s.Type == sink.KeyVaultTypeName }) {
		return nil
	}
	opts, err := a.identityEntraOptions(f, c.Identity)
	if err != nil {
		return err
	}
	deps.TokenCredential = entra.AzureCredential(opts)
	return nil
}
