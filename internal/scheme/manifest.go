package scheme

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// EndpointTypeContribution is the contribution type of an endpoint type.
const EndpointTypeContribution = "ms.vss-endpoint.service-endpoint-type"

// MaxManifestSize bounds what LoadManifest reads (real manifests are < 200 KB).
const MaxManifestSize = 8 << 20

type manifestFile struct {
	ID            string `json:"id"`
	Publisher     string `json:"publisher"`
	Contributions []struct {
		ID         string          `json:"id"`
		Type       string          `json:"type"`
		Properties json.RawMessage `json:"properties"`
	} `json:"contributions"`
}

type typeProps struct {
	Name                  string            `json:"name"`
	DisplayName           string            `json:"displayName"`
	URL                   *EndpointURL      `json:"url"`
	EndpointURL           *EndpointURL      `json:"endpointUrl"`
	InputDescriptors      []InputDescriptor `json:"inputDescriptors"`
	AuthenticationSchemes []schemeRef       `json:"authenticationSchemes"`
	DataSources           []DataSource      `json:"dataSources"`
	TrustedHosts          []string          `json:"trustedHosts"`
	HelpMarkDown          string            `json:"helpMarkDown"`
}

// schemeRef is an authenticationSchemes[] entry: the manifest shape
// ({type, headers, inputDescriptors, …}), the contribution shape
// ({id, type, properties{…}}) and the REST shape ({scheme, authorizationHeaders, …}).
type schemeRef struct {
	Type                        string              `json:"type"`
	Scheme                      string              `json:"scheme"`
	DisplayName                 string              `json:"displayName"`
	Headers                     []Header            `json:"headers"`
	AuthorizationHeaders        []Header            `json:"authorizationHeaders"`
	InputDescriptors            []InputDescriptor   `json:"inputDescriptors"`
	ClientCertificates          []ClientCertificate `json:"clientCertificates"`
	DataSourceBindings          []DataSourceBinding `json:"dataSourceBindings"`
	AuthorizationURL            string              `json:"authorizationUrl"`
	RequiresOAuth2Configuration FlexBool            `json:"requiresOAuth2Configuration"`
	Properties                  json.RawMessage     `json:"properties"`
}

type contribProps struct {
	Name             string            `json:"name"`
	DisplayName      string            `json:"displayName"`
	Headers          []Header          `json:"headers"`
	InputDescriptors []InputDescriptor `json:"inputDescriptors"`
}

// LoadManifestFile reads a vss-extension.json file (see LoadManifest) or a
// JavaScript manifest (vss-extension.js, manifest.js: see EvalManifestJS)
// with default JSOptions.
func LoadManifestFile(path string) ([]EndpointType, error) {
	return LoadManifestFileWith(path, JSOptions{})
}

// LoadManifestFileWith is LoadManifestFile with options for JavaScript manifests.
func LoadManifestFileWith(path string, jo JSOptions) ([]EndpointType, error) {
	data, err := ReadManifestFile(path, jo)
	if err != nil {
		return nil, err
	}
	return LoadManifest(data, path)
}

// ReadManifestFile returns a manifest file's JSON, bounded by
// MaxManifestSize: the file itself, or what a JavaScript manifest
// (IsJSManifest) evaluates to with jo.
func ReadManifestFile(path string, jo JSOptions) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ManifestError{Source: path, Err: fmt.Errorf("cannot open: %w (check the path)", err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxManifestSize+1))
	if err != nil {
		return nil, &ManifestError{Source: path, Err: err}
	}
	if len(data) > MaxManifestSize {
		return nil, &ManifestError{Source: path, Err: fmt.Errorf("larger than %d bytes; is this really an extension manifest?", MaxManifestSize)}
	}
	if IsJSManifest(path) {
		return EvalManifestJS(data, path, jo)
	}
	return data, nil
}

// LoadManifest parses an extension manifest (vss-extension.json) and returns
// its endpoint types, in file order. A UTF-8 BOM is stripped; // and /* */
// comments and trailing commas (which tfx tolerates) are removed before
// parsing. Contributions of other types (tasks, hubs, artifact types) are
// skipped. Each authenticationSchemes[] entry is resolved against the closed
// set and merged with its overrides (see MergeScheme). source names the file
// in errors.
func LoadManifest(data []byte, source string) ([]EndpointType, error) {
	clean, err := CleanJSON(data)
	if err != nil {
		return nil, &ManifestError{Source: source, Err: err}
	}
	var m manifestFile
	if err := json.Unmarshal(clean, &m); err != nil {
		return nil, &ManifestError{Source: source, Err: describeJSONError(clean, err)}
	}
	var out []EndpointType
	for _, c := range m.Contributions {
		if !strings.EqualFold(c.Type, EndpointTypeContribution) {
			continue
		}
		var p typeProps
		if err := json.Unmarshal(c.Properties, &p); err != nil {
			return nil, &ManifestError{Source: source, Where: "contribution " + c.ID, Err: describeJSONError(c.Properties, err)}
		}
		t, err := buildType(p, false)
		if err != nil {
			return nil, &ManifestError{Source: source, Where: "contribution " + c.ID, Err: err}
		}
		t.ContributionID = c.ID
		t.Source = source
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, &ManifestError{Source: source, Err: fmt.Errorf("no contribution of type %s; this extension defines no service endpoint type", EndpointTypeContribution)}
	}
	return out, nil
}

// LoadTypesList parses the REST answer of GET _apis/serviceendpoint/types
// ({"count","value"} wrapper, a bare array, or a recorded example with
// responses.200.body) into endpoint types. Schemes keep exactly the headers
// and inputs the server reports; scheme names outside patrol's closed set are
// kept (with an empty ID) because the server may know more than patrol.
func LoadTypesList(data []byte, source string) ([]EndpointType, error) {
	clean, err := CleanJSON(data)
	if err != nil {
		return nil, &ManifestError{Source: source, Err: err}
	}
	var raw []json.RawMessage
	trimmed := bytes.TrimSpace(clean)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &raw); err != nil {
			return nil, &ManifestError{Source: source, Err: err}
		}
	} else {
		var w struct {
			Value     []json.RawMessage `json:"value"`
			Responses map[string]struct {
				Body struct {
					Value []json.RawMessage `json:"value"`
				} `json:"body"`
			} `json:"responses"`
		}
		if err := json.Unmarshal(trimmed, &w); err != nil {
			return nil, &ManifestError{Source: source, Err: describeJSONError(trimmed, err)}
		}
		raw = w.Value
		if raw == nil {
			raw = w.Responses["200"].Body.Value
		}
	}
	out := make([]EndpointType, 0, len(raw))
	for i, r := range raw {
		var p typeProps
		if err := json.Unmarshal(r, &p); err != nil {
			return nil, &ManifestError{Source: source, Where: fmt.Sprintf("value[%d]", i), Err: err}
		}
		t, err := buildType(p, true)
		if err != nil {
			return nil, &ManifestError{Source: source, Where: "type " + p.Name, Err: err}
		}
		t.Source = source
		out = append(out, t)
	}
	return out, nil
}

func buildType(p typeProps, rest bool) (EndpointType, error) {
	if strings.TrimSpace(p.Name) == "" {
		return EndpointType{}, errors.New("properties.name is empty; an endpoint type needs a name")
	}
	t := EndpointType{
		Name:             p.Name,
		DisplayName:      p.DisplayName,
		InputDescriptors: p.InputDescriptors,
		DataSources:      p.DataSources,
		TrustedHosts:     p.TrustedHosts,
		HelpMarkDown:     p.HelpMarkDown,
	}
	switch {
	case p.URL != nil:
		t.URL = *p.URL
	case p.EndpointURL != nil:
		t.URL = *p.EndpointURL
	}
	for i, ref := range p.AuthenticationSchemes {
		s, err := resolveRef(ref, rest)
		var ue *UnknownSchemeError
		if errors.As(err, &ue) && !rest {
			// Azure DevOps skips a scheme entry whose type it does not know.
			t.Warnings = append(t.Warnings, unknownSchemeWarning(i, ue.Ref))
			continue
		}
		if err != nil {
			return EndpointType{}, fmt.Errorf("authenticationSchemes[%d]: %w", i, err)
		}
		t.AuthenticationSchemes = append(t.AuthenticationSchemes, s)
	}
	if len(t.AuthenticationSchemes) == 0 {
		if len(t.Warnings) > 0 {
			return EndpointType{}, fmt.Errorf("type %q has no usable authenticationSchemes: %s", p.Name, strings.Join(t.Warnings, "; "))
		}
		return EndpointType{}, fmt.Errorf("type %q declares no authenticationSchemes; add at least one (e.g. ms.vss-endpoint.endpoint-auth-scheme-none)", p.Name)
	}
	return t, nil
}

func resolveRef(ref schemeRef, rest bool) (Scheme, error) {
	if rest {
		base, err := Lookup(ref.Scheme)
		if err != nil {
			base = Scheme{Name: ref.Scheme}
		}
		// The REST view is already merged: take it verbatim.
		s := Scheme{
			ID: base.ID, Name: ref.Scheme, DisplayName: ref.DisplayName,
			Headers: ref.AuthorizationHeaders, InputDescriptors: ref.InputDescriptors,
			ClientCertificates: ref.ClientCertificates, DataSourceBindings: ref.DataSourceBindings,
			AuthorizationURL: ref.AuthorizationURL, RequiresOAuth2Configuration: bool(ref.RequiresOAuth2Configuration),
		}
		if s.Name == "" {
			return Scheme{}, errors.New("scheme has no name")
		}
		return s, nil
	}
	key := ref.Type
	if key == "" {
		key = ref.Scheme
	}
	if key == "" {
		return Scheme{}, errors.New("entry has no type; set type to a scheme contribution id such as ms.vss-endpoint.endpoint-auth-scheme-basic")
	}
	base, err := Lookup(key)
	if err != nil {
		return Scheme{}, err
	}
	ov := Scheme{
		DisplayName: ref.DisplayName, Headers: ref.Headers, InputDescriptors: ref.InputDescriptors,
		ClientCertificates: ref.ClientCertificates, DataSourceBindings: ref.DataSourceBindings,
		AuthorizationURL: ref.AuthorizationURL,
	}
	if len(ov.Headers) == 0 {
		ov.Headers = ref.AuthorizationHeaders
	}
	if len(ref.Properties) > 0 && !bytes.Equal(bytes.TrimSpace(ref.Properties), []byte("null")) {
		// Contribution-shaped entry (e.g. the OCI scheme in the terraform manifest).
		var cp contribProps
		if err := json.Unmarshal(ref.Properties, &cp); err != nil {
			return Scheme{}, fmt.Errorf("properties: %w", err)
		}
		if cp.Name != "" && !strings.EqualFold(cp.Name, base.Name) {
			return Scheme{}, fmt.Errorf("properties.name %q contradicts type %s (scheme %s)", cp.Name, ref.Type, base.Name)
		}
		if ov.DisplayName == "" {
			ov.DisplayName = cp.DisplayName
		}
		if len(ov.Headers) == 0 {
			ov.Headers = cp.Headers
		}
		ov.InputDescriptors = append(ov.InputDescriptors, cp.InputDescriptors...)
	}
	return MergeScheme(base, ov), nil
}

// MergeScheme applies an endpoint type's overrides to a scheme contribution:
//   - displayName, authorizationUrl: replaced when set;
//   - headers: merged by name, case-insensitively, as Azure DevOps does — a
//     type header replaces the default of the same name in place, new names
//     are appended, and every default not named is kept (Octopus sends its
//     X-Octopus-ApiKey and still the Token scheme's default Authorization);
//   - inputDescriptors: merged by id, case-sensitively as the service
//     compares them — a type descriptor
//     replaces the default with the same id in place, new ids are appended
//     (GCP overrides only Issuer/Audience of JWT and keeps Scope/PrivateKey);
//   - clientCertificates, dataSourceBindings: replaced when set.
func MergeScheme(base, ov Scheme) Scheme {
	s := cloneScheme(base)
	if ov.DisplayName != "" {
		s.DisplayName = ov.DisplayName
	}
	s.Headers = mergeHeaders(s.Headers, ov.Headers)
	for _, d := range ov.InputDescriptors {
		replaced := false
		for i := range s.InputDescriptors {
			if s.InputDescriptors[i].ID == d.ID { // case-sensitive, as the service compares ids
				s.InputDescriptors[i] = d
				replaced = true
				break
			}
		}
		if !replaced {
			s.InputDescriptors = append(s.InputDescriptors, d)
		}
	}
	if len(ov.ClientCertificates) > 0 {
		s.ClientCertificates = ov.ClientCertificates
	}
	if len(ov.DataSourceBindings) > 0 {
		s.DataSourceBindings = ov.DataSourceBindings
	}
	if ov.AuthorizationURL != "" {
		s.AuthorizationURL = ov.AuthorizationURL
	}
	return s
}

// mergeHeaders overrides defaults by header name (case-insensitive) and
// appends headers the defaults do not have.
func mergeHeaders(defaults, over []Header) []Header {
	out := append([]Header(nil), defaults...)
	for _, h := range over {
		replaced := false
		for i := range out {
			if strings.EqualFold(out[i].Name, h.Name) {
				out[i] = h
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, h)
		}
	}
	return out
}

// CleanJSON strips a UTF-8 BOM, // and /* */ comments outside strings, and
// trailing commas before } or ]. It fails on an unterminated string or comment.
func CleanJSON(data []byte) ([]byte, error) {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	out := make([]byte, 0, len(data))
	inStr := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inStr {
			out = append(out, c)
			if c == '\\' && i+1 < len(data) {
				i++
				out = append(out, data[i])
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		switch {
		case c == '"':
			inStr = true
			out = append(out, c)
		case c == '/' && i+1 < len(data) && data[i+1] == '/':
			for i < len(data) && data[i] != '\n' {
				i++
			}
			if i < len(data) {
				out = append(out, '\n')
			}
		case c == '/' && i+1 < len(data) && data[i+1] == '*':
			end := bytes.Index(data[i+2:], []byte("*/"))
			if end < 0 {
				return nil, fmt.Errorf("unterminated /* comment at byte %d", i)
			}
			// keep newlines so line numbers in errors stay right
			out = append(out, bytes.Repeat([]byte("\n"), bytes.Count(data[i:i+2+end+2], []byte("\n")))...)
			i += 2 + end + 1
		case c == ',':
			j := i + 1
			for j < len(data) && (data[j] == ' ' || data[j] == '\t' || data[j] == '\r' || data[j] == '\n') {
				j++
			}
			if j < len(data) && (data[j] == '}' || data[j] == ']') {
				continue // trailing comma
			}
			out = append(out, c)
		default:
			out = append(out, c)
		}
	}
	if inStr {
		return nil, errors.New("unterminated string")
	}
	return out, nil
}

func describeJSONError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var off int64 = -1
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Errorf("line %d column %d: %w", line, col, err)
}

// FromAPI converts the types list returned by devops.Client.ListServiceEndpointTypes.
func FromAPI(list []api.ServiceEndpointType) ([]EndpointType, error) {
	b, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	return LoadTypesList(b, "server")
}
