package api

import (
	"encoding/json"
	"strings"
	"time"
)

// ServiceEndpoint is a service connection (serviceEndpoint 7.2 spec).
type ServiceEndpoint struct {
	ID          string  `json:"id,omitempty"`
	Name        string  `json:"name"`
	Type        string  `json:"type"`
	URL         string  `json:"url"`
	Description *string `json:"description,omitempty"`
	// Data is always sent: the service answers {} for an endpoint without data.
	Data                             map[string]string                 `json:"data"`
	Authorization                    *EndpointAuthorization            `json:"authorization,omitempty"`
	IsShared                         bool                              `json:"isShared"`
	IsReady                          bool                              `json:"isReady"`
	IsDisabled                       bool                              `json:"isDisabled"`
	IsOutdated                       bool                              `json:"isOutdated"`
	Owner                            string                            `json:"owner,omitempty"`
	OperationStatus                  json.RawMessage                   `json:"operationStatus,omitempty"`
	ServiceEndpointProjectReferences []ServiceEndpointProjectReference `json:"serviceEndpointProjectReferences,omitempty"`
	CreatedBy                        *IdentityRef                      `json:"createdBy,omitempty"`
	CreationDate                     *time.Time                        `json:"creationDate,omitempty"`
	ModificationDate                 *time.Time                        `json:"modificationDate,omitempty"`
	ModifiedBy                       *IdentityRef                      `json:"modifiedBy,omitempty"`
	ServiceManagementReference       *string                           `json:"serviceManagementReference,omitempty"`
}

// EndpointAuthorization is {scheme, parameters}. A nil parameter value is the
// wire null: confidential values come back null, and a null in an update keeps
// the stored value.
type EndpointAuthorization struct {
	Scheme     string             `json:"scheme"`
	Parameters map[string]*string `json:"parameters,omitempty"`
}

// Param is the value of parameter name (case-insensitive), "" when absent or null.
func (a *EndpointAuthorization) Param(name string) string {
	if a == nil {
		return ""
	}
	for k, v := range a.Parameters {
		if strings.EqualFold(k, name) && v != nil {
			return *v
		}
	}
	return ""
}

// OperationStatus is the decoded form of ServiceEndpoint.OperationStatus.
type OperationStatus struct {
	State         string `json:"state"`
	StatusMessage string `json:"statusMessage"`
}

// ProjectReference names a project.
type ProjectReference struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// ServiceEndpointProjectReference shares an endpoint into a project.
type ServiceEndpointProjectReference struct {
	ProjectReference ProjectReference `json:"projectReference"`
	Name             string           `json:"name"`
	Description      string           `json:"description,omitempty"`
}

// IdentityRef is an identity reference (createdBy, modifiedBy): the user's
// display name, its UPN as uniqueName, its subject descriptor and the URLs
// of the identity and its avatar.
type IdentityRef struct {
	ID          string         `json:"id,omitempty"`
	DisplayName string         `json:"displayName,omitempty"`
	UniqueName  string         `json:"uniqueName,omitempty"`
	Descriptor  string         `json:"descriptor,omitempty"`
	URL         string         `json:"url,omitempty"`
	ImageURL    string         `json:"imageUrl,omitempty"`
	Links       map[string]any `json:"_links,omitempty"`
}

// ListOf is the wire wrapper of array responses: {"count": n, "value": [...]}.
type ListOf[T any] struct {
	Count int `json:"count"`
	Value []T `json:"value"`
}

// ServiceEndpointRequest is the body of endpointproxy.
type ServiceEndpointRequest struct {
	ServiceEndpointDetails      *ServiceEndpointDetails      `json:"serviceEndpointDetails,omitempty"`
	DataSourceDetails           *DataSourceDetails           `json:"dataSourceDetails,omitempty"`
	ResultTransformationDetails *ResultTransformationDetails `json:"resultTransformationDetails,omitempty"`
}

// ServiceEndpointDetails is an unsaved endpoint for endpointproxy.
type ServiceEndpointDetails struct {
	Type          string                 `json:"type"`
	URL           string                 `json:"url"`
	Data          map[string]string      `json:"data,omitempty"`
	Authorization *EndpointAuthorization `json:"authorization,omitempty"`
}

// DataSourceDetails selects and parameterises a data source for endpointproxy.
type DataSourceDetails struct {
	DataSourceName         string            `json:"dataSourceName,omitempty"`
	DataSourceURL          string            `json:"dataSourceUrl,omitempty"`
	Headers                []AuthHeader      `json:"headers,omitempty"`
	Parameters             map[string]string `json:"parameters,omitempty"`
	RequestContent         string            `json:"requestContent,omitempty"`
	RequestVerb            string            `json:"requestVerb,omitempty"`
	ResourceURL            string            `json:"resourceUrl,omitempty"`
	ResultSelector         string            `json:"resultSelector,omitempty"`
	InitialContextTemplate string            `json:"initialContextTemplate,omitempty"`
}

// ResultTransformationDetails carries result and paging templates.
type ResultTransformationDetails struct {
	ResultTemplate           string `json:"resultTemplate,omitempty"`
	CallbackContextTemplate  string `json:"callbackContextTemplate,omitempty"`
	CallbackRequiredTemplate string `json:"callbackRequiredTemplate,omitempty"`
}

// AuthHeader is {name, value}.
type AuthHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ServiceEndpointRequestResult is the endpointproxy response.
type ServiceEndpointRequestResult struct {
	Result                    json.RawMessage   `json:"result"`
	StatusCode                string            `json:"statusCode"`
	ErrorMessage              string            `json:"errorMessage"`
	ActivityID                string            `json:"activityId,omitempty"`
	CallbackRequired          bool              `json:"callbackRequired"`
	CallbackContextParameters map[string]string `json:"callbackContextParameters,omitempty"`
}

// ServiceEndpointExecutionRecord is one entry of executionhistory.
type ServiceEndpointExecutionRecord struct {
	Data       json.RawMessage `json:"data"`
	EndpointID string          `json:"endpointId"`
}

// ServiceEndpointType is one entry of serviceendpoint/types. Kept as raw JSON
// parts the scheme engine decodes itself.
type ServiceEndpointType struct {
	Name                  string            `json:"name"`
	DisplayName           string            `json:"displayName"`
	Description           string            `json:"description,omitempty"`
	AuthenticationSchemes []json.RawMessage `json:"authenticationSchemes"`
	DataSources           []json.RawMessage `json:"dataSources"`
	InputDescriptors      []json.RawMessage `json:"inputDescriptors"`
	EndpointURL           json.RawMessage   `json:"endpointUrl,omitempty"`
	HelpMarkDown          string            `json:"helpMarkDown"`
	IconURL               string            `json:"iconUrl,omitempty"`
	TrustedHosts          []string          `json:"trustedHosts"`
	DependencyData        []json.RawMessage `json:"dependencyData"`
}
