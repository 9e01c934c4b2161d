// Package api holds the wire types of the Azure DevOps REST APIs patrol uses:
// the PAT lifecycle API (tokens/pats), TokenAdmin, service endpoints, variable
// groups and connectionData. The client (internal/devops) and the emulator
// (internal/emulator) share these types and nothing else, so the emulator
// cannot drift from what the client sends and reads.
//
// Field names and JSON spellings follow the official 7.2 REST specifications
// (MicrosoftDocs/vsts-rest-api-specs).
package api

// Azure DevOps application (resource) id; the Entra scope for Azure DevOps is
// ResourceID + "/.default".
const (
	ResourceID = "499b84ac-1321-427f-aa17-267ca6975798"
	Scope      = ResourceID + "/.default"

	// DefaultPATAPIVersion is what patrol sends to tokens/pats unless configured.
	DefaultPATAPIVersion = "7.1-preview.1"
	// TokenAdminAPIVersion is sent to tokenadmin routes.
	TokenAdminAPIVersion = "7.1-preview.1"
	// ServiceEndpointAPIVersion is sent to serviceendpoint/endpoints routes.
	ServiceEndpointAPIVersion = "7.1-preview.4"
	// ServiceEndpointTypesAPIVersion is sent to types/endpointproxy/executionhistory.
	ServiceEndpointTypesAPIVersion = "7.1-preview.1"
	// VariableGroupAPIVersion is sent to distributedtask/variablegroups.
	VariableGroupAPIVersion = "7.1-preview.2"

	// FullAccessScope is the scope string of a full-access PAT.
	FullAccessScope = "app_token"
)
