package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// ---- service endpoint types: GET|POST {org}/_apis/serviceendpoint/types ----

// EndpointType describes a service endpoint type the emulator accepts: its
// connection URL field, its own inputs (an endpoint's data), its schemes
// with their authorization parameters (confidential ones are returned
// null), its data sources and help text.
type EndpointType struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Description string `json:"description,omitempty"`
	// URL describes the connection URL field (wire endpointUrl).
	URL EndpointURL `json:"url,omitempty"`
	// Inputs are the type's own inputs; their values go to an endpoint's data.
	Inputs       []EndpointParam      `json:"inputs,omitempty"`
	Schemes      []EndpointScheme     `json:"schemes"`
	DataSources  []EndpointDataSource `json:"dataSources,omitempty"`
	HelpMarkDown string               `json:"helpMarkDown,omitempty"`
}

// EndpointURL is the connection URL field of a type: a fixed value (e.g.
// https://github.com) or a label and help text for a user-entered one.
type EndpointURL struct {
	Value       string `json:"value,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	HelpText    string `json:"helpText,omitempty"`
	Hidden      bool   `json:"hidden,omitempty"`
}

// EndpointScheme is one authentication scheme of an EndpointType.
type EndpointScheme struct {
	Scheme string          `json:"scheme"`
	Params []EndpointParam `json:"params"`
}

// EndpointParam is one input: an authorization parameter of a scheme or a
// data input of a type.
type EndpointParam struct {
	Name         string `json:"name"`
	DisplayName  string `json:"displayName,omitempty"`
	Confidential bool   `json:"confidential,omitempty"`
	Required     bool   `json:"required,omitempty"`
	// Mode is the InputMode (default textBox, passwordBox when confidential).
	Mode string `json:"mode,omitempty"`
	// MaxLength bounds the value (default 300, the published schemes' limit;
	// -1 = none).
	MaxLength int `json:"maxLength,omitempty"`
	// Values are the possible values of a combo or radio input; Default is
	// the preselected one.
	Values  []string `json:"values,omitempty"`
	Default string   `json:"default,omitempty"`
}

// EndpointDataSource is a named request of a type (TestConnection, …).
type EndpointDataSource struct {
	Name           string `json:"name"`
	EndpointURL    string `json:"endpointUrl"`
	ResultSelector string `json:"resultSelector,omitempty"`
}

// BuiltinEndpointTypes are served by GET .../serviceendpoint/types and
// validate endpoint bodies (more can be added with Seed.EndpointTypes). The
// URL fields, data inputs and TestConnection data sources follow the types
// of Microsoft's recorded types list (../shared/specs/examples).
var BuiltinEndpointTypes = []EndpointType{
	{Name: "generic", DisplayName: "Generic", Description: "Connection to any server reached with a user name and password",
		URL: EndpointURL{DisplayName: "Server URL", HelpText: "URL of the server to connect to."},
		Schemes: []EndpointScheme{
			{Scheme: "UsernamePassword", Params: []EndpointParam{{Name: "username"}, {Name: "password", Confidential: true}}},
			{Scheme: "None"},
		}},
	{Name: "sonarqube", DisplayName: "SonarQube", Description: "Connection to a SonarQube server",
		URL:          EndpointURL{DisplayName: "Server URL", HelpText: "URL of the SonarQube server."},
		HelpMarkDown: "The SonarQube token goes into **Token** (sent as the user name).",
		Schemes: []EndpointScheme{
			{Scheme: "UsernamePassword", Params: []EndpointParam{{Name: "username", DisplayName: "Token", Confidential: true, Required: true}, {Name: "password", Confidential: true}}},
		},
		DataSources: []EndpointDataSource{{Name: "TestConnection", EndpointURL: "{{endpoint.url}}/api/authentication/validate", ResultSelector: "jsonpath:$.valid"}}},
	{Name: "externaltfs", DisplayName: "Azure Repos/Team Foundation Server", Description: "Connection to another Azure DevOps organization or Team Foundation Server",
		URL:          EndpointURL{DisplayName: "Connection URL", HelpText: "URL of the Azure DevOps organization or the TFS project collection."},
		HelpMarkDown: "Use a personal access token of the organization the URL names.",
		Schemes: []EndpointScheme{
			{Scheme: "Token", Params: []EndpointParam{{Name: "apitoken", DisplayName: "Personal Access Token", Confidential: true, Required: true}}},
			{Scheme: "UsernamePassword", Params: []EndpointParam{{Name: "username", Required: true}, {Name: "password", Confidential: true, Required: true}}},
		},
		DataSources: []EndpointDataSource{{Name: "TestConnection", EndpointURL: "{{endpoint.url}}/_apis/projects", ResultSelector: "jsonpath:$.value[?(@.state=='wellFormed')]"}}},
	{Name: "externalnugetfeed", DisplayName: "NuGet", Description: "Connection to an external NuGet feed",
		URL: EndpointURL{DisplayName: "Feed URL", HelpText: "URL of the NuGet feed (the service index)."},
		Schemes: []EndpointScheme{
			{Scheme: "Token", Params: []EndpointParam{{Name: "apitoken", DisplayName: "Personal Access Token", Confidential: true, Required: true}}},
			{Scheme: "UsernamePassword", Params: []EndpointParam{{Name: "username", Required: true}, {Name: "password", Confidential: true, Required: true}}},
			{Scheme: "None", Params: []EndpointParam{{Name: "nugetkey", DisplayName: "ApiKey", Confidential: true}}},
		}},
	{Name: "github", DisplayName: "GitHub", Description: "Connection to GitHub",
		URL: EndpointURL{Value: "https://github.com", Hidden: true},
		Schemes: []EndpointScheme{
			{Scheme: "PersonalAccessToken", Params: []EndpointParam{{Name: "accessToken", DisplayName: "Personal access token", Confidential: true, Required: true}}},
			{Scheme: "Token", Params: []EndpointParam{{Name: "AccessToken", Confidential: true, Required: true}}},
		},
		DataSources: []EndpointDataSource{{Name: "TestConnection", EndpointURL: "https://api.github.com/user/repos", ResultSelector: "jsonpath:$[*]"}}},
	{Name: "dockerregistry", DisplayName: "Docker Registry", Description: "Connection to a Docker registry",
		URL:    EndpointURL{Value: "https://hub.docker.com/"},
		Inputs: []EndpointParam{{Name: "registrytype", DisplayName: "Registry Type", Required: true, Mode: "combo", Values: []string{"Others", "DockerHub", "ACR"}}},
		Schemes: []EndpointScheme{
			{Scheme: "UsernamePassword", Params: []EndpointParam{{Name: "username", Required: true}, {Name: "password", Confidential: true, Required: true}, {Name: "email"}, {Name: "registry"}}},
		},
		DataSources: []EndpointDataSource{{Name: "TestConnection", EndpointURL: "{{endpoint.url}}v2/repositories/namespaces/", ResultSelector: "jsonpath:$.values[*]"}}},
	{Name: "azurerm", DisplayName: "Azure Resource Manager", Description: "Connection to an Azure subscription or management group",
		URL: EndpointURL{DisplayName: "Server URL", HelpText: "Azure Resource Manager URL of the cloud.", Value: "https://management.azure.com/"},
		Inputs: []EndpointParam{{Name: "environment", DisplayName: "Environment", Required: true, Mode: "combo", Values: []string{"AzureCloud", "AzureChinaCloud", "AzureUSGovernment", "AzureStack"}},
			{Name: "scopeLevel", DisplayName: "Scope Level", Required: true, Mode: "radioButtons", Values: []string{"Subscription", "ManagementGroup", "AzureMLWorkspace"}},
			{Name: "subscriptionId", DisplayName: "Subscription Id"}, {Name: "subscriptionName", DisplayName: "Subscription Name"}},
		Schemes: []EndpointScheme{
			{Scheme: "ServicePrincipal", Params: []EndpointParam{{Name: "serviceprincipalid", Required: true}, {Name: "serviceprincipalkey", Confidential: true}, {Name: "servicePrincipalCertificate", Confidential: true}, {Name: "tenantid", Required: true}, {Name: "authenticationType"}}},
			{Scheme: "WorkloadIdentityFederation", Params: []EndpointParam{{Name: "serviceprincipalid", Required: true}, {Name: "tenantid", Required: true}, {Name: "workloadIdentityFederationIssuer"}, {Name: "workloadIdentityFederationSubject"}}},
		},
		DataSources: []EndpointDataSource{{Name: "TestConnection", EndpointURL: "{{{endpoint.url}}}subscriptions/{{{endpoint.subscriptionId}}}?api-version=2016-06-01", ResultSelector: "jsonpath:$"}}},
}

func (e *Emulator) endpointTypes() []EndpointType {
	return append(append([]EndpointType{}, BuiltinEndpointTypes...), e.seed.EndpointTypes...)
}

func (e *Emulator) findType(name string) *EndpointType {
	for _, t := range e.endpointTypes() {
		if strings.EqualFold(t.Name, name) {
			return &t
		}
	}
	return nil
}

func (t *EndpointType) scheme(name string) *EndpointScheme {
	for i := range t.Schemes {
		if strings.EqualFold(t.Schemes[i].Scheme, name) {
			return &t.Schemes[i]
		}
	}
	return nil
}

func (s *EndpointScheme) confidential(param string) bool {
	for _, p := range s.Params {
		if strings.EqualFold(p.Name, param) {
			return p.Confidential
		}
	}
	return false
}

// inputDescriptor is the wire InputDescriptor of one parameter.
func (p EndpointParam) inputDescriptor(group string) map[string]any {
	mode := p.Mode
	switch {
	case mode != "":
	case p.Confidential:
		mode = "passwordBox"
	default:
		mode = "textBox"
	}
	name := p.DisplayName
	if name == "" {
		name = p.Name
	}
	validation := map[string]any{"isRequired": p.Required, "dataType": "string"}
	switch {
	case p.MaxLength > 0:
		validation["maxLength"] = p.MaxLength
	case p.MaxLength == 0:
		validation["maxLength"] = 300
	}
	d := map[string]any{"id": p.Name, "name": name, "description": "", "inputMode": mode, "isConfidential": p.Confidential,
		"useInDefaultDescription": false, "hasDynamicValueInformation": false, "properties": map[string]any{},
		"validation": validation}
	if group != "" {
		d["groupName"] = group
	}
	if len(p.Values) > 0 {
		possible := []map[string]string{}
		for _, v := range p.Values {
			possible = append(possible, map[string]string{"value": v, "displayValue": v})
		}
		def := p.Default
		if def == "" {
			def = p.Values[0]
		}
		d["values"] = map[string]any{"inputId": p.Name + "Values", "defaultValue": def, "possibleValues": possible, "isLimitedToPossibleValues": true}
	}
	return d
}

func inputDescriptors(ps []EndpointParam, group string) []json.RawMessage {
	out := []json.RawMessage{}
	for _, p := range ps {
		b, _ := json.Marshal(p.inputDescriptor(group))
		out = append(out, b)
	}
	return out
}

// iconPath is where the emulator serves the one icon of every type (under
// {org}/_apis/public/, like the service's extension assets).
const iconPath = "/_apis/public/Extensions/ms.vss-endpoint/emulator/Assets/Microsoft.VisualStudio.Services.Icons.Default"

// wire is the ServiceEndpointType of the types API; orgURL is the
// organization's base URL (icons are served under it).
func (t EndpointType) wire(orgURL string) api.ServiceEndpointType {
	out := api.ServiceEndpointType{Name: t.Name, DisplayName: t.DisplayName, Description: t.Description,
		HelpMarkDown: t.HelpMarkDown, IconURL: orgURL + iconPath,
		AuthenticationSchemes: []json.RawMessage{}, DataSources: []json.RawMessage{},
		InputDescriptors: inputDescriptors(t.Inputs, ""), TrustedHosts: []string{}, DependencyData: []json.RawMessage{}}
	u := map[string]any{"helpText": t.URL.HelpText, "isVisible": strconv.FormatBool(!t.URL.Hidden)} // isVisible is a string in the spec
	if t.URL.Value != "" {
		u["value"] = t.URL.Value
	}
	if t.URL.DisplayName != "" {
		u["displayName"] = t.URL.DisplayName
	}
	out.EndpointURL, _ = json.Marshal(u)
	for _, s := range t.Schemes {
		b, _ := json.Marshal(map[string]any{"scheme": s.Scheme, "displayName": s.Scheme,
			"inputDescriptors": inputDescriptors(s.Params, "AuthenticationParameter"), "authorizationHeaders": []any{},
			"clientCertificates": []any{}, "dataSourceBindings": []any{}, "properties": map[string]any{}, "requiresOAuth2Configuration": false})
		out.AuthenticationSchemes = append(out.AuthenticationSchemes, b)
	}
	for _, ds := range t.DataSources {
		b, _ := json.Marshal(map[string]any{"name": ds.Name, "endpointUrl": ds.EndpointURL, "resourceUrl": "",
			"resultSelector": ds.ResultSelector, "headers": []any{}})
		out.DataSources = append(out.DataSources, b)
	}
	return out
}

func (e *Emulator) handleEndpointTypes(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, epRead...)
	if !ok {
		return
	}
	typ, scheme := r.URL.Query().Get("type"), r.URL.Query().Get("scheme")
	e.writeTypes(w, org, func(t EndpointType) bool {
		return (typ == "" || strings.EqualFold(t.Name, typ)) && (scheme == "" || t.scheme(scheme) != nil)
	})
}

// handleEndpointTypesFiltered serves POST _apis/serviceendpoint/types: the
// types whose names the body lists (the spec's string array; Microsoft's
// recorded example wraps it as {"typesFilter": [...]}, also accepted).
func (e *Emulator) handleEndpointTypesFiltered(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, epRead...)
	if !ok {
		return
	}
	names, err := readTypesFilter(r)
	if err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", err.Error())
		return
	}
	e.writeTypes(w, org, func(t EndpointType) bool { return containsFold(names, t.Name) })
}

func readTypesFilter(r *http.Request) ([]string, error) {
	var raw json.RawMessage
	const want = `the body must be the type names to return, as a JSON string array (["github","sonarqube"]) or {"typesFilter": [...]}`
	if err := readJSON(r, &raw); err != nil {
		return nil, fmt.Errorf("%s: %v", want, err)
	}
	var names []string
	if err := json.Unmarshal(raw, &names); err == nil {
		return names, nil
	}
	var wrapped struct {
		TypesFilter *[]string `json:"typesFilter"`
	}
	if err := json.Unmarshal(raw, &wrapped); err != nil || wrapped.TypesFilter == nil {
		return nil, errors.New(want)
	}
	return *wrapped.TypesFilter, nil
}

func (e *Emulator) writeTypes(w http.ResponseWriter, org *Org, keep func(EndpointType) bool) {
	out := api.ListOf[api.ServiceEndpointType]{Value: []api.ServiceEndpointType{}}
	orgURL := e.DevOpsURL() + "/" + org.Name
	e.mu.Lock()
	for _, t := range e.endpointTypes() {
		if keep(t) {
			out.Value = append(out.Value, t.wire(orgURL))
		}
	}
	e.mu.Unlock()
	out.Count = len(out.Value)
	writeJSON(w, http.StatusOK, out)
}

// endpointIconSVG is the icon every type's iconUrl points at.
const endpointIconSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">` +
	`<circle cx="8" cy="8" r="6" fill="#0078d4"/></svg>`

// handleEndpointIcon serves the types' iconUrl (public, no authentication,
// as the service's extension assets).
func (e *Emulator) handleEndpointIcon(w http.ResponseWriter, r *http.Request, p params) {
	if e.lookupOrg(w, p["org"]) == nil {
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write([]byte(endpointIconSVG))
}
