package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
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
}

// Data keys holding patrol's metadata on the endpoint.
const (
	EndpointDataAuthorizationID = "patrolAuthorizationId"
	EndpointDataValidTo         = "patrolValidTo"
	EndpointDataRotatedAt       = "patrolRotatedAt"
	EndpointDataCredential      = "patrolCredential"
)

func init() {
	Register(Type{
		Name:     "azure-devops-service-endpoint",
		Validate: func(p json.RawMessage) error { _, err := decodeServiceEndpointParams(p); return err },
		New: func(p json.RawMessage, deps Deps) (Sink, error) {
			sp, err := decodeServiceEndpointParams(p)
			if err != nil {
				return nil, err
			}
			c, ok := deps.DevOps.(ServiceEndpointAPI)
			if !ok {
				return nil, errkind.New(errkind.Usage, errors.New("azure-devops-service-endpoint needs the Azure DevOps client; configure organization and auth"))
			}
			return NewServiceEndpoint(sp, c, deps.Now)
		},
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
}

// NewServiceEndpoint builds the sink.
func NewServiceEndpoint(p ServiceEndpointParams, c ServiceEndpointAPI, now func() time.Time) (*ServiceEndpointSink, error) {
	if now == nil {
		now = time.Now
	}
	return &ServiceEndpointSink{p: p, c: c, now: now}, nil
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
	var match []api.ServiceEndpoint
	for _, ep := range eps {
		if strings.EqualFold(ep.Name, s.p.EndpointName) {
			match = append(match, ep)
		}
	}
	switch len(match) {
	case 0:
		return api.ServiceEndpoint{}, errkind.New(errkind.NotFound, fmt.Errorf("no service connection named %q in project %s; check endpointName or use endpointId", s.p.EndpointName, s.p.Project))
	case 1:
		// The list may omit details; read the endpoint itself.
		return s.c.GetServiceEndpoint(ctx, s.p.Project, match[0].ID)
	}
	return api.ServiceEndpoint{}, errkind.New(errkind.Usage, fmt.Errorf("%d service connections are named %q in project %s; use endpointId", len(match), s.p.EndpointName, s.p.Project))
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
	if t, err := time.Parse(time.RFC3339Nano, ep.Data[EndpointDataValidTo]); err == nil {
		h.ValidTo = t
	}
	if t, err := time.Parse(time.RFC3339Nano, ep.Data[EndpointDataRotatedAt]); err == nil {
		h.RotatedAt = t
	}
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
	rotated := meta.RotatedAt
	if rotated.IsZero() {
		rotated = s.now()
	}
	setOrDelete(data, EndpointDataAuthorizationID, meta.AuthorizationID)
	setOrDelete(data, EndpointDataCredential, meta.Credential)
	data[EndpointDataValidTo] = meta.ValidTo.UTC().Format(time.RFC3339)
	data[EndpointDataRotatedAt] = rotated.UTC().Format(time.RFC3339)
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

func setOrDelete(m map[string]string, k, v string) {
	if v == "" {
		delete(m, k)
		return
	}
	m[k] = v
}
