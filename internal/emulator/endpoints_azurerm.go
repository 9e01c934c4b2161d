// Azure Resource Manager service connections: the in-place conversion of a
// service-principal connection to workload identity federation (and back)
// and a TestConnection that signs in with the connection's credential
// against the emulator's Entra.

package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

const (
	schemeServicePrincipal = "ServicePrincipal"
	schemeWIF              = "WorkloadIdentityFederation"
	// RevertSchemeWindow is how long a converted connection may be
	// converted back (the service's window is unconfirmed: the emulator's choice).
	RevertSchemeWindow = 7 * 24 * time.Hour
)

// convertedFrom keeps what a conversion replaced, for the revert.
type convertedFrom struct {
	Parameters map[string]*string `json:"parameters"`
	Deadline   time.Time          `json:"deadline"`
}

// WIFIssuer is the issuer Azure DevOps assigns to workload identity
// federation connections of an organization.
func WIFIssuer(orgID string) string { return "https://vstoken.dev.azure.com/" + orgID }

// WIFSubject is the subject Azure DevOps assigns to a connection.
func WIFSubject(org, project, connection string) string {
	return "sc://" + org + "/" + project + "/" + connection
}

func isAzureRM(ep *api.ServiceEndpoint) bool { return strings.EqualFold(ep.Type, "azurerm") }

func strp(s string) *string { return &s }

// convertSchemeLocked is operation=ConvertAuthenticationScheme: an Azure RM
// connection with scheme ServicePrincipal becomes WorkloadIdentityFederation
// with the issuer and subject the service assigns (and a revert deadline in
// data.revertSchemeDeadline); a converted one goes back to
// ServicePrincipal with its former parameters until that deadline.
func (e *Emulator) convertSchemeLocked(org *Org, c *caller, rec *endpointRecord, in api.ServiceEndpoint) (int, error) {
	cur := &rec.Endpoint
	if !isAzureRM(cur) {
		return http.StatusBadRequest, fmt.Errorf("service endpoint %s is of type %s: only azurerm connections convert their authentication scheme", cur.ID, cur.Type)
	}
	if in.Authorization == nil {
		return http.StatusBadRequest, fmt.Errorf("ConvertAuthenticationScheme needs authorization.scheme (%s or %s)", schemeWIF, schemeServicePrincipal)
	}
	from, to := cur.Authorization.Scheme, in.Authorization.Scheme
	now := e.now().UTC()
	switch {
	case strings.EqualFold(from, schemeServicePrincipal) && strings.EqualFold(to, schemeWIF):
		project := ""
		if len(cur.ServiceEndpointProjectReferences) > 0 {
			project = cur.ServiceEndpointProjectReferences[0].ProjectReference.Name
		}
		rec.Converted = &convertedFrom{Parameters: cloneParams(cur.Authorization.Parameters), Deadline: now.Add(RevertSchemeWindow)}
		cur.Authorization = &api.EndpointAuthorization{Scheme: schemeWIF, Parameters: map[string]*string{
			"serviceprincipalid":                strp(cur.Authorization.Param("serviceprincipalid")),
			"tenantid":                          strp(cur.Authorization.Param("tenantid")),
			"workloadIdentityFederationIssuer":  strp(WIFIssuer(org.ID)),
			"workloadIdentityFederationSubject": strp(WIFSubject(org.Name, project, cur.Name)),
		}}
		if cur.Data == nil {
			cur.Data = map[string]string{}
		}
		cur.Data["revertSchemeDeadline"] = now.Add(RevertSchemeWindow).Format(time.RFC3339)
	case strings.EqualFold(from, schemeWIF) && strings.EqualFold(to, schemeServicePrincipal):
		if rec.Converted == nil {
			return http.StatusBadRequest, fmt.Errorf("service endpoint %s was created with workload identity federation: there is no secret-based scheme to revert to", cur.ID)
		}
		if !now.Before(rec.Converted.Deadline) {
			return http.StatusBadRequest, fmt.Errorf("the revert deadline of service endpoint %s (%s) has passed: it can no longer be converted back", cur.ID, rec.Converted.Deadline.Format(time.RFC3339))
		}
		cur.Authorization = &api.EndpointAuthorization{Scheme: schemeServicePrincipal, Parameters: rec.Converted.Parameters}
		rec.Converted = nil
		delete(cur.Data, "revertSchemeDeadline")
	default:
		return http.StatusBadRequest, fmt.Errorf("service endpoint %s cannot convert from scheme %s to %s: ConvertAuthenticationScheme converts %s to %s and back", cur.ID, from, to, schemeServicePrincipal, schemeWIF)
	}
	cur.ModificationDate = &now
	cur.ModifiedBy = e.identityRefLocked(org, c)
	rec.Polls, rec.Fail = e.epBehavior.InProgressPolls, e.epBehavior.Fail
	return 0, nil
}

func cloneParams(m map[string]*string) map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		if v != nil {
			s := *v
			out[k] = &s
		} else {
			out[k] = nil
		}
	}
	return out
}

// azureRMTestConnection answers the TestConnection data source of an Azure
// RM connection by signing in with its credential: the secret
// (serviceprincipalkey), the certificate (servicePrincipalCertificate, one
// of the app's) or, for workload identity federation, a federated
// credential of the app with the connection's issuer and subject.
func (e *Emulator) azureRMTestConnection(call EndpointProxyCall) (EndpointProxyOutcome, bool) {
	ep := &call.Endpoint
	d := call.Request.DataSourceDetails
	if !isAzureRM(ep) || d == nil || !strings.EqualFold(d.DataSourceName, "TestConnection") || ep.Authorization == nil {
		return EndpointProxyOutcome{}, false
	}
	fail := func(msg string) (EndpointProxyOutcome, bool) {
		return EndpointProxyOutcome{StatusCode: http.StatusBadRequest, ErrorMessage: msg, Result: json.RawMessage("[]")}, true
	}
	clientID, tenantID := ep.Authorization.Param("serviceprincipalid"), ep.Authorization.Param("tenantid")
	e.mu.Lock()
	defer e.mu.Unlock()
	app := e.idx.apps[strings.ToLower(clientID)]
	if app == nil || !strings.EqualFold(app.TenantID, tenantID) {
		return fail(fmt.Sprintf("Failed to obtain the Json Web Token(JWT) using service principal client ID. Exception Message: AADSTS700016: Application with identifier '%s' was not found in the directory '%s'.", clientID, tenantID))
	}
	switch {
	case strings.EqualFold(ep.Authorization.Scheme, schemeWIF):
		iss, sub := ep.Authorization.Param("workloadIdentityFederationIssuer"), ep.Authorization.Param("workloadIdentityFederationSubject")
		found := false
		for _, f := range e.credsLocked(app).Federated {
			found = found || (f.Issuer == iss && f.Subject == sub)
		}
		if !found {
			return fail(fmt.Sprintf("Failed to obtain an access token of the service principal using a federated token. Exception Message: AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.", iss, sub, federatedAudience))
		}
	case strings.EqualFold(ep.Authorization.Param("authenticationType"), "spnCertificate"):
		cert, err := parseCertPEM(ep.Authorization.Param("servicePrincipalCertificate"))
		ok := false
		for _, c := range app.Certificates {
			if known, kerr := parseCertPEM(c); err == nil && kerr == nil && known.Equal(cert) {
				ok = true
			}
		}
		if !ok {
			return fail("Failed to obtain the Json Web Token(JWT) using service principal client ID. Exception Message: AADSTS700027: Client assertion failed signature validation.")
		}
	default:
		switch e.checkSecretLocked(app, ep.Authorization.Param("serviceprincipalkey")) {
		case secretExpired:
			return fail(fmt.Sprintf("Failed to obtain the Json Web Token(JWT) using service principal client ID. Exception Message: AADSTS7000222: The provided client secret keys for app '%s' are expired.", app.ClientID))
		case secretWrong:
			return fail(fmt.Sprintf("Failed to obtain the Json Web Token(JWT) using service principal client ID. Exception Message: AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.ClientID))
		}
	}
	sub := ep.Data["subscriptionId"]
	res, _ := json.Marshal(map[string]any{"id": "/subscriptions/" + sub, "subscriptionId": sub, "displayName": ep.Data["subscriptionName"],
		"state": "Enabled", "tenantId": app.TenantID})
	return EndpointProxyOutcome{StatusCode: http.StatusOK, Result: res}, true
}
