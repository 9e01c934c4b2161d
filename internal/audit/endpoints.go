package audit

import (
	"fmt"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// Endpoint is one service connection of the inventory.
type Endpoint struct {
	Project   string    `json:"project"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	Scheme    string    `json:"scheme"`
	CreatedBy string    `json:"createdBy,omitempty"`
	Created   time.Time `json:"created,omitzero"`
	Shared    bool      `json:"shared"`
	Ready     bool      `json:"ready"`
	// Secret: the scheme holds a secret that expires or must be rotated (a
	// service principal key, a password, a token), as opposed to workload
	// identity federation or managed identity.
	Secret bool `json:"secret"`
	// ConvertibleToWIF: an Azure Resource Manager connection with a service
	// principal secret, which Azure DevOps can convert in place to workload
	// identity federation.
	ConvertibleToWIF bool `json:"convertibleToWif"`
	// AppID is the service principal's application (client) id of an Azure
	// Resource Manager connection (authorization parameter serviceprincipalid).
	AppID string `json:"appId,omitempty"`
	// Secret expiry, for connections with a service principal secret, from
	// the application's passwordCredentials in Microsoft Graph. Azure DevOps
	// never returns the secret, so which password the connection holds is
	// unknown: SecretNearestExpiry is the earliest endDateTime of the
	// application's passwords, SecretLatestExpiry the latest (the connection
	// fails by then at the latest). SecretLookup says how the lookup went:
	// SecretRead, SecretAppNotFound, SecretNoPermission or "" (not looked up).
	SecretLookup        string    `json:"secretLookup,omitempty"`
	SecretPasswords     int       `json:"secretPasswords,omitempty"`
	SecretNearestExpiry time.Time `json:"secretNearestExpiry,omitzero"`
	SecretLatestExpiry  time.Time `json:"secretLatestExpiry,omitzero"`
}

// Outcomes of Endpoint.SecretLookup.
const (
	SecretRead         = "read"
	SecretAppNotFound  = "application not found"
	SecretNoPermission = "no permission"
	SecretUnknown      = "unknown"
)

// FromServiceEndpoint converts a listed endpoint of project.
func FromServiceEndpoint(project string, ep api.ServiceEndpoint) Endpoint {
	e := Endpoint{Project: project, ID: ep.ID, Name: ep.Name, Type: ep.Type, Shared: ep.IsShared, Ready: ep.IsReady}
	if ep.CreatedBy != nil {
		e.CreatedBy = ep.CreatedBy.UniqueName
		if e.CreatedBy == "" {
			e.CreatedBy = ep.CreatedBy.DisplayName
		}
	}
	if ep.CreationDate != nil {
		e.Created = *ep.CreationDate
	}
	if ep.Authorization != nil {
		e.Scheme = ep.Authorization.Scheme
		param := func(k string) string {
			for name, v := range ep.Authorization.Parameters {
				if strings.EqualFold(name, k) && v != nil {
					return *v
				}
			}
			return ""
		}
		switch strings.ToLower(e.Scheme) {
		case "workloadidentityfederation", "managedserviceidentity", "none":
		case "serviceprincipal":
			// spnCertificate connections hold a certificate, spnKey (the
			// default) a client secret.
			e.Secret = true
			e.ConvertibleToWIF = strings.EqualFold(e.Type, "azurerm") && !strings.EqualFold(param("authenticationType"), "spnCertificate")
			if e.ConvertibleToWIF {
				e.AppID = param("serviceprincipalid")
			}
		default:
			e.Secret = true
		}
	}
	return e
}

// AssessEndpoint returns the findings of one service connection.
func AssessEndpoint(e Endpoint, o Options) []Finding {
	f := func(sev Severity, rule, msg, fix string) Finding {
		return Finding{Severity: sev, Rule: rule, AuthorizationID: e.ID, DisplayName: e.Project + "/" + e.Name, Owner: e.CreatedBy, Message: msg, Fix: fix}
	}
	convert := fmt.Sprintf("convert it to workload identity federation, which has no secret to expire (patrol endpoint convert-to-wif %s --project %s --yes), or add a new password to application %s and update the connection", e.Name, e.Project, e.AppID)
	var out []Finding
	if !e.Ready {
		out = append(out, f(Medium, RuleEndpointNotReady, "the service connection is not ready (its last operation failed or is pending)",
			"open it in Project settings → Service connections, or run `patrol endpoint get` to see its operation status"))
	}
	if e.ConvertibleToWIF {
		out = append(out, f(Low, RuleEndpointSecret, "Azure Resource Manager connection with a service principal secret: the secret expires and then the pipelines using it fail",
			fmt.Sprintf("convert it to workload identity federation (Azure DevOps converts in place; no secret to rotate): patrol endpoint convert-to-wif %s --project %s", e.Name, e.Project)))
	}
	if e.SecretLookup != SecretRead {
		return out
	}
	const unknownWhich = "Azure DevOps never returns the secret, so patrol cannot tell which of the application's passwords the connection holds"
	nearest, latest := e.SecretNearestExpiry, e.SecretLatestExpiry
	switch {
	case e.SecretPasswords == 0:
		out = append(out, f(High, RuleEndpointSecretExpired, fmt.Sprintf("application %s has no password: the connection cannot sign in with a secret", e.AppID), convert))
	case !latest.After(o.Now):
		out = append(out, f(High, RuleEndpointSecretExpired, fmt.Sprintf("every password of application %s has expired (the latest on %s): the connection cannot sign in", e.AppID, latest.UTC().Format(time.RFC3339)), convert))
	case o.ExpiringWithin > 0 && latest.Sub(o.Now) <= o.ExpiringWithin:
		out = append(out, f(High, RuleEndpointSecretExpiring, fmt.Sprintf("every password of application %s expires by %s (in %s): the connection fails then at the latest", e.AppID, latest.UTC().Format(time.RFC3339), days(latest.Sub(o.Now))), convert))
	case !nearest.After(o.Now):
		out = append(out, f(Medium, RuleEndpointSecretExpiring, fmt.Sprintf("a password of application %s expired on %s (the latest ends %s): if the connection holds that one, it already fails; %s", e.AppID, nearest.UTC().Format(time.RFC3339), latest.UTC().Format(time.RFC3339), unknownWhich), convert))
	case o.ExpiringWithin > 0 && nearest.Sub(o.Now) <= o.ExpiringWithin:
		out = append(out, f(Medium, RuleEndpointSecretExpiring, fmt.Sprintf("a password of application %s expires in %s (the latest ends %s): if the connection holds that one, it fails then; %s", e.AppID, days(nearest.Sub(o.Now)), latest.UTC().Format(time.RFC3339), unknownWhich), convert))
	}
	return out
}

// Endpoint rules.
const (
	RuleEndpointNotReady = "endpoint-not-ready"
	RuleEndpointSecret   = "endpoint-secret"
	// RuleEndpointSecretExpired: the application of the connection has no
	// password left that signs in; RuleEndpointSecretExpiring: one or all of
	// its passwords expire within Options.ExpiringWithin.
	RuleEndpointSecretExpired  = "endpoint-secret-expired"
	RuleEndpointSecretExpiring = "endpoint-secret-expiring"
)

// EndpointHeader and EndpointRow are the table form of `patrol audit endpoints`.
func EndpointHeader() []string {
	return []string{"PROJECT", "NAME", "TYPE", "SCHEME", "SECRET", "SECRET EXPIRES", "WIF-CONVERTIBLE", "SHARED", "READY", "CREATED BY", "ID"}
}

// EndpointRow renders e for EndpointHeader.
func EndpointRow(e Endpoint) []string {
	return []string{e.Project, e.Name, e.Type, e.Scheme, yn(e.Secret), e.SecretExpires(), yn(e.ConvertibleToWIF), yn(e.Shared), yn(e.Ready), e.CreatedBy, e.ID}
}

// SecretExpires is the table cell of the secret's expiry: the nearest and
// the latest endDateTime of the application's passwords, or why unknown.
func (e Endpoint) SecretExpires() string {
	switch {
	case e.SecretLookup == "":
		return ""
	case e.SecretLookup != SecretRead:
		return "? (" + e.SecretLookup + ")"
	case e.SecretPasswords == 0:
		return "no password"
	case e.SecretNearestExpiry.Equal(e.SecretLatestExpiry):
		return e.SecretLatestExpiry.UTC().Format(time.DateOnly)
	}
	return e.SecretNearestExpiry.UTC().Format(time.DateOnly) + " .. " + e.SecretLatestExpiry.UTC().Format(time.DateOnly)
}
