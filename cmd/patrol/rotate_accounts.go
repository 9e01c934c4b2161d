package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/rotation"
)

// accounts are the sign-ins and Azure DevOps clients of a run that serves
// several organisations or identities (patrol.yaml identities: and
// credentials[].organization / identity): one token source per identity
// (one sign-in per identity per run), one client per (organisation,
// identity). The default identity and organisation reuse a.tokenSource and
// a.devops.
type accounts struct {
	mu      sync.Mutex
	tokens  map[string]entra.TokenSource
	clients map[rotation.Account]*devops.Client
}

// accountOf is where credential c's PATs live: its organization (else the
// top-level one) and its identity ("" = the top-level auth:). Organisation
// names are case-insensitive (as Azure DevOps compares them) and the file
// loader has turned URLs into names: a credential naming the default
// organisation in another spelling shares its account (one listing, one
// client), and other organisations are lower-cased, so the plan, status,
// metrics labels and the lock name each organisation one way.
func (a *app) accountOf(c config.Credential) (rotation.Account, error) {
	conn, err := a.connection()
	if err != nil {
		return rotation.Account{}, err
	}
	org := strings.ToLower(c.Organization)
	if org == "" || strings.EqualFold(org, conn.Organization) {
		org = conn.Organization
	}
	if c.Kind == config.KindEntraAppSecret {
		return appSecretAccount(c, org), nil
	}
	if org == "" {
		return rotation.Account{}, errkind.New(errkind.Usage, fmt.Errorf("credential %s: no organisation: set credentials[].organization, the top-level organization, AZURE_DEVOPS_ORG or --org", c.Name))
	}
	return rotation.Account{Organization: org, Identity: c.Identity}, nil
}

// identityTokens is the token source of identity name of f ("" = default).
func (a *app) identityTokens(ctx context.Context, f *config.File, name string) (entra.TokenSource, error) {
	if name == "" {
		return a.tokenSource(ctx)
	}
	a.accts.mu.Lock()
	defer a.accts.mu.Unlock()
	if ts, ok := a.accts.tokens[name]; ok {
		return ts, nil
	}
	opts, err := a.identityEntraOptions(f, name)
	if err != nil {
		return nil, err
	}
	ts, err := entra.New(opts)
	if err != nil {
		return nil, fmt.Errorf("identities.%s: %w", name, err)
	}
	if a.accts.tokens == nil {
		a.accts.tokens = map[string]entra.TokenSource{}
	}
	a.accts.tokens[name] = ts
	return ts, nil
}

// devopsFor is the Azure DevOps client of account acct.
func (a *app) devopsFor(ctx context.Context, f *config.File, acct rotation.Account) (*devops.Client, error) {
	conn, err := a.connection()
	if err != nil {
		return nil, err
	}
	if acct.Identity == "" && acct.Organization == conn.Organization {
		return a.devops(ctx)
	}
	ts, err := a.identityTokens(ctx, f, acct.Identity)
	if err != nil {
		return nil, err
	}
	a.accts.mu.Lock()
	defer a.accts.mu.Unlock()
	if dc, ok := a.accts.clients[acct]; ok {
		return dc, nil
	}
	dc, err := a.newDevops(conn, acct.Organization, ts)
	if err != nil {
		return nil, err
	}
	if a.accts.clients == nil {
		a.accts.clients = map[rotation.Account]*devops.Client{}
	}
	a.accts.clients[acct] = dc
	return dc, nil
}

// accountNames are the accounts f's credentials use, in config order, for
// the run lock ("organization" or "organization (identity name)").
func (a *app) accountNames(f *config.File) []string {
	var out []string
	seen := map[rotation.Account]bool{}
	for _, c := range f.Credentials {
		acct, err := a.accountOf(c)
		if err != nil || seen[acct] {
			continue
		}
		seen[acct] = true
		out = append(out, acct.String())
	}
	return out
}
