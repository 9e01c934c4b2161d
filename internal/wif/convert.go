// Package wif converts Azure Resource Manager service connections from a
// service-principal secret (or certificate) to workload identity
// federation, in place, and back: it adds the federated identity
// credential Azure DevOps expects to the connection's application through
// Microsoft Graph, converts the connection
// (operation=ConvertAuthenticationScheme), waits until it is ready and
// verifies it with TestConnection; a conversion that does not verify is
// reverted at once.
package wif

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/graph"
	"github.com/patrol-dev/patrol/internal/redact"
)

// Schemes of Azure RM connections.
const (
	SchemeServicePrincipal = "ServicePrincipal"
	SchemeWIF              = "WorkloadIdentityFederation"
	opConvert              = "ConvertAuthenticationScheme"
)

// Converter runs conversions.
type Converter struct {
	DevOps *devops.Client
	Graph  *graph.Client
	// OrgID is the organization's id (connectionData instanceId): the issuer's last segment.
	OrgID string
	// Poll is the readiness polling interval (default 1s).
	Poll time.Duration
	// VerifyAttempts bounds TestConnection retries while a new federated
	// credential replicates (default 6), VerifyDelay between them (default 5s).
	VerifyAttempts int
	VerifyDelay    time.Duration
}

// Plan is what a conversion of one connection will do.
type Plan struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Project  string `json:"project"`
	AppID    string `json:"appId"`
	TenantID string `json:"tenantId"`
	From     string `json:"from"`
	To       string `json:"to"`
	Issuer   string `json:"issuer"`
	Subject  string `json:"subject"`
	// Deadline is the revert deadline (reverts only).
	Deadline string `json:"deadline,omitempty"`
	// RemoveSecrets are the application's passwords removed once the
	// converted connection verified (--remove-secret).
	RemoveSecrets []Secret `json:"removeSecrets,omitempty"`
}

// Result is the outcome of one conversion.
type Result struct {
	Plan
	// AddedCredential: a federated credential was added to the application.
	AddedCredential bool `json:"addedCredential"`
	Verified        bool `json:"verified"`
	// RevertDeadline as the service reported it (data.revertSchemeDeadline).
	RevertDeadline string `json:"revertDeadline,omitempty"`
	// RemovedSecrets are the keyIds of RemoveSecrets that were removed.
	RemovedSecrets []string `json:"removedSecrets,omitempty"`
}

// Issuer is the federated issuer Azure DevOps uses for an organization.
func Issuer(orgID string) string { return "https://vstoken.dev.azure.com/" + orgID }

// Subject is the federated subject Azure DevOps uses for a connection.
func Subject(org, project, connection string) string {
	return "sc://" + org + "/" + project + "/" + connection
}

func scheme(ep api.ServiceEndpoint) string {
	if ep.Authorization == nil {
		return ""
	}
	return ep.Authorization.Scheme
}

// Convertible reports why ep cannot be converted in direction (revert =
// back to ServicePrincipal), or nil.
func Convertible(ep api.ServiceEndpoint, revert bool) error {
	if !strings.EqualFold(ep.Type, "azurerm") {
		return fmt.Errorf("service connection %s is of type %s: only Azure Resource Manager (azurerm) connections convert", ep.Name, ep.Type)
	}
	s := scheme(ep)
	switch {
	case !revert && !strings.EqualFold(s, SchemeServicePrincipal):
		return fmt.Errorf("service connection %s uses scheme %s: only %s connections convert to workload identity federation", ep.Name, s, SchemeServicePrincipal)
	case revert && !strings.EqualFold(s, SchemeWIF):
		return fmt.Errorf("service connection %s uses scheme %s: only converted %s connections revert", ep.Name, s, SchemeWIF)
	case revert && ep.Data["revertSchemeDeadline"] == "":
		return fmt.Errorf("service connection %s has no revert deadline (it was not converted, or the service no longer allows a revert)", ep.Name)
	case ep.Authorization.Param("serviceprincipalid") == "" || ep.Authorization.Param("tenantid") == "":
		return fmt.Errorf("service connection %s has no serviceprincipalid/tenantid", ep.Name)
	}
	return nil
}

// PlanFor describes the conversion of ep (already checked with Convertible).
func (c *Converter) PlanFor(ep api.ServiceEndpoint, revert bool) Plan {
	project := ""
	if len(ep.ServiceEndpointProjectReferences) > 0 {
		project = ep.ServiceEndpointProjectReferences[0].ProjectReference.Name
	}
	p := Plan{ID: ep.ID, Name: ep.Name, Project: project, AppID: ep.Authorization.Param("serviceprincipalid"),
		TenantID: ep.Authorization.Param("tenantid"), From: SchemeServicePrincipal, To: SchemeWIF,
		Issuer: Issuer(c.OrgID), Subject: Subject(c.DevOps.Organization(), project, ep.Name)}
	if revert {
		p.From, p.To = SchemeWIF, SchemeServicePrincipal
		p.Issuer, p.Subject = ep.Authorization.Param("workloadIdentityFederationIssuer"), ep.Authorization.Param("workloadIdentityFederationSubject")
		p.Deadline = ep.Data["revertSchemeDeadline"]
	}
	return p
}

// Convert converts ep to workload identity federation: federated
// credential first (so the connection works the moment it converts), then
// the conversion, readiness and TestConnection. If the service assigned
// another issuer/subject than expected, that one is added too. A
// conversion that does not verify is reverted and reported as an error.
// Only then, the passwords remove (checked with SecretsToRemove and
// SharedSecretUsers) are removed and the connection verified again; a
// failure there is not reverted (the connection no longer needs the
// secret) and its error says what state things are in.
func (c *Converter) Convert(ctx context.Context, project string, ep api.ServiceEndpoint, remove []Secret) (Result, error) {
	res := Result{Plan: c.PlanFor(ep, false)}
	res.RemoveSecrets = remove
	desc := "Azure DevOps service connection " + ep.ID + " (added by patrol)"
	added, err := c.Graph.EnsureFederatedCredential(ctx, res.AppID, "ado-"+ep.ID, res.Issuer, res.Subject, desc)
	if err != nil {
		return res, fmt.Errorf("adding the federated credential to application %s: %w", res.AppID, err)
	}
	res.AddedCredential = added
	body := ep
	body.Authorization = &api.EndpointAuthorization{Scheme: SchemeWIF, Parameters: map[string]*string{}}
	out, err := c.DevOps.UpdateServiceEndpoint(ctx, body, opConvert)
	if err != nil {
		return res, fmt.Errorf("converting %s: %w", ep.Name, err)
	}
	iss, sub := out.Authorization.Param("workloadIdentityFederationIssuer"), out.Authorization.Param("workloadIdentityFederationSubject")
	if iss != "" && sub != "" && (iss != res.Issuer || sub != res.Subject) {
		res.Issuer, res.Subject = iss, sub
		more, err := c.Graph.EnsureFederatedCredential(ctx, res.AppID, "ado-"+ep.ID+"-assigned", iss, sub, desc)
		if err != nil {
			return res, c.undo(ctx, project, out, fmt.Errorf("adding the federated credential the service assigned (%s, %s): %w", iss, sub, err))
		}
		res.AddedCredential = res.AddedCredential || more
	}
	res.RevertDeadline = out.Data["revertSchemeDeadline"]
	if err := c.verify(ctx, project, ep.ID); err != nil {
		return res, c.undo(ctx, project, out, err)
	}
	res.Verified = true
	if len(remove) > 0 {
		return res, c.removeSecrets(ctx, project, &res)
	}
	return res, nil
}

// undo reverts a conversion that failed, joining the cause and any revert error.
func (c *Converter) undo(ctx context.Context, project string, converted api.ServiceEndpoint, cause error) error {
	if _, rerr := c.revert(ctx, project, converted); rerr != nil {
		return errors.Join(cause, fmt.Errorf("reverting %s failed too — revert it with `patrol endpoint convert-to-wif --revert`: %w", converted.Name, rerr))
	}
	return fmt.Errorf("%w (the connection was reverted to %s)", cause, SchemeServicePrincipal)
}

// Revert converts ep back to ServicePrincipal and verifies it.
func (c *Converter) Revert(ctx context.Context, project string, ep api.ServiceEndpoint) (Result, error) {
	res := Result{Plan: c.PlanFor(ep, true)}
	if _, err := c.revert(ctx, project, ep); err != nil {
		return res, err
	}
	if err := c.verify(ctx, project, ep.ID); err != nil {
		return res, err
	}
	res.Verified = true
	return res, nil
}

func (c *Converter) revert(ctx context.Context, project string, ep api.ServiceEndpoint) (api.ServiceEndpoint, error) {
	body := ep
	body.Authorization = &api.EndpointAuthorization{Scheme: SchemeServicePrincipal, Parameters: map[string]*string{}}
	out, err := c.DevOps.UpdateServiceEndpoint(ctx, body, opConvert)
	if err != nil {
		return out, fmt.Errorf("reverting %s: %w", ep.Name, err)
	}
	return out, nil
}

// verify waits for readiness, then runs TestConnection, retrying within
// VerifyAttempts while a new credential replicates.
func (c *Converter) verify(ctx context.Context, project, id string) error {
	poll, attempts, delay := c.Poll, c.VerifyAttempts, c.VerifyDelay
	if poll <= 0 {
		poll = time.Second
	}
	if attempts <= 0 {
		attempts = 6
	}
	if delay <= 0 {
		delay = 5 * time.Second
	}
	if _, err := c.DevOps.WaitEndpointReady(ctx, project, id, poll); err != nil {
		return err
	}
	var last string
	for i := 0; i < attempts; i++ {
		if i > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		r, err := c.DevOps.ExecuteServiceEndpointRequest(ctx, project, id, api.ServiceEndpointRequest{DataSourceDetails: &api.DataSourceDetails{DataSourceName: "TestConnection"}})
		if err != nil {
			return err
		}
		if strings.EqualFold(r.StatusCode, "ok") {
			return nil
		}
		last = r.StatusCode + ": " + redact.String(r.ErrorMessage)
	}
	return errkind.New(errkind.Auth, fmt.Errorf("TestConnection of %s failed %d times: %s", id, attempts, last))
}
