package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/scheme"
)

// endpointOpts are the flags shared by `patrol endpoint …` commands.
type endpointOpts struct {
	typeName     string
	manifest     string
	manifestEnv  []string
	endpointFile string
	project      string
	serverTypes  bool
}

func newEndpointCmd(a *app) *cobra.Command {
	o := &endpointOpts{}
	cmd := &cobra.Command{
		Use:   "endpoint",
		Short: "Service endpoints: authentication schemes, validation, headers, data sources, credentials",
		Long: `Work with Azure DevOps service endpoints (service connections).

Local commands (no Azure DevOps needed) take an endpoint as a JSON file in the
REST shape ({"type","url","data","authorization":{"scheme","parameters"}}) and
an endpoint type: built in (--type jenkins, Generic, dockerregistry …) or from
an extension manifest (--manifest vss-extension.json [--type NAME]).

Remote commands (list, get, create, update, set-credential) talk to the
organisation configured globally (--org, AZURE_DEVOPS_ORG) in --project
(env PATROL_PROJECT). Secrets are never taken from arguments: set-credential
reads the new secret from stdin, --secret-env or --secret-file.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.typeName, "type", "", "endpoint type name (built in, or picked from --manifest)")
	pf.StringVar(&o.manifest, "manifest", "", "extension manifest defining the endpoint type: vss-extension.json, or a JavaScript manifest (vss-extension.js, manifest.js) evaluated sandboxed")
	pf.StringArrayVar(&o.manifestEnv, "manifest-env", nil, "KEY=VALUE passed to a JavaScript manifest's exported function, like tfx --env (repeatable)")
	pf.StringVar(&o.endpointFile, "endpoint", "", "endpoint JSON file (REST shape); '-' reads stdin")
	pf.StringVar(&o.project, "project", "", "Azure DevOps project name or id (env PATROL_PROJECT)")
	pf.BoolVar(&o.serverTypes, "server-types", false, "take the endpoint type from Azure DevOps (GET _apis/serviceendpoint/types) instead of built-ins")
	cmd.AddCommand(
		newEndpointSchemesCmd(a),
		newEndpointTypesCmd(a, o),
		newEndpointValidateCmd(a, o),
		newEndpointHeaderCmd(a, o),
		newEndpointRequestCmd(a, o),
		newEndpointTestCmd(a, o),
		newEndpointLintCmd(a, o),
		newEndpointListCmd(a, o),
		newEndpointGetCmd(a, o),
		newEndpointCreateCmd(a, o),
		newEndpointUpdateCmd(a, o),
		newEndpointSetCredentialCmd(a, o),
		newEndpointConvertWIFCmd(a, o),
	)
	return cmd
}

// ---- shared loading ----

func (a *app) readEndpointFile(path string) (*api.ServiceEndpoint, error) {
	if path == "" {
		return nil, usageErrorf("--endpoint FILE is required (the endpoint as JSON in the REST shape; '-' reads stdin)")
	}
	b, err := a.readBoundedFile("--endpoint", path, maxEndpointFile)
	if err != nil {
		return nil, err
	}
	b, err = scheme.CleanJSON(b)
	if err != nil {
		return nil, usageErrorf("--endpoint %s: %v", path, err)
	}
	var ep api.ServiceEndpoint
	if err := json.Unmarshal(b, &ep); err != nil {
		return nil, usageErrorf("--endpoint %s is not a service endpoint JSON object: %v", path, err)
	}
	return &ep, nil
}

// resolveType finds the endpoint type from --manifest/--type or the endpoint's own type.
func resolveType(o *endpointOpts, ep *api.ServiceEndpoint) (*scheme.EndpointType, error) {
	want := o.typeName
	if want == "" && ep != nil {
		want = ep.Type
	}
	if o.manifest != "" {
		ts, err := o.loadManifest()
		if err != nil {
			return nil, err
		}
		if want == "" && len(ts) == 1 {
			return &ts[0], nil
		}
		var names []string
		for i := range ts {
			if strings.EqualFold(ts[i].Name, want) {
				return &ts[i], nil
			}
			names = append(names, ts[i].Name)
		}
		return nil, usageErrorf("manifest %s has no endpoint type %q; it defines %s (pick one with --type)", o.manifest, want, strings.Join(names, ", "))
	}
	if want == "" {
		return nil, usageErrorf("no endpoint type: pass --type NAME (built in) or --manifest FILE, or set \"type\" in the endpoint file")
	}
	t, ok := scheme.BuiltinType(want)
	if !ok {
		var names []string
		for _, b := range scheme.BuiltinTypes() {
			names = append(names, b.Name)
		}
		return nil, usageErrorf("endpoint type %q is not built in (built in: %s); pass --manifest with the extension that defines it", want, strings.Join(names, ", "))
	}
	return &t, nil
}

func (a *app) loadLocal(ctx context.Context, o *endpointOpts) (*api.ServiceEndpoint, *scheme.EndpointType, error) {
	ep, err := a.readEndpointFile(o.endpointFile)
	if err != nil {
		return nil, nil, err
	}
	var t *scheme.EndpointType
	if o.serverTypes {
		t, err = a.serverType(ctx, o, ep)
	} else {
		t, err = resolveType(o, ep)
	}
	if err != nil {
		return nil, nil, err
	}
	a.warnType(t)
	if ep.Type == "" {
		ep.Type = t.Name
	}
	if ep.URL == "" {
		ep.URL = t.URL.Value
	}
	return ep, t, nil
}

// loadManifest loads --manifest (JSON or JavaScript, with --manifest-env).
func (o *endpointOpts) loadManifest() ([]scheme.EndpointType, error) {
	jo, err := o.jsOptions()
	if err != nil {
		return nil, err
	}
	return scheme.LoadManifestFileWith(o.manifest, jo)
}

// jsOptions are the JavaScript-manifest options from --manifest-env.
func (o *endpointOpts) jsOptions() (scheme.JSOptions, error) {
	env := map[string]string{}
	for _, kv := range o.manifestEnv {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return scheme.JSOptions{}, usageErrorf("--manifest-env %q: write it as KEY=VALUE", kv)
		}
		env[k] = v
	}
	return scheme.JSOptions{Env: env}, nil
}

// warnType prints what loading the type skipped (Azure DevOps skips it too).
func (a *app) warnType(t *scheme.EndpointType) {
	for _, w := range t.Warnings {
		fmt.Fprintf(a.stderr, "warning: %s: type %s: %s\n", t.Source, t.Name, w)
	}
}

// serverType fetches the endpoint's type from Azure DevOps.
func (a *app) serverType(ctx context.Context, o *endpointOpts, ep *api.ServiceEndpoint) (*scheme.EndpointType, error) {
	want := o.typeName
	if want == "" {
		want = ep.Type
	}
	if want == "" {
		return nil, usageErrorf("no endpoint type: pass --type NAME or set \"type\" in the endpoint file")
	}
	c, err := a.devops(ctx)
	if err != nil {
		return nil, err
	}
	list, err := c.ListServiceEndpointTypes(ctx, want, "")
	if err != nil {
		return nil, err
	}
	ts, err := scheme.FromAPI(list)
	if err != nil {
		return nil, err
	}
	for i := range ts {
		if strings.EqualFold(ts[i].Name, want) {
			return &ts[i], nil
		}
	}
	return nil, errkind.New(errkind.NotFound, fmt.Errorf("Azure DevOps knows no endpoint type %q (the extension defining it is not installed in the organisation)", want))
}

func (a *app) authOptions() (scheme.Options, *http.Client, error) {
	hc, err := a.httpClient()
	if err != nil {
		return scheme.Options{}, nil, err
	}
	o := scheme.Options{HTTPClient: hc, Logger: a.logger(), Now: a.now}
	if c, err := a.connection(); err == nil && c.Endpoints.CABundle != "" {
		roots, err := httpx.RootCAs(c.Endpoints.CABundle, nil)
		if err != nil {
			return scheme.Options{}, nil, err
		}
		o.RootCAs = roots
	}
	if v, ok := a.env("AZURE_AUTHORITY_HOST"); ok {
		o.AzureAuthorityHost = v
	}
	if v, ok := a.env("PATROL_DISABLE_INSTANCE_DISCOVERY"); ok && strings.EqualFold(v, "true") {
		o.DisableInstanceDiscovery = true
	}
	if v, ok := a.env("AZURE_FEDERATED_TOKEN_FILE"); ok {
		o.FederatedTokenFile = v
	}
	return o, hc, nil
}

func (a *app) ctxTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	d := a.timeout
	if d <= 0 {
		d = 2 * time.Minute
	}
	return context.WithTimeout(ctx, d*3)
}
