package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/output"
	"github.com/patrol-dev/patrol/internal/scheme"
)

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

var endpointHeader = []string{"ID", "NAME", "TYPE", "SCHEME", "READY", "URL"}

func endpointRow(e api.ServiceEndpoint) []string {
	s := ""
	if e.Authorization != nil {
		s = e.Authorization.Scheme
	}
	return []string{e.ID, e.Name, e.Type, s, fmt.Sprint(e.IsReady), e.URL}
}

func (l endpointList) Table() output.TableData {
	t := output.TableData{Header: endpointHeader}
	for _, e := range l {
		t.Rows = append(t.Rows, endpointRow(e))
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
			// The API answers in one response; it is printed as the list
			// writer prints pat list's pages, item by item.
			w, err := output.NewListWriter(a.printer(), output.ListFormat[api.ServiceEndpoint]{Header: endpointHeader, Row: endpointRow})
			if err != nil {
				return err
			}
			for _, e := range eps {
				if err := w.Add(redactRemote(e)); err != nil {
					return err
				}
			}
			return w.Close()
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
		b, err := a.readBoundedFile("--secret-file", file, maxSecretInput)
		if err != nil {
			return "", err
		}
		v = string(b)
	default:
		b, err := readBounded(a.stdin, "the secret on", "stdin", maxSecretInput)
		if err != nil {
			return "", err
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
