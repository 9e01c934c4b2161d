package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/scheme"
)

// The azure-devops-service-endpoint sink puts the credential into one
// authorization parameter of a service connection (e.g. a SonarQube or
// Generic connection's "password"/"apitoken"):
//
//  1. GET the endpoint (by endpointId, or by endpointName in project);
//  2. optionally check its authorization scheme (scheme:);
//  3. PUT the full endpoint back with the new secret in `parameter` and
//     every other parameter as read — confidential ones come back null, and
//     a null in an update keeps the stored value (the secret-null rule);
//  4. wait until isReady (operationStatus Ready; Failed is an error).
//
// Metadata: the endpoint's data map holds patrolAuthorizationId,
// patrolValidTo, patrolRotatedAt and patrolCredential. These are visible,
// non-secret configuration values; Azure DevOps keeps unknown data keys.
// Read reports them; it never sees the secret (GET returns it null).
//
// Verify (sink.Verifier) runs the endpoint's TestConnection data source
// through Azure DevOps' endpointproxy with the stored endpointId — Azure
// DevOps calls the tool with the credential it now holds, exactly as a
// pipeline would, so "ok" means the consumer sees a working credential.
// A statusCode other than "ok" is an *EndpointVerifyError naming the
// endpoint, the status and the tool's message. A TestConnection that answers
// ok with the single result "false" (SonarQube's
// /api/authentication/validate → {"valid":false}) fails too. Endpoint types
// without a TestConnection data source (Generic, many extension types) are
// not verifiable: Verify logs that at info level and returns nil. That is
// known from the built-in type list without a call, otherwise from
// endpointproxy's 400 answer naming the missing data source.

// ServiceEndpointParams are the parameters of `type: azure-devops-service-endpoint`.
type ServiceEndpointParams struct {
	Type         string `json:"type"`
	Project      string `json:"project"`
	EndpointID   string `json:"endpointId,omitempty"`
	EndpointName string `json:"endpointName,omitempty"`
	// Parameter receives the secret (e.g. apitoken, password, username).
	Parameter string `json:"parameter"`
	// Scheme, if set, must equal the endpoint's authorization scheme (case-insensitive).
	Scheme string `json:"scheme,omitempty"`
	// WaitReady (default true) waits for isReady after the update.
	WaitReady *bool `json:"waitReady,omitempty"`
	// PollInterval between readiness checks (default 2s).
	PollInterval string `json:"pollInterval,omitempty"`
}

// ServiceEndpointAPI is what the sink needs from *devops.Client.
type ServiceEndpointAPI interface {
	GetServiceEndpoint(ctx context.Context, project, id string) (api.ServiceEndpoint, error)
	ListServiceEndpoints(ctx context.Context, project string, f devops.EndpointFilter) ([]api.ServiceEndpoint, error)
	UpdateServiceEndpoint(ctx context.Context, ep api.ServiceEndpoint, operation string) (api.ServiceEndpoint, error)
	WaitEndpointReady(ctx context.Context, project, id string, poll time.Duration) (api.ServiceEndpoint, error)
	// ExecuteServiceEndpointRequest runs a data source through Azure DevOps'
	// endpointproxy (Verify runs the type's TestConnection).
	ExecuteServiceEndpointRequest(ctx context.Context, project, endpointID string, req api.ServiceEndpointRequest) (api.ServiceEndpointRequestResult, error)
}

// Data keys holding patrol's metadata on the endpoint.
const (
	EndpointDataAuthorizationID = "patrolAuthorizationId"
	EndpointDataValidTo         = "patrolValidTo"
	EndpointDataRotatedAt       = "patrolRotatedAt"
	EndpointDataCredential      = "patrolCredential"
)

func init() {
	registerDevOps("azure-devops-service-endpoint", decodeServiceEndpointParams,
		func(sp ServiceEndpointParams, c ServiceEndpointAPI, deps Deps) (Sink, error) {
			s, err := NewServiceEndpoint(sp, c, deps.Now)
			if err != nil {
				return nil, err
			}
			return s.WithLogger(deps.Logger), nil
		})
}

func decodeServiceEndpointParams(p json.RawMessage) (ServiceEndpointParams, error) {
	var sp ServiceEndpointParams
	if err := DecodeStrict(p, &sp); err != nil {
		return sp, err
	}
	usage := func(format string, a ...any) error { return errkind.New(errkind.Usage, fmt.Errorf(format, a...)) }
	if strings.TrimSpace(sp.Project) == "" {
		return sp, usage("project is missing; name the project that holds the service connection")
	}
	if (sp.EndpointID == "") == (sp.EndpointName == "") {
		return sp, usage("set exactly one of endpointId or endpointName")
	}
	if sp.Parameter == "" {
		return sp, usage("parameter is missing; name the authorization parameter that receives the PAT (e.g. apitoken, password, username)")
	}
	if sp.PollInterval != "" {
		if d, err := time.ParseDuration(sp.PollInterval); err != nil || d <= 0 {
			return sp, usage("pollInterval %q is not a positive Go duration such as \"5s\"", sp.PollInterval)
		}
	}
	return sp, nil
}

// ServiceEndpointSink writes to a service connection.
type ServiceEndpointSink struct {
	p   ServiceEndpointParams
	c   ServiceEndpointAPI
	now func() time.Time
	log *slog.Logger
}

// NewServiceEndpoint builds the sink.
func NewServiceEndpoint(p ServiceEndpointParams, c ServiceEndpointAPI, now func() time.Time) (*ServiceEndpointSink, error) {
	if now == nil {
		now = time.Now
	}
	return &ServiceEndpointSink{p: p, c: c, now: now, log: slog.New(slog.DiscardHandler)}, nil
}

// WithLogger sets the logger (Verify logs endpoints it cannot verify); nil = discard.
func (s *ServiceEndpointSink) WithLogger(l *slog.Logger) *ServiceEndpointSink {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	s.log = l
	return s
}

// Name is "azure-devops-service-endpoint:<project>/<id or name>#<parameter>".
func (s *ServiceEndpointSink) Name() string {
	ref := s.p.EndpointID
	if ref == "" {
		ref = s.p.EndpointName
	}
	return "azure-devops-service-endpoint:" + s.p.Project + "/" + ref + "#" + s.p.Parameter
}

func (s *ServiceEndpointSink) get(ctx context.Context) (api.ServiceEndpoint, error) {
	if s.p.EndpointID != "" {
		return s.c.GetServiceEndpoint(ctx, s.p.Project, s.p.EndpointID)
	}
	eps, err := s.c.ListServiceEndpoints(ctx, s.p.Project, devops.EndpointFilter{Names: []string{s.p.EndpointName}})
	if err != nil {
		return api.ServiceEndpoint{}, err
	}
	ep, err := oneNamed(eps, func(ep api.ServiceEndpoint) string { return ep.Name }, s.p.EndpointName,
		named{what: "service connection", project: s.p.Project, nameField: "endpointName", idField: "endpointId"})
	if err != nil {
		return api.ServiceEndpoint{}, err
	}
	// The list may omit details; read the endpoint itself.
	return s.c.GetServiceEndpoint(ctx, s.p.Project, ep.ID)
}

func (s *ServiceEndpointSink) checkScheme(ep api.ServiceEndpoint) error {
	if ep.Authorization == nil {
		return errkind.New(errkind.Usage, fmt.Errorf("%s: the endpoint has no authorization; it cannot hold a PAT", s.Name()))
	}
	if s.p.Scheme != "" && !strings.EqualFold(ep.Authorization.Scheme, s.p.Scheme) {
		return errkind.New(errkind.Usage, fmt.Errorf("%s: authorization scheme is %q, not %q as configured; fix scheme: or the service connection", s.Name(), ep.Authorization.Scheme, s.p.Scheme))
	}
	return nil
}

// Read reports the metadata stored in the endpoint's data.
func (s *ServiceEndpointSink) Read(ctx context.Context) (Held, error) {
	ep, err := s.get(ctx)
	if err != nil {
		return Held{}, fmt.Errorf("%s: %w", s.Name(), err)
	}
	if err := s.checkScheme(ep); err != nil {
		return Held{}, err
	}
	h := Held{AuthorizationID: ep.Data[EndpointDataAuthorizationID]}
	_, has := ep.Authorization.Parameters[s.p.Parameter]
	h.Present = has || h.AuthorizationID != ""
	h.ValidTo, h.RotatedAt = parseStamp(ep.Data[EndpointDataValidTo]), parseStamp(ep.Data[EndpointDataRotatedAt])
	return h, nil
}

// Write puts the secret into the parameter and waits for readiness.
func (s *ServiceEndpointSink) Write(ctx context.Context, secret string, meta Meta) error {
	ep, err := s.get(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	if err := s.checkScheme(ep); err != nil {
		return err
	}
	params := make(map[string]*string, len(ep.Authorization.Parameters)+1)
	for k, v := range ep.Authorization.Parameters {
		params[k] = v // confidential values are nil: kept by the server
	}
	sec := secret
	params[s.p.Parameter] = &sec
	ep.Authorization = &api.EndpointAuthorization{Scheme: ep.Authorization.Scheme, Parameters: params}
	data := make(map[string]string, len(ep.Data)+4)
	for k, v := range ep.Data {
		data[k] = v
	}
	setOrDelete(data, EndpointDataAuthorizationID, meta.AuthorizationID)
	setOrDelete(data, EndpointDataCredential, meta.Credential)
	data[EndpointDataValidTo] = stamp(meta.ValidTo)
	data[EndpointDataRotatedAt] = stamp(rotatedAt(meta, s.now))
	ep.Data = data
	ep.OperationStatus = nil
	if _, err := s.c.UpdateServiceEndpoint(ctx, ep, ""); err != nil {
		return fmt.Errorf("%s: update: %w", s.Name(), err)
	}
	if s.p.WaitReady == nil || *s.p.WaitReady {
		poll := 2 * time.Second
		if s.p.PollInterval != "" {
			poll, _ = time.ParseDuration(s.p.PollInterval)
		}
		if _, err := s.c.WaitEndpointReady(ctx, s.p.Project, ep.ID, poll); err != nil {
			return fmt.Errorf("%s: the endpoint did not become ready after the update: %w", s.Name(), err)
		}
	}
	return nil
}

// ---- shared by the Azure DevOps-backed sinks (service endpoint, variable group) ----

// registerDevOps registers a sink type that needs the Azure DevOps client
// through the interface C (ServiceEndpointAPI, VariableGroupAPI).
func registerDevOps[P, C any](name string, decode func(json.RawMessage) (P, error), build func(P, C, Deps) (Sink, error)) {
	Register(Type{
		Name:     name,
		Validate: func(p json.RawMessage) error { _, err := decode(p); return err },
		New: func(p json.RawMessage, deps Deps) (Sink, error) {
			params, err := decode(p)
			if err != nil {
				return nil, err
			}
			c, ok := deps.DevOps.(C)
			if !ok {
				return nil, errkind.New(errkind.Usage, fmt.Errorf("%s needs the Azure DevOps client; configure organization and auth", name))
			}
			return build(params, c, deps)
		},
	})
}

// named describes what oneNamed looks for, for its errors.
type named struct{ what, project, nameField, idField string }

// oneNamed picks the single item whose name equals want (case-insensitive,
// as Azure DevOps compares names): none is NotFound, several is Usage
// (use the id field instead).
func oneNamed[T any](items []T, nameOf func(T) string, want string, n named) (T, error) {
	var match []T
	for _, it := range items {
		if strings.EqualFold(nameOf(it), want) {
			match = append(match, it)
		}
	}
	var zero T
	switch len(match) {
	case 0:
		return zero, errkind.New(errkind.NotFound, fmt.Errorf("no %s named %q in project %s; create it, fix %s or use %s", n.what, want, n.project, n.nameField, n.idField))
	case 1:
		return match[0], nil
	}
	return zero, errkind.New(errkind.Usage, fmt.Errorf("%d %ss are named %q in project %s; use %s", len(match), n.what, want, n.project, n.idField))
}

// stamp formats metadata times (RFC 3339, UTC, seconds).
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// parseStamp reads a metadata time; anything unparsable is the zero time.
func parseStamp(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// rotatedAt is meta.RotatedAt, or now when the caller left it zero.
func rotatedAt(meta Meta, now func() time.Time) time.Time {
	if meta.RotatedAt.IsZero() {
		return now()
	}
	return meta.RotatedAt
}

func setOrDelete(m map[string]string, k, v string) {
	if v == "" {
		delete(m, k)
		return
	}
	m[k] = v
}

// TestConnectionDataSource is the data source Verify runs.
const TestConnectionDataSource = "TestConnection"

var _ Verifier = (*ServiceEndpointSink)(nil)

// EndpointVerifyError: the endpoint's TestConnection did not answer ok with
// the credential patrol wrote. Its Kind follows the tool's status
// (unauthorized → Auth, forbidden → Permission, notFound → NotFound,
// throttling/5xx/unreachable → Transient, anything else Unknown).
type EndpointVerifyError struct {
	Sink       string // sink name
	Endpoint   string // service connection name
	ID         string // service connection id
	StatusCode string // endpointproxy statusCode ("unauthorized", …; "ok" with a false result)
	Message    string // the tool's errorMessage as relayed by Azure DevOps (never the secret)
}

func (e *EndpointVerifyError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no message"
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return fmt.Sprintf("%s: TestConnection of service connection %q (%s) answered %s (%s); the service connection holds the new credential but the tool does not accept it: check that the tool accepts this kind of credential and that the sink's parameter is the one the tool reads, then run `patrol endpoint test` or rotate again",
		e.Sink, e.Endpoint, e.ID, e.StatusCode, msg)
}

// Kind implements errkind.Kinder.
func (e *EndpointVerifyError) Kind() errkind.Kind {
	switch strings.ToLower(e.StatusCode) {
	case "unauthorized", "proxyauthenticationrequired":
		return errkind.Auth
	case "forbidden":
		return errkind.Permission
	case "notfound", "gone":
		return errkind.NotFound
	case "toomanyrequests", "requesttimeout", "internalservererror", "badgateway", "serviceunavailable", "gatewaytimeout":
		return errkind.Transient
	}
	return errkind.Unknown
}

// KindEntraAppSecret is Meta.Kind of an Entra application secret
// (config.KindEntraAppSecret; config imports this package).
const KindEntraAppSecret = "entra-app-secret"

// appSecretVerifyAttempts bounds Verify's attempts for an application
// secret that Entra has not replicated everywhere yet: Azure DevOps signs in
// from its own region and may see an invalid secret (AADSTS7000215) for a
// while after patrol's own sign-in succeeded.
const appSecretVerifyAttempts = 6

// notReplicated: TestConnection refused the secret as invalid.
func notReplicated(err error) bool {
	var ve *EndpointVerifyError
	return errors.As(err, &ve) && strings.Contains(ve.Message, "AADSTS7000215")
}

// Verify runs the endpoint's TestConnection through endpointproxy. For an
// application secret (meta.Kind entra-app-secret) an "invalid client
// secret" answer is retried (6 attempts, pollInterval apart, default 5 s)
// while Entra replicates the new password.
func (s *ServiceEndpointSink) Verify(ctx context.Context, meta Meta) error {
	if meta.Kind != KindEntraAppSecret {
		return s.verify(ctx)
	}
	pause := 5 * time.Second
	if s.p.PollInterval != "" {
		pause, _ = time.ParseDuration(s.p.PollInterval)
	}
	for attempt := 1; ; attempt++ {
		err := s.verify(ctx)
		if err == nil || attempt == appSecretVerifyAttempts || !notReplicated(err) {
			return err
		}
		s.log.Info("service connection does not accept the new application secret yet; retrying while Entra replicates it", "sink", s.Name(), "attempt", attempt)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

func (s *ServiceEndpointSink) verify(ctx context.Context) error {
	ep, err := s.get(ctx) // by name: the id; always: name and type for messages
	if err != nil {
		return fmt.Errorf("%s: verify: %w", s.Name(), err)
	}
	id, name, typ := ep.ID, ep.Name, ep.Type
	notVerifiable := func(why string) error {
		s.log.Info("service connection not verified: its type has no TestConnection data source", "sink", s.Name(), "endpoint", name, "type", typ, "why", why)
		return nil
	}
	if t, ok := scheme.BuiltinType(typ); ok {
		if _, has := t.DataSource(TestConnectionDataSource); !has {
			return notVerifiable("built-in type without TestConnection")
		}
	}
	res, err := s.c.ExecuteServiceEndpointRequest(ctx, s.p.Project, id, api.ServiceEndpointRequest{
		DataSourceDetails: &api.DataSourceDetails{DataSourceName: TestConnectionDataSource},
	})
	if err != nil {
		if missingDataSource(err) {
			return notVerifiable("endpointproxy: no TestConnection data source")
		}
		return fmt.Errorf("%s: verify with TestConnection of service connection %q: %w", s.Name(), name, err)
	}
	if !strings.EqualFold(res.StatusCode, "ok") {
		return &EndpointVerifyError{Sink: s.Name(), Endpoint: name, ID: id, StatusCode: res.StatusCode, Message: res.ErrorMessage}
	}
	var vals []json.RawMessage
	if json.Unmarshal(res.Result, &vals) == nil && len(vals) == 1 {
		var v any
		if json.Unmarshal(vals[0], &v) == nil && (v == false || v == "false" || v == "False") {
			return &EndpointVerifyError{Sink: s.Name(), Endpoint: name, ID: id, StatusCode: res.StatusCode, Message: "the data source's result is false (e.g. SonarQube's {\"valid\":false})"}
		}
	}
	return nil
}

// missingDataSource reports whether endpointproxy refused the request because
// the endpoint's type has no TestConnection data source (HTTP 400 naming it).
func missingDataSource(err error) bool {
	var ae *devops.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		return false
	}
	m := strings.ToLower(ae.Message)
	if !strings.Contains(m, strings.ToLower(TestConnectionDataSource)) {
		return false
	}
	for _, w := range []string{"not defined", "not found", "does not exist", "could not be found", "no data source"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}
