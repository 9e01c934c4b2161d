package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patrol-dev/patrol/internal/datasource"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/patrol-dev/patrol/internal/scheme"
)

// endpointOpts are the flags shared by `patrol endpoint …` commands.
type endpointOpts struct {
	typeName     string
	manifest     string
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
	pf.StringVar(&o.manifest, "manifest", "", "extension manifest (vss-extension.json) defining the endpoint type")
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
		newEndpointListCmd(a, o),
		newEndpointGetCmd(a, o),
		newEndpointCreateCmd(a, o),
		newEndpointUpdateCmd(a, o),
		newEndpointSetCredentialCmd(a, o),
	)
	return cmd
}

// ---- output shapes ----

type schemeRow struct {
	Name        string                   `json:"name"`
	ID          string                   `json:"id"`
	DisplayName string                   `json:"displayName"`
	Headers     []scheme.Header          `json:"headers,omitempty"`
	Inputs      []scheme.InputDescriptor `json:"inputDescriptors,omitempty"`
	Note        string                   `json:"note,omitempty"`
}

type schemeList []schemeRow

func (l schemeList) Table() output.TableData {
	t := output.TableData{Header: []string{"SCHEME", "CONTRIBUTION ID", "INPUTS (* confidential, ! required)", "HEADERS"}}
	for _, s := range l {
		var in, hs []string
		for _, d := range s.Inputs {
			f := d.ID
			if d.IsConfidential {
				f += "*"
			}
			if d.Required() {
				f += "!"
			}
			in = append(in, f)
		}
		for _, h := range s.Headers {
			hs = append(hs, h.Name+": "+h.Value)
		}
		t.Rows = append(t.Rows, []string{s.Name, s.ID, strings.Join(in, " "), strings.Join(hs, "; ")})
	}
	return t
}

func newEndpointSchemesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "schemes [NAME|CONTRIBUTION-ID]",
		Short: "List the closed set of authentication schemes and their inputs",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []scheme.Scheme
			if len(args) == 1 {
				s, err := scheme.Lookup(args[0])
				if err != nil {
					return err
				}
				list = []scheme.Scheme{s}
			} else {
				list = scheme.Schemes()
			}
			var out schemeList
			for _, s := range list {
				out = append(out, schemeRow{Name: s.Name, ID: s.ID, DisplayName: strings.TrimPrefix(s.DisplayName, "i18n:"), Headers: s.Headers, Inputs: s.InputDescriptors, Note: s.Note})
			}
			return a.printer().Print(out)
		},
	}
}

type typeRow struct {
	Name        string   `json:"name"`
	DisplayName string   `json:"displayName"`
	Schemes     []string `json:"schemes"`
	DataSources []string `json:"dataSources,omitempty"`
	Source      string   `json:"source"`
}

type typeList []typeRow

func (l typeList) Table() output.TableData {
	t := output.TableData{Header: []string{"TYPE", "DISPLAY NAME", "SCHEMES", "DATA SOURCES"}}
	for _, r := range l {
		t.Rows = append(t.Rows, []string{r.Name, r.DisplayName, strings.Join(r.Schemes, ","), fmt.Sprint(len(r.DataSources))})
	}
	return t
}

func newEndpointTypesCmd(a *app, o *endpointOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "types",
		Short: "List endpoint types: built in, or those of --manifest",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ts []scheme.EndpointType
			if o.manifest != "" {
				var err error
				if ts, err = scheme.LoadManifestFile(o.manifest); err != nil {
					return err
				}
			} else {
				ts = scheme.BuiltinTypes()
			}
			var out typeList
			for _, t := range ts {
				r := typeRow{Name: t.Name, DisplayName: t.DisplayName, Schemes: t.SchemeNames(), Source: t.Source}
				for _, d := range t.DataSources {
					r.DataSources = append(r.DataSources, d.Name)
				}
				out = append(out, r)
			}
			return a.printer().Print(out)
		},
	}
}

// ---- shared loading ----

func (a *app) readEndpointFile(path string) (*api.ServiceEndpoint, error) {
	if path == "" {
		return nil, usageErrorf("--endpoint FILE is required (the endpoint as JSON in the REST shape; '-' reads stdin)")
	}
	var r io.Reader
	if path == "-" {
		r = a.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, usageErrorf("--endpoint %s: %v", path, err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return nil, usageErrorf("--endpoint %s: %v", path, err)
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
		ts, err := scheme.LoadManifestFile(o.manifest)
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
	if ep.Type == "" {
		ep.Type = t.Name
	}
	if ep.URL == "" {
		ep.URL = t.URL.Value
	}
	return ep, t, nil
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

// ---- validate ----

type validation struct {
	Endpoint string           `json:"endpoint"`
	Type     string           `json:"type"`
	Valid    bool             `json:"valid"`
	Problems []scheme.Problem `json:"problems"`
}

func (v validation) Table() output.TableData {
	t := output.TableData{Header: []string{"LEVEL", "FIELD", "PROBLEM"}}
	for _, p := range v.Problems {
		lvl := "error"
		if p.Warning {
			lvl = "warning"
		}
		t.Rows = append(t.Rows, []string{lvl, p.Field, p.String()})
	}
	if len(v.Problems) == 0 {
		t.Rows = append(t.Rows, []string{"ok", "-", fmt.Sprintf("endpoint is valid for type %s", v.Type)})
	}
	return t
}

func newEndpointValidateCmd(a *app, o *endpointOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "validate --endpoint FILE [--type NAME | --manifest FILE]",
		Short: "Check an endpoint against its type's schemes and input descriptors",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ep, t, err := a.loadLocal(cmd.Context(), o)
			if err != nil {
				return err
			}
			ps, verr := scheme.Validate(ep, t)
			if ps == nil {
				ps = []scheme.Problem{}
			}
			if err := a.printer().Print(validation{Endpoint: ep.Name, Type: t.Name, Valid: verr == nil, Problems: ps}); err != nil {
				return err
			}
			return verr
		},
	}
}

// ---- header ----

type headerRow struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type headerList struct {
	Method      string      `json:"method"`
	Scheme      string      `json:"scheme"`
	Authorizer  string      `json:"authorizer"`
	Headers     []headerRow `json:"headers"`
	ClientCert  string      `json:"clientCertificate,omitempty"`
	InsecureTLS bool        `json:"acceptUntrustedCerts,omitempty"`
}

func (h headerList) Table() output.TableData {
	t := output.TableData{Header: []string{"HEADER", "VALUE"}}
	for _, r := range h.Headers {
		t.Rows = append(t.Rows, []string{r.Name, r.Value})
	}
	if h.ClientCert != "" {
		t.Rows = append(t.Rows, []string{"(TLS client certificate)", h.ClientCert})
	}
	if len(t.Rows) == 0 {
		t.Rows = append(t.Rows, []string{"(none)", "scheme " + h.Scheme + " adds no headers"})
	}
	return t
}

// maskHeader keeps an auth-scheme word ("Basic", "Bearer", "FortifyToken") and masks the rest.
func maskHeader(v string) string {
	if i := strings.IndexByte(v, ' '); i > 0 && i < 20 && !strings.ContainsAny(v[:i], ":=") {
		return v[:i+1] + scheme.Mask
	}
	return scheme.Mask
}

func newEndpointHeaderCmd(a *app, o *endpointOpts) *cobra.Command {
	var method, target string
	var reveal bool
	cmd := &cobra.Command{
		Use:   "header --endpoint FILE [--url URL] [--method GET] [--reveal]",
		Short: "Show the headers (and TLS client certificate) patrol would send; values masked unless --reveal",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ep, t, err := a.loadLocal(cmd.Context(), o)
			if err != nil {
				return err
			}
			opts, _, err := a.authOptions()
			if err != nil {
				return err
			}
			az, err := scheme.New(ep, t, opts)
			if err != nil {
				return err
			}
			if target == "" {
				target = ep.URL
			}
			ctx, cancel := a.ctxTimeout(cmd.Context())
			defer cancel()
			creds, err := az.Resolve(ctx, method, target)
			if err != nil {
				return err
			}
			out := headerList{Method: strings.ToUpper(method), Scheme: az.Scheme().Name, Authorizer: string(az.Method()), InsecureTLS: creds.InsecureSkipVerify}
			names := make([]string, 0, len(creds.Headers))
			for k := range creds.Headers {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				for _, v := range creds.Headers[k] {
					if !reveal && !strings.EqualFold(k, "Accept") && !strings.EqualFold(k, "Content-Type") {
						v = maskHeader(v)
					}
					out.Headers = append(out.Headers, headerRow{Name: k, Value: v})
				}
			}
			if creds.ClientCert != nil && creds.ClientCert.Leaf != nil {
				out.ClientCert = "subject " + creds.ClientCert.Leaf.Subject.String() + ", expires " + creds.ClientCert.Leaf.NotAfter.UTC().Format(time.RFC3339)
			} else if creds.ClientCert != nil {
				out.ClientCert = "present"
			}
			return a.printer().Print(out)
		},
	}
	cmd.Flags().StringVar(&method, "method", "GET", "request method the headers are for (templates may depend on it)")
	cmd.Flags().StringVar(&target, "url", "", "request URL the headers are for (default: the endpoint URL)")
	cmd.Flags().BoolVar(&reveal, "reveal", false, "print header values unmasked (they are secrets)")
	return cmd
}

func (a *app) ctxTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	d := a.timeout
	if d <= 0 {
		d = 2 * time.Minute
	}
	return context.WithTimeout(ctx, d*3)
}

// ---- request / test ----

type requestResult struct {
	DataSource    string   `json:"dataSource"`
	Calls         int      `json:"calls"`
	StatusCode    int      `json:"statusCode"`
	MoreAvailable bool     `json:"moreAvailable,omitempty"`
	Items         []string `json:"items"`
}

func (r requestResult) Table() output.TableData {
	t := output.TableData{Header: []string{"#", "RESULT"}}
	for i, it := range r.Items {
		t.Rows = append(t.Rows, []string{fmt.Sprint(i + 1), it})
	}
	return t
}

func parseParams(kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--param %q: write it as name=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

func newEndpointRequestCmd(a *app, o *endpointOpts) *cobra.Command {
	var name, tpl, binding, confFile string
	var params []string
	var maxCalls int
	cmd := &cobra.Command{
		Use:   "request --endpoint FILE (--data-source NAME | --binding TARGET) [--param k=v]…",
		Short: "Run one of the type's data sources (or a scheme's data-source binding) locally and print the selected results",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (name == "") == (binding == "") {
				return usageErrorf("pass exactly one of --data-source NAME (`patrol endpoint types -o json` lists them) or --binding TARGET")
			}
			ep, t, err := a.loadLocal(cmd.Context(), o)
			if err != nil {
				return err
			}
			pm, err := parseParams(params)
			if err != nil {
				return err
			}
			var conf map[string]any
			if confFile != "" {
				b, err := os.ReadFile(confFile)
				if err != nil {
					return usageErrorf("--configuration-file: %v", err)
				}
				if err := json.Unmarshal(b, &conf); err != nil {
					return usageErrorf("--configuration-file %s is not a JSON object: %v", confFile, err)
				}
			}
			req := datasource.Request{Endpoint: ep, Type: t, DataSource: name, Parameters: pm, ResultTemplate: tpl}
			if binding != "" {
				b, err := datasource.FindBinding(ep, t, binding)
				if err != nil {
					return err
				}
				if req, err = datasource.BindingRequest(ep, t, b); err != nil {
					return err
				}
				for k, v := range pm {
					if req.Parameters == nil {
						req.Parameters = map[string]string{}
					}
					req.Parameters[k] = v
				}
				if tpl != "" {
					req.ResultTemplate = tpl
				}
				name = "binding:" + b.Target
			}
			auth, hc, err := a.authOptions()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctxTimeout(cmd.Context())
			defer cancel()
			res, err := datasource.Run(ctx, req,
				datasource.Options{HTTPClient: hc, Auth: auth, MaxCalls: maxCalls, Project: o.project, Now: a.now, Configuration: conf})
			if err != nil {
				return err
			}
			items := res.Items
			if items == nil {
				items = []string{}
			}
			return a.printer().Print(requestResult{DataSource: name, Calls: res.Calls, StatusCode: res.StatusCode, MoreAvailable: res.MoreAvailable, Items: items})
		},
	}
	cmd.Flags().StringVar(&name, "data-source", "", "data source name")
	cmd.Flags().StringArrayVar(&params, "param", nil, "data-source parameter name=value (repeatable)")
	cmd.Flags().StringVar(&tpl, "result-template", "", "Mustache template rendered per selected item")
	cmd.Flags().StringVar(&binding, "binding", "", "run the endpoint scheme's data-source binding for this target (e.g. AccessToken)")
	cmd.Flags().StringVar(&confFile, "configuration-file", "", "JSON file with the OAuth configuration ({{configuration.ClientId}}, ClientSecret, Url …); a file because it holds secrets")
	cmd.Flags().IntVar(&maxCalls, "max-calls", datasource.DefaultMaxCalls, "paging call limit")
	return cmd
}

type testResult struct {
	DataSource string `json:"dataSource"`
	StatusCode int    `json:"statusCode"`
	OK         bool   `json:"ok"`
}

func (r testResult) Table() output.TableData {
	st := "FAILED"
	if r.OK {
		st = "OK"
	}
	return output.TableData{Header: []string{"DATA SOURCE", "HTTP", "RESULT"}, Rows: [][]string{{r.DataSource, fmt.Sprint(r.StatusCode), st}}}
}

func newEndpointTestCmd(a *app, o *endpointOpts) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "test --endpoint FILE",
		Short: "Verify the endpoint's credentials with its TestConnection data source (only the HTTP status counts)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ep, t, err := a.loadLocal(cmd.Context(), o)
			if err != nil {
				return err
			}
			auth, hc, err := a.authOptions()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctxTimeout(cmd.Context())
			defer cancel()
			code, terr := datasource.Test(ctx, datasource.Request{Endpoint: ep, Type: t, DataSource: name}, datasource.Options{HTTPClient: hc, Auth: auth, Project: o.project, Now: a.now})
			if code == 0 && terr != nil {
				return terr
			}
			if err := a.printer().Print(testResult{DataSource: name, StatusCode: code, OK: terr == nil}); err != nil {
				return err
			}
			return terr
		},
	}
	cmd.Flags().StringVar(&name, "data-source", "TestConnection", "data source used for the test")
	return cmd
}

// ---- remote: list/get/create/update/set-credential ----

func (a *app) endpointProject(o *endpointOpts) (string, error) {
	if o.project != "" {
		return o.project, nil
	}
	if v, ok := a.env("PATROL_PROJECT"); ok && v != "" {
		return v, nil
	}
	return "", usageErrorf("--project is required (or set PATROL_PROJECT)")
}

type endpointList []api.ServiceEndpoint

func (l endpointList) Table() output.TableData {
	t := output.TableData{Header: []string{"ID", "NAME", "TYPE", "SCHEME", "READY", "URL"}}
	for _, e := range l {
		s := ""
		if e.Authorization != nil {
			s = e.Authorization.Scheme
		}
		t.Rows = append(t.Rows, []string{e.ID, e.Name, e.Type, s, fmt.Sprint(e.IsReady), e.URL})
	}
	return t
}

// redactRemote masks any non-null confidential-looking parameter the server
// returned (it normally nulls them).
func redactRemote(ep api.ServiceEndpoint) api.ServiceEndpoint {
	var s *scheme.Scheme
	if t, ok := scheme.BuiltinType(ep.Type); ok && ep.Authorization != nil {
		s, _ = t.Scheme(ep.Authorization.Scheme)
	}
	if s == nil && ep.Authorization != nil {
		if b, err := scheme.Lookup(ep.Authorization.Scheme); err == nil {
			s = &b
		}
	}
	return *scheme.Redacted(&ep, nil, s)
}

func newEndpointListCmd(a *app, o *endpointOpts) *cobra.Command {
	var schemes, names []string
	cmd := &cobra.Command{
		Use:   "list --project P [--type T] [--scheme S] [--name N]",
		Short: "List the project's service endpoints",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			project, err := a.endpointProject(o)
			if err != nil {
				return err
			}
			c, err := a.devops(cmd.Context())
			if err != nil {
				return err
			}
			eps, err := c.ListServiceEndpoints(cmd.Context(), project, devops.EndpointFilter{Type: o.typeName, AuthSchemes: schemes, Names: names})
			if err != nil {
				return err
			}
			out := endpointList{}
			for _, e := range eps {
				out = append(out, redactRemote(e))
			}
			return a.printer().Print(out)
		},
	}
	cmd.Flags().StringSliceVar(&schemes, "scheme", nil, "only endpoints using these authorization schemes")
	cmd.Flags().StringSliceVar(&names, "name", nil, "only endpoints with these names")
	return cmd
}

func (a *app) findRemote(ctx context.Context, c *devops.Client, project, ref string) (api.ServiceEndpoint, error) {
	if looksLikeGUID(ref) {
		return c.GetServiceEndpoint(ctx, project, ref)
	}
	eps, err := c.ListServiceEndpoints(ctx, project, devops.EndpointFilter{Names: []string{ref}})
	if err != nil {
		return api.ServiceEndpoint{}, err
	}
	for _, e := range eps {
		if strings.EqualFold(e.Name, ref) {
			return c.GetServiceEndpoint(ctx, project, e.ID)
		}
	}
	return api.ServiceEndpoint{}, errkind.New(errkind.NotFound, fmt.Errorf("no service endpoint named %q in project %s; `patrol endpoint list --project %s` shows them", ref, project, project))
}

func looksLikeGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if r != '-' {
				return false
			}
			continue
		}
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

func newEndpointGetCmd(a *app, o *endpointOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "get --project P ID|NAME",
		Short: "Show one service endpoint (confidential values come back null)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			project, err := a.endpointProject(o)
			if err != nil {
				return err
			}
			c, err := a.devops(cmd.Context())
			if err != nil {
				return err
			}
			ep, err := a.findRemote(cmd.Context(), c, project, args[0])
			if err != nil {
				return err
			}
			return a.printer().Print(endpointList{redactRemote(ep)})
		},
	}
}

func newEndpointCreateCmd(a *app, o *endpointOpts) *cobra.Command {
	var skipValidate bool
	cmd := &cobra.Command{
		Use:   "create --project P --endpoint FILE",
		Short: "Create a service endpoint from a JSON file (validated against its type first)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			project, err := a.endpointProject(o)
			if err != nil {
				return err
			}
			ep, err := a.readEndpointFile(o.endpointFile)
			if err != nil {
				return err
			}
			if !skipValidate {
				var t *scheme.EndpointType
				var terr error
				if o.serverTypes {
					t, terr = a.serverType(cmd.Context(), o, ep)
				} else {
					t, terr = resolveType(o, ep)
				}
				if terr != nil {
					// The server validates too; say that patrol could not.
					fmt.Fprintf(a.stderr, "warning: not validated locally (%v); Azure DevOps will validate it (use --manifest/--type, or --no-validate to silence this)\n", terr)
				} else if _, err := scheme.Validate(ep, t); err != nil {
					return err
				}
			}
			if len(ep.ServiceEndpointProjectReferences) == 0 {
				ep.ServiceEndpointProjectReferences = []api.ServiceEndpointProjectReference{{ProjectReference: api.ProjectReference{ID: project, Name: project}, Name: ep.Name}}
			}
			c, err := a.devops(cmd.Context())
			if err != nil {
				return err
			}
			out, err := c.CreateServiceEndpoint(cmd.Context(), *ep)
			if err != nil {
				return err
			}
			return a.printer().Print(endpointList{redactRemote(out)})
		},
	}
	cmd.Flags().BoolVar(&skipValidate, "no-validate", false, "skip local validation against the endpoint type")
	return cmd
}

func newEndpointUpdateCmd(a *app, o *endpointOpts) *cobra.Command {
	var operation string
	cmd := &cobra.Command{
		Use:   "update --project P --endpoint FILE",
		Short: "Replace a service endpoint (PUT) with the JSON file's full content",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			project, err := a.endpointProject(o)
			if err != nil {
				return err
			}
			ep, err := a.readEndpointFile(o.endpointFile)
			if err != nil {
				return err
			}
			if ep.ID == "" {
				return usageErrorf("the endpoint file has no \"id\"; update needs the id of the endpoint to replace")
			}
			c, err := a.devops(cmd.Context())
			if err != nil {
				return err
			}
			out, err := c.UpdateServiceEndpoint(cmd.Context(), *ep, operation)
			if err != nil {
				return err
			}
			if !out.IsReady {
				if out, err = c.WaitEndpointReady(cmd.Context(), project, out.ID, time.Second); err != nil {
					return err
				}
			}
			return a.printer().Print(endpointList{redactRemote(out)})
		},
	}
	cmd.Flags().StringVar(&operation, "operation", "", "update operation (ConvertAuthenticationScheme, ChangeProperties; empty = normal update)")
	return cmd
}

// defaultSecretKey is the parameter set-credential replaces per scheme.
func defaultSecretKey(schemeName string) string {
	switch strings.ToLower(schemeName) {
	case "usernamepassword":
		return "password"
	case "token":
		return "apitoken"
	case "jwt":
		return "PrivateKey"
	case "certificate":
		return "certificate"
	case "serviceprincipal":
		return "servicePrincipalKey"
	case "personalaccesstoken":
		return "accessToken"
	case "kubernetes":
		return "kubeconfig"
	}
	return ""
}

type credentialResult struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Scheme    string `json:"scheme"`
	Parameter string `json:"parameter"`
	Ready     bool   `json:"ready"`
}

func (r credentialResult) Table() output.TableData {
	return output.TableData{Header: []string{"ID", "NAME", "SCHEME", "PARAMETER", "READY"},
		Rows: [][]string{{r.ID, r.Name, r.Scheme, r.Parameter, fmt.Sprint(r.Ready)}}}
}

func (a *app) readSecret(envName, file string) (string, error) {
	var v string
	switch {
	case envName != "" && file != "":
		return "", usageErrorf("use either --secret-env or --secret-file, not both")
	case envName != "":
		s, ok := a.env(envName)
		if !ok || s == "" {
			return "", usageErrorf("environment variable %s is empty or unset", envName)
		}
		v = s
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", usageErrorf("--secret-file: %v", err)
		}
		v = string(b)
	default:
		b, err := io.ReadAll(io.LimitReader(a.stdin, 1<<20))
		if err != nil {
			return "", usageErrorf("reading the secret from stdin: %v", err)
		}
		v = string(b)
	}
	v = strings.TrimRight(v, "\r\n")
	if strings.TrimSpace(v) == "" {
		return "", usageErrorf("the new secret is empty; pipe it on stdin or use --secret-env/--secret-file")
	}
	return v, nil
}

func newEndpointSetCredentialCmd(a *app, o *endpointOpts) *cobra.Command {
	var key, envName, file string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "set-credential --project P ID|NAME [--key PARAM] [--secret-env VAR | --secret-file FILE | < secret]",
		Short: "Rotate the secret of a service endpoint (PUT the full endpoint with the new secret, wait until ready)",
		Long: `Replace one confidential authorization parameter of an existing endpoint.
The secret is read from stdin (default), --secret-env VAR or --secret-file FILE —
never from an argument. The endpoint is read, the parameter replaced (other
confidential parameters are sent as null, which makes Azure DevOps keep them),
the full endpoint PUT back, and patrol waits until it is ready.
Default parameter by scheme: UsernamePassword password, Token apitoken, JWT
PrivateKey, Certificate certificate, ServicePrincipal servicePrincipalKey,
PersonalAccessToken accessToken, Kubernetes kubeconfig. For SonarQube-style
types whose token is the username use --key username.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			project, err := a.endpointProject(o)
			if err != nil {
				return err
			}
			secret, err := a.readSecret(envName, file)
			if err != nil {
				return err
			}
			c, err := a.devops(cmd.Context())
			if err != nil {
				return err
			}
			ep, err := a.findRemote(cmd.Context(), c, project, args[0])
			if err != nil {
				return err
			}
			if ep.Authorization == nil {
				return usageErrorf("endpoint %s has no authorization block; it cannot take a credential", ep.Name)
			}
			k := key
			if k == "" {
				k = defaultSecretKey(ep.Authorization.Scheme)
				if k == "" {
					return usageErrorf("scheme %s has no default secret parameter; pass --key", ep.Authorization.Scheme)
				}
			}
			if ep.Authorization.Parameters == nil {
				ep.Authorization.Parameters = map[string]*string{}
			}
			if _, ok, actual := scheme.ParamCI(ep.Authorization.Parameters, k); ok {
				k = actual
			}
			ep.Authorization.Parameters[k] = &secret
			out, err := c.UpdateServiceEndpoint(cmd.Context(), ep, "")
			if err != nil {
				return err
			}
			ready := out.IsReady
			if !ready && wait > 0 {
				wctx, cancel := context.WithTimeout(cmd.Context(), wait)
				defer cancel()
				w, err := c.WaitEndpointReady(wctx, project, ep.ID, time.Second)
				if err != nil {
					if errors.Is(err, context.DeadlineExceeded) {
						return errkind.New(errkind.Transient, fmt.Errorf("endpoint %s was updated but is not ready after %s; check it with `patrol endpoint get`", ep.Name, wait))
					}
					return err
				}
				_ = w
				ready = true
			}
			return a.printer().Print(credentialResult{ID: ep.ID, Name: ep.Name, Scheme: ep.Authorization.Scheme, Parameter: k, Ready: ready})
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "authorization parameter to replace (default by scheme)")
	cmd.Flags().StringVar(&envName, "secret-env", "", "environment variable holding the new secret")
	cmd.Flags().StringVar(&file, "secret-file", "", "file holding the new secret")
	cmd.Flags().DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for the endpoint to be ready (0 = do not wait)")
	return cmd
}
