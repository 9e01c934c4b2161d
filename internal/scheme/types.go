package scheme

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// FlexBool decodes true/false and the strings "true"/"false" (any case) that
// real manifests write (e.g. url.isVisible: "false"). Anything else is false.
type FlexBool bool

// UnmarshalJSON implements json.Unmarshaler.
func (b *FlexBool) UnmarshalJSON(p []byte) error {
	p = bytes.TrimSpace(p)
	switch {
	case bytes.Equal(p, []byte("null")):
		*b = false
	case len(p) > 0 && p[0] == '"':
		var s string
		if err := json.Unmarshal(p, &s); err != nil {
			return err
		}
		*b = FlexBool(strings.EqualFold(strings.TrimSpace(s), "true"))
	default:
		var v bool
		if err := json.Unmarshal(p, &v); err != nil {
			return fmt.Errorf("want a boolean, got %s", truncate(string(p), 40))
		}
		*b = FlexBool(v)
	}
	return nil
}

// FlexString decodes a JSON string, number or boolean into its string form
// (manifests write defaultValue: true, maxValue: 10 or "10").
type FlexString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *FlexString) UnmarshalJSON(p []byte) error {
	p = bytes.TrimSpace(p)
	if bytes.Equal(p, []byte("null")) {
		*s = ""
		return nil
	}
	if len(p) > 0 && p[0] == '"' {
		var v string
		if err := json.Unmarshal(p, &v); err != nil {
			return err
		}
		*s = FlexString(v)
		return nil
	}
	if len(p) > 0 && (p[0] == '{' || p[0] == '[') {
		return fmt.Errorf("want a string, number or boolean, got %s", truncate(string(p), 40))
	}
	*s = FlexString(p)
	return nil
}

// FlexInt decodes a JSON number or a numeric string.
type FlexInt int

// UnmarshalJSON implements json.Unmarshaler.
func (n *FlexInt) UnmarshalJSON(p []byte) error {
	var s FlexString
	if err := s.UnmarshalJSON(p); err != nil {
		return err
	}
	if s == "" {
		*n = 0
		return nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64)
	if err != nil {
		return fmt.Errorf("want an integer, got %q", truncate(string(s), 40))
	}
	*n = FlexInt(f)
	return nil
}

// InputDescriptor describes one input of an endpoint type or scheme
// (REST InputDescriptor; manifests use the same shape).
type InputDescriptor struct {
	ID                         string           `json:"id"`
	Name                       string           `json:"name,omitempty"`
	Description                string           `json:"description,omitempty"`
	GroupName                  string           `json:"groupName,omitempty"`
	InputMode                  string           `json:"inputMode,omitempty"`
	IsConfidential             FlexBool         `json:"isConfidential"`
	Type                       string           `json:"type,omitempty"`
	ValueHint                  string           `json:"valueHint,omitempty"`
	HasDynamicValueInformation FlexBool         `json:"hasDynamicValueInformation,omitempty"`
	DependencyInputIDs         []string         `json:"dependencyInputIds,omitempty"`
	Properties                 map[string]any   `json:"properties,omitempty"`
	UseInDefaultDescription    FlexBool         `json:"useInDefaultDescription,omitempty"`
	Validation                 *InputValidation `json:"validation,omitempty"`
	Values                     *InputValues     `json:"values,omitempty"`
}

// DisplayName is the human name with an "i18n:" prefix removed, or the id.
func (d InputDescriptor) DisplayName() string {
	n := strings.TrimSpace(strings.TrimPrefix(d.Name, "i18n:"))
	if n == "" {
		return d.ID
	}
	return n
}

// Label is "Display name (id)", the form every validation error uses.
func (d InputDescriptor) Label() string { return fmt.Sprintf("%s (%s)", d.DisplayName(), d.ID) }

// Required reports validation.isRequired.
func (d InputDescriptor) Required() bool { return d.Validation != nil && bool(d.Validation.IsRequired) }

// Mode is the input mode normalised to the REST enum spelling
// (none, textBox, passwordBox, combo, radioButtons, checkBox, textArea).
func (d InputDescriptor) Mode() string {
	switch strings.ToLower(d.InputMode) {
	case "textbox":
		return "textBox"
	case "passwordbox":
		return "passwordBox"
	case "combo":
		return "combo"
	case "radiobuttons":
		return "radioButtons"
	case "checkbox":
		return "checkBox"
	case "textarea":
		return "textArea"
	case "", "none":
		return "none"
	}
	return d.InputMode
}

// InputValidation is REST InputValidation.
type InputValidation struct {
	IsRequired                    FlexBool   `json:"isRequired"`
	DataType                      string     `json:"dataType,omitempty"`
	MinLength                     *FlexInt   `json:"minLength,omitempty"`
	MaxLength                     *FlexInt   `json:"maxLength,omitempty"`
	MinValue                      FlexString `json:"minValue,omitempty"`
	MaxValue                      FlexString `json:"maxValue,omitempty"`
	Pattern                       string     `json:"pattern,omitempty"`
	PatternMismatchErrorMessage   string     `json:"patternMismatchErrorMessage,omitempty"`
	WarningPattern                string     `json:"warningPattern,omitempty"`
	PatternMismatchWarningMessage string     `json:"patternMismatchWarningMessage,omitempty"`
}

// InputValues is REST InputValues.
type InputValues struct {
	InputID                   string          `json:"inputId,omitempty"`
	DefaultValue              FlexString      `json:"defaultValue,omitempty"`
	PossibleValues            []PossibleValue `json:"possibleValues,omitempty"`
	IsLimitedToPossibleValues FlexBool        `json:"isLimitedToPossibleValues,omitempty"`
	IsDisabled                FlexBool        `json:"isDisabled,omitempty"`
	IsReadOnly                FlexBool        `json:"isReadOnly,omitempty"`
	Error                     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// PossibleValue is one allowed value of a combo/radio input.
type PossibleValue struct {
	Value        FlexString     `json:"value"`
	DisplayValue string         `json:"displayValue,omitempty"`
	Data         map[string]any `json:"data,omitempty"`
}

// Header is a {name, value} pair; value is a Mustache template.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// AuthenticationSchemeRef is a data source's own scheme: a generic scheme
// contribution id plus input templates.
type AuthenticationSchemeRef struct {
	Type   string            `json:"type"`
	Inputs map[string]string `json:"inputs,omitempty"`
}

// DataSource is a named request an endpoint type can run (manifest and REST shape).
type DataSource struct {
	Name                     string                   `json:"name"`
	EndpointURL              string                   `json:"endpointUrl"`
	ResourceURL              string                   `json:"resourceUrl,omitempty"`
	RequestVerb              string                   `json:"requestVerb,omitempty"`
	RequestContent           string                   `json:"requestContent,omitempty"`
	ResultSelector           string                   `json:"resultSelector,omitempty"`
	ResultTemplate           string                   `json:"resultTemplate,omitempty"`
	Headers                  []Header                 `json:"headers,omitempty"`
	AuthenticationScheme     *AuthenticationSchemeRef `json:"authenticationScheme,omitempty"`
	CallbackContextTemplate  string                   `json:"callbackContextTemplate,omitempty"`
	CallbackRequiredTemplate string                   `json:"callbackRequiredTemplate,omitempty"`
	InitialContextTemplate   string                   `json:"initialContextTemplate,omitempty"`
}

// DataSourceBinding binds a data source (by name, or inline) to a target.
type DataSourceBinding struct {
	DataSource
	Target         string            `json:"target,omitempty"`
	EndpointID     string            `json:"endpointId,omitempty"`
	DataSourceName string            `json:"dataSourceName,omitempty"`
	Parameters     map[string]string `json:"parameters,omitempty"`
}

// ClientCertificate is a templated client certificate {name, value}.
type ClientCertificate struct {
	Name  string `json:"name,omitempty"`
	Value string `json:"value"`
}

// Scheme is an authentication scheme: a built-in contribution, or the merged
// view of a contribution plus an endpoint type's overrides.
type Scheme struct {
	// ID is the full contribution id, e.g. "ms.vss-endpoint.endpoint-auth-scheme-basic".
	ID string `json:"id"`
	// Name is the wire name used in authorization.scheme, e.g. "UsernamePassword".
	Name                        string              `json:"name"`
	DisplayName                 string              `json:"displayName,omitempty"`
	Headers                     []Header            `json:"headers,omitempty"`
	InputDescriptors            []InputDescriptor   `json:"inputDescriptors,omitempty"`
	ClientCertificates          []ClientCertificate `json:"clientCertificates,omitempty"`
	DataSourceBindings          []DataSourceBinding `json:"dataSourceBindings,omitempty"`
	AuthorizationURL            string              `json:"authorizationUrl,omitempty"`
	Properties                  map[string]string   `json:"properties,omitempty"`
	RequiresOAuth2Configuration bool                `json:"requiresOAuth2Configuration,omitempty"`
	FeatureFlag                 string              `json:"featureFlag,omitempty"`
	// Note documents patrol-specific facts about the scheme (not sent anywhere).
	Note string `json:"note,omitempty"`
}

// Input returns the scheme's descriptor with id (case-insensitive).
func (s *Scheme) Input(id string) (InputDescriptor, bool) {
	for _, d := range s.InputDescriptors {
		if strings.EqualFold(d.ID, id) {
			return d, true
		}
	}
	return InputDescriptor{}, false
}

// EndpointURL is the type's url block.
type EndpointURL struct {
	Value       string            `json:"value,omitempty"`
	DisplayName string            `json:"displayName,omitempty"`
	HelpText    string            `json:"helpText,omitempty"`
	IsVisible   *FlexBool         `json:"isVisible,omitempty"`
	DependsOn   json.RawMessage   `json:"dependsOn,omitempty"`
	Format      string            `json:"format,omitempty"`
	Extra       map[string]string `json:"-"`
}

// UnmarshalJSON accepts a plain string (the URL) or the endpointUrl object.
func (u *EndpointURL) UnmarshalJSON(p []byte) error {
	p = bytes.TrimSpace(p)
	if len(p) > 0 && p[0] == '"' {
		return json.Unmarshal(p, &u.Value)
	}
	if bytes.Equal(p, []byte("null")) {
		return nil
	}
	type plain EndpointURL
	var v plain
	if err := json.Unmarshal(p, &v); err != nil {
		return err
	}
	*u = EndpointURL(v)
	return nil
}

// EndpointType is a service endpoint type with its schemes resolved against
// the closed set.
type EndpointType struct {
	Name                  string            `json:"name"`
	DisplayName           string            `json:"displayName,omitempty"`
	ContributionID        string            `json:"contributionId,omitempty"`
	URL                   EndpointURL       `json:"url"`
	InputDescriptors      []InputDescriptor `json:"inputDescriptors,omitempty"`
	AuthenticationSchemes []Scheme          `json:"authenticationSchemes"`
	DataSources           []DataSource      `json:"dataSources,omitempty"`
	TrustedHosts          []string          `json:"trustedHosts,omitempty"`
	HelpMarkDown          string            `json:"helpMarkDown,omitempty"`
	// Source is where the type was loaded from (manifest path, "builtin", "server").
	Source string `json:"source,omitempty"`
	// Warnings are what loading skipped, e.g. an authenticationSchemes entry
	// whose type is outside the closed set (Azure DevOps skips it too).
	Warnings []string `json:"warnings,omitempty"`
}

// Scheme returns the first scheme of the type whose wire name matches name
// (case-insensitive) — Azure DevOps uses the first match too.
func (t *EndpointType) Scheme(name string) (*Scheme, bool) {
	for i := range t.AuthenticationSchemes {
		if strings.EqualFold(t.AuthenticationSchemes[i].Name, name) {
			return &t.AuthenticationSchemes[i], true
		}
	}
	return nil, false
}

// DataSource returns the data source named name (case-insensitive).
func (t *EndpointType) DataSource(name string) (*DataSource, bool) {
	for i := range t.DataSources {
		if strings.EqualFold(t.DataSources[i].Name, name) {
			return &t.DataSources[i], true
		}
	}
	return nil, false
}

// SchemeNames lists the wire names of the type's schemes in order.
func (t *EndpointType) SchemeNames() []string {
	out := make([]string, len(t.AuthenticationSchemes))
	for i, s := range t.AuthenticationSchemes {
		out[i] = s.Name
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
