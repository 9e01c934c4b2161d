package sink

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/scheme"
)

// HTTPEndpoint authenticates the http sink's request with an Azure DevOps
// service-endpoint scheme, rendered by internal/scheme exactly as Azure
// DevOps would for a service connection of that type: the scheme's header
// templates (with the type's overrides), Basic for Generic, client
// certificates, JWT, #getTokenUsingBasicAuth two-hop tokens, AWS SigV4 and
// Entra (ServicePrincipal, WorkloadIdentityFederation, ManagedServiceIdentity).
//
// It is the general form of the sink's `auth:` (basic = type Generic or
// scheme UsernamePassword; bearer = a Token-scheme type whose header is
// Bearer). `auth` and `endpoint` are mutually exclusive.
type HTTPEndpoint struct {
	// Type is a built-in endpoint type (sonarqube, Generic, …) or, with
	// Manifest, a type of that extension manifest. Empty: a type that only
	// has Scheme (the built-in scheme's default headers).
	Type string `json:"type,omitempty"`
	// Manifest is a vss-extension.json file declaring Type.
	Manifest string `json:"manifest,omitempty"`
	// Scheme is the authorization scheme (UsernamePassword, Token, JWT,
	// Certificate, None, …). Default: the type's only scheme.
	Scheme string `json:"scheme,omitempty"`
	// URL is endpoint.url for templates that use it (two-hop auth servers).
	// Default: scheme://host/ of the sink's url.
	URL string `json:"url,omitempty"`
	// Data are the type's own (non-confidential) inputs, e.g. Bitbucket's username.
	Data map[string]string `json:"data,omitempty"`
	// Parameters are the scheme's inputs (authorization.parameters).
	Parameters map[string]HTTPEndpointValue `json:"parameters,omitempty"`
}

// HTTPEndpointValue is one parameter: exactly one of value (inline, only for
// non-confidential inputs), env (an environment variable) or file (its
// content, trailing newlines removed).
type HTTPEndpointValue struct {
	Value *string `json:"value,omitempty"`
	Env   string  `json:"env,omitempty"`
	File  string  `json:"file,omitempty"`
}

// compiledEndpoint is a validated endpoint block.
type compiledEndpoint struct {
	spec   HTTPEndpoint
	typ    *scheme.EndpointType
	scheme *scheme.Scheme
	url    string
}

// HTTPEndpointError is a problem with the endpoint block of an http sink;
// Field is the patrol.yaml path below the sink ("endpoint.parameters.password").
type HTTPEndpointError struct {
	Field   string
	Problem string
	Fix     string
	Err     error
	kind    errkind.Kind
}

func (e *HTTPEndpointError) Error() string {
	var b strings.Builder
	b.WriteString(e.Field + ": " + e.Problem)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Fix != "" {
		b.WriteString("; " + e.Fix)
	}
	return b.String()
}

func (e *HTTPEndpointError) Unwrap() error { return e.Err }

// Kind implements errkind.Kinder (Usage unless said otherwise).
func (e *HTTPEndpointError) Kind() errkind.Kind {
	if e.kind == errkind.Unknown {
		return errkind.Usage
	}
	return e.kind
}

func epErr(field, problem, fix string, err error) *HTTPEndpointError {
	return &HTTPEndpointError{Field: field, Problem: problem, Fix: fix, Err: err}
}

// compileEndpoint resolves type and scheme and validates the block without
// reading env or files and without network: values from env/file are
// checked at write time.
func compileEndpoint(e HTTPEndpoint, sinkURL string) (*compiledEndpoint, error) {
	t, err := resolveEndpointType(e)
	if err != nil {
		return nil, err
	}
	ce := &compiledEndpoint{spec: e, typ: t, url: e.URL}
	if ce.url == "" {
		u, err := url.Parse(strings.SplitN(sinkURL, "{{", 2)[0])
		if err != nil || u.Host == "" {
			return nil, epErr("endpoint.url", "cannot derive it from the sink's url", "set endpoint.url to the tool's base URL", err)
		}
		ce.url = u.Scheme + "://" + u.Host + "/"
	}
	name := e.Scheme
	if name == "" {
		if len(t.AuthenticationSchemes) != 1 {
			return nil, epErr("endpoint.scheme", "missing", fmt.Sprintf("type %q has several schemes; choose one of %s", t.Name, strings.Join(t.SchemeNames(), ", ")), nil)
		}
		name = t.AuthenticationSchemes[0].Name
	}
	s, ok := t.Scheme(name)
	if !ok {
		return nil, epErr("endpoint.scheme", fmt.Sprintf("type %q does not declare scheme %q", t.Name, name), "use one of "+strings.Join(t.SchemeNames(), ", "), nil)
	}
	ce.scheme = s
	for _, k := range sortedKeys(e.Parameters) {
		v := e.Parameters[k]
		field := "endpoint.parameters." + k
		n := 0
		if v.Value != nil {
			n++
		}
		if v.Env != "" {
			n++
		}
		if v.File != "" {
			n++
		}
		if n != 1 {
			return nil, epErr(field, "set exactly one of value, env or file", "", nil)
		}
		if v.Value != nil && scheme.IsConfidential(s, k) {
			label := k
			if d, ok := s.Input(k); ok {
				label = d.Label()
			}
			return nil, epErr(field, fmt.Sprintf("%s is a confidential input of scheme %s; its value must not be written in patrol.yaml", label, s.Name),
				"use `env: VARIABLE` or `file: /path/to/secret` instead of `value`", nil)
		}
	}
	for k := range e.Data {
		for _, d := range t.InputDescriptors {
			if strings.EqualFold(d.ID, k) && bool(d.IsConfidential) {
				return nil, epErr("endpoint.data."+k, fmt.Sprintf("%s is a confidential input of type %q", d.Label(), t.Name), "data values are inline; this type needs a patrol feature it does not have yet (report it)", nil)
			}
		}
	}
	ep := ce.endpoint(nil)
	if _, err := scheme.Validate(ep, t); err != nil {
		return nil, epErr("endpoint", "does not satisfy its type", "set or fix them under endpoint.parameters (env: or file: for confidential inputs) or endpoint.data", err)
	}
	// Refuse schemes patrol cannot apply locally (e.g. AzureStorage) now.
	if _, err := scheme.New(ep, t, scheme.Options{}); err != nil {
		return nil, epErr("endpoint.scheme", "cannot be applied by patrol", "", err)
	}
	return ce, nil
}

func resolveEndpointType(e HTTPEndpoint) (*scheme.EndpointType, error) {
	if e.Manifest != "" {
		ts, err := scheme.LoadManifestFile(e.Manifest)
		if err != nil {
			return nil, epErr("endpoint.manifest", "cannot be loaded", "", err)
		}
		names := make([]string, 0, len(ts))
		for i := range ts {
			names = append(names, ts[i].Name)
			if strings.EqualFold(ts[i].Name, e.Type) || (e.Type == "" && len(ts) == 1) {
				return &ts[i], nil
			}
		}
		if e.Type == "" {
			return nil, epErr("endpoint.type", "missing", fmt.Sprintf("manifest %s declares several types; choose one of %s", e.Manifest, strings.Join(names, ", ")), nil)
		}
		return nil, epErr("endpoint.type", fmt.Sprintf("%q is not declared in manifest %s", e.Type, e.Manifest), "use one of "+strings.Join(names, ", "), nil)
	}
	if e.Type != "" {
		t, ok := scheme.BuiltinType(e.Type)
		if !ok {
			names := []string{}
			for _, bt := range scheme.BuiltinTypes() {
				names = append(names, bt.Name)
			}
			return nil, epErr("endpoint.type", fmt.Sprintf("%q is not a built-in endpoint type", e.Type), "use one of "+strings.Join(names, ", ")+", or name the extension's vss-extension.json in endpoint.manifest", nil)
		}
		return &t, nil
	}
	if e.Scheme == "" {
		return nil, epErr("endpoint", "needs type or scheme", "set endpoint.type (e.g. sonarqube) or endpoint.scheme (e.g. Token)", nil)
	}
	s, err := scheme.Lookup(e.Scheme)
	if err != nil {
		return nil, epErr("endpoint.scheme", "unknown", "", err)
	}
	return &scheme.EndpointType{Name: "patrol-http", DisplayName: "http sink", AuthenticationSchemes: []scheme.Scheme{s}, Source: "patrol"}, nil
}

// endpoint builds the REST shape; values nil = parameters from env/file are
// sent as wire null (Validate does not check them).
func (ce *compiledEndpoint) endpoint(values map[string]string) *api.ServiceEndpoint {
	params := make(map[string]*string, len(ce.spec.Parameters))
	for k, v := range ce.spec.Parameters {
		switch {
		case v.Value != nil:
			s := *v.Value
			params[k] = &s
		case values != nil:
			s := values[k]
			params[k] = &s
		default:
			params[k] = nil
		}
	}
	data := make(map[string]string, len(ce.spec.Data))
	for k, v := range ce.spec.Data {
		data[k] = v
	}
	return &api.ServiceEndpoint{Type: ce.typ.Name, URL: ce.url, Data: data,
		Authorization: &api.EndpointAuthorization{Scheme: ce.scheme.Name, Parameters: params}}
}

// authorizer reads the env/file parameters and builds the scheme's
// authorizer. secrets receives every value read (for redaction).
func (ce *compiledEndpoint) authorizer(env func(string) (string, bool), hc *http.Client, now func() time.Time, log *slog.Logger) (*scheme.EndpointAuthorizer, []string, error) {
	values := map[string]string{}
	var secrets []string
	for _, k := range sortedKeys(ce.spec.Parameters) {
		v := ce.spec.Parameters[k]
		field := "endpoint.parameters." + k
		switch {
		case v.Env != "":
			s, ok := env(v.Env)
			if !ok || s == "" {
				return nil, secrets, epErr(field, fmt.Sprintf("environment variable %s is not set", v.Env), "set it in the CronJob's env (e.g. from a Kubernetes Secret)", nil)
			}
			values[k] = s
		case v.File != "":
			b, err := os.ReadFile(v.File)
			if err != nil {
				return nil, secrets, epErr(field, "cannot read file "+v.File, "mount the secret file or fix the path", errors.Unwrap(err))
			}
			values[k] = strings.TrimRight(string(b), "\r\n")
		default:
			continue
		}
		if values[k] != "" && scheme.IsConfidential(ce.scheme, k) {
			secrets = append(secrets, values[k])
		}
	}
	ep := ce.endpoint(values)
	if _, err := scheme.Validate(ep, ce.typ); err != nil {
		return nil, secrets, epErr("endpoint", "the values from env/file do not satisfy the type", "fix the values named", err)
	}
	a, err := scheme.New(ep, ce.typ, scheme.Options{HTTPClient: hc, Now: now, Logger: log})
	if err != nil {
		return nil, secrets, epErr("endpoint", "cannot build the authorizer", "", err)
	}
	return a, secrets, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
