package datasource

import (
	"errors"
	"fmt"
	"strings"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/scheme"
)

// BindingRequest turns a scheme's data-source binding (e.g. ServiceNow's
// OAuth2 AccessToken target, Kangaroo's inline POST) into a Request: a
// binding naming a data source runs that source of the type, an inline
// binding runs its own endpointUrl/verb/body; the binding's parameters and
// resultTemplate apply.
func BindingRequest(ep *api.ServiceEndpoint, t *scheme.EndpointType, b scheme.DataSourceBinding) (Request, error) {
	r := Request{Endpoint: ep, Type: t, Parameters: b.Parameters, ResultTemplate: b.ResultTemplate}
	if b.DataSourceName != "" {
		ds, ok := t.DataSource(b.DataSourceName)
		if !ok {
			return r, &Error{DataSource: b.DataSourceName, Step: "binding " + b.Target, kind: errkind.Usage,
				Err: fmt.Errorf("binding for target %q names data source %q, which type %q does not define", b.Target, b.DataSourceName, t.Name)}
		}
		cp := *ds
		r.Source = &cp
		return r, nil
	}
	if b.EndpointURL == "" {
		return r, &Error{DataSource: b.Target, Step: "binding", kind: errkind.Usage, Err: errors.New("binding has neither dataSourceName nor endpointUrl")}
	}
	ds := b.DataSource
	if ds.Name == "" {
		ds.Name = "binding:" + b.Target
	}
	r.Source = &ds
	return r, nil
}

// FindBinding returns the binding for target of the endpoint's scheme.
func FindBinding(ep *api.ServiceEndpoint, t *scheme.EndpointType, target string) (scheme.DataSourceBinding, error) {
	s, err := scheme.ResolveScheme(ep, t)
	if err != nil {
		return scheme.DataSourceBinding{}, err
	}
	var targets []string
	for _, b := range s.DataSourceBindings {
		if strings.EqualFold(b.Target, target) {
			return b, nil
		}
		targets = append(targets, b.Target)
	}
	list := "it has none"
	if len(targets) > 0 {
		list = "it has: " + strings.Join(targets, ", ")
	}
	return scheme.DataSourceBinding{}, &Error{DataSource: target, Step: "binding", kind: errkind.NotFound,
		Err: fmt.Errorf("scheme %s of type %q has no data-source binding for target %q; %s", s.Name, t.Name, target, list)}
}
