package audit

import (
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
}

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
		default:
			e.Secret = true
		}
	}
	return e
}

// AssessEndpoint returns the findings of one service connection.
func AssessEndpoint(e Endpoint) []Finding {
	f := func(sev Severity, rule, msg, fix string) Finding {
		return Finding{Severity: sev, Rule: rule, AuthorizationID: e.ID, DisplayName: e.Project + "/" + e.Name, Owner: e.CreatedBy, Message: msg, Fix: fix}
	}
	var out []Finding
	if !e.Ready {
		out = append(out, f(Medium, RuleEndpointNotReady, "the service connection is not ready (its last operation failed or is pending)",
			"open it in Project settings → Service connections, or run `patrol endpoint get` to see its operation status"))
	}
	if e.ConvertibleToWIF {
		out = append(out, f(Low, RuleEndpointSecret, "Azure Resource Manager connection with a service principal secret: the secret expires and then the pipelines using it fail",
			"convert it to workload identity federation (Azure DevOps converts in place; no secret to rotate), or rotate the secret before it expires"))
	}
	return out
}

// Endpoint rules.
const (
	RuleEndpointNotReady = "endpoint-not-ready"
	RuleEndpointSecret   = "endpoint-secret"
)

// EndpointHeader and EndpointRow are the table form of `patrol audit endpoints`.
func EndpointHeader() []string {
	return []string{"PROJECT", "NAME", "TYPE", "SCHEME", "SECRET", "WIF-CONVERTIBLE", "SHARED", "READY", "CREATED BY", "ID"}
}

// EndpointRow renders e for EndpointHeader.
func EndpointRow(e Endpoint) []string {
	return []string{e.Project, e.Name, e.Type, e.Scheme, yn(e.Secret), yn(e.ConvertibleToWIF), yn(e.Shared), yn(e.Ready), e.CreatedBy, e.ID}
}
