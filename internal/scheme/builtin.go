package scheme

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// ContributionPrefix is the extension id that owns the built-in scheme contributions.
const ContributionPrefix = "ms.vss-endpoint."

// Wire names of the built-in schemes (authorization.scheme).
const (
	UsernamePassword           = "UsernamePassword"
	Token                      = "Token"
	Certificate                = "Certificate"
	None                       = "None"
	JWT                        = "JWT"
	OAuth2                     = "OAuth2"
	ServicePrincipal           = "ServicePrincipal"
	WorkloadIdentityFederation = "WorkloadIdentityFederation"
	ManagedServiceIdentity     = "ManagedServiceIdentity"
	Kubernetes                 = "Kubernetes"
	PersonalAccessToken        = "PersonalAccessToken"
	OAuth                      = "OAuth"
)

//go:embed schemes.json
var schemesJSON []byte

//go:embed builtin_types.json
var builtinTypesJSON []byte

var (
	builtinOnce   sync.Once
	builtinList   []Scheme
	builtinTypes  []EndpointType
	builtinErr    error
	builtinByName map[string]int
)

type contributionFile struct {
	Contributions []struct {
		ID         string          `json:"id"`
		Type       string          `json:"type"`
		Targets    []string        `json:"targets"`
		Properties json.RawMessage `json:"properties"`
	} `json:"contributions"`
}

func loadBuiltins() {
	var f contributionFile
	if err := json.Unmarshal(schemesJSON, &f); err != nil {
		builtinErr = fmt.Errorf("embedded schemes.json: %w", err)
		return
	}
	builtinByName = map[string]int{}
	for _, c := range f.Contributions {
		var s Scheme
		if err := json.Unmarshal(c.Properties, &s); err != nil {
			builtinErr = fmt.Errorf("embedded scheme %s: %w", c.ID, err)
			return
		}
		s.ID = ContributionPrefix + c.ID
		builtinByName[strings.ToLower(s.Name)] = len(builtinList)
		builtinByName[strings.ToLower(s.ID)] = len(builtinList)
		builtinByName[strings.ToLower(c.ID)] = len(builtinList)
		builtinByName[strings.ToLower(strings.TrimPrefix(c.ID, "endpoint-auth-scheme-"))] = len(builtinList)
		builtinList = append(builtinList, s)
	}
}

var typesOnce sync.Once

func loadBuiltinTypes() []EndpointType {
	typesOnce.Do(func() {
		ts, err := LoadTypesList(builtinTypesJSON, "builtin")
		if err != nil {
			panic(err) // embedded data is tested
		}
		builtinTypes = ts
	})
	return builtinTypes
}

func builtins() ([]Scheme, error) {
	builtinOnce.Do(loadBuiltins)
	return builtinList, builtinErr
}

// Schemes returns a copy of the closed set of built-in schemes in their
// published order.
func Schemes() []Scheme {
	list, err := builtins()
	if err != nil {
		panic(err) // embedded data is tested; unreachable in a released binary
	}
	out := make([]Scheme, len(list))
	for i := range list {
		out[i] = cloneScheme(list[i])
	}
	return out
}

// Names lists the wire names of the closed set.
func Names() []string {
	list, _ := builtins()
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Name
	}
	return out
}

// Lookup finds a built-in scheme by wire name ("UsernamePassword"), full
// contribution id ("ms.vss-endpoint.endpoint-auth-scheme-basic") or short id
// ("endpoint-auth-scheme-basic") or the id's last part ("basic", "cert"),
// all case-insensitively.
func Lookup(ref string) (Scheme, error) {
	list, err := builtins()
	if err != nil {
		return Scheme{}, err
	}
	if i, ok := builtinByName[strings.ToLower(strings.TrimSpace(ref))]; ok {
		return cloneScheme(list[i]), nil
	}
	known := make([]string, 0, len(list))
	for _, s := range list {
		known = append(known, fmt.Sprintf("%s (%s)", s.Name, s.ID))
	}
	return Scheme{}, &UnknownSchemeError{Ref: ref, Known: known}
}

// BuiltinTypes returns the endpoint types patrol knows without a manifest:
// Generic plus the recorded Azure DevOps types list (externaltfs, bitbucket,
// externalnugetfeed, externalnpmregistry, azure, azurerm, servicefabric,
// AzureServiceBus, chef, dockerregistry, dockerhost, kubernetes, jenkins,
// vsmobilecenter).
func BuiltinTypes() []EndpointType {
	bt := loadBuiltinTypes()
	out := make([]EndpointType, len(bt))
	for i := range bt {
		out[i] = cloneType(bt[i])
	}
	return out
}

// BuiltinType returns the built-in type named name (case-insensitive).
func BuiltinType(name string) (EndpointType, bool) {
	for _, t := range BuiltinTypes() {
		if strings.EqualFold(t.Name, name) {
			return t, true
		}
	}
	return EndpointType{}, false
}

func cloneScheme(s Scheme) Scheme {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	var out Scheme
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func cloneType(t EndpointType) EndpointType {
	b, err := json.Marshal(t)
	if err != nil {
		panic(err)
	}
	var out EndpointType
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	out.Source = t.Source
	return out
}
