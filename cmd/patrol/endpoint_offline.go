package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patrol-dev/patrol/internal/datasource"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/patrol-dev/patrol/internal/scheme"
)

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
				if ts, err = o.loadManifest(); err != nil {
					return err
				}
				for i := range ts {
					a.warnType(&ts[i])
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
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate --endpoint FILE [--type NAME | --manifest FILE] [--strict]",
		Short: "Check an endpoint against its type's schemes and input descriptors",
		Long: `Check an endpoint against its type's schemes and input descriptors.
A manifest's authenticationSchemes entry whose type is outside the closed set is
skipped with a warning, as Azure DevOps skips it; --strict makes it an error.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ep, t, err := a.loadLocal(cmd.Context(), o)
			if err != nil {
				return err
			}
			ps, verr := scheme.Validate(ep, t)
			for _, w := range t.Warnings {
				ps = append(ps, scheme.Problem{Field: "type", Message: w, Warning: !strict})
			}
			if ps == nil {
				ps = []scheme.Problem{}
			}
			if strict && len(t.Warnings) > 0 && verr == nil {
				verr = &scheme.ManifestError{Source: t.Source, Where: "type " + t.Name,
					Err: fmt.Errorf("--strict: %s; fix the manifest or drop --strict", strings.Join(t.Warnings, "; "))}
			}
			if err := a.printer().Print(validation{Endpoint: ep.Name, Type: t.Name, Valid: verr == nil, Problems: ps}); err != nil {
				return err
			}
			return verr
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "treat what loading the manifest skipped (unknown scheme types) as errors")
	return cmd
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
				b, err := a.readBoundedFile("--configuration-file", confFile, maxEndpointFile)
				if err != nil {
					return err
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
