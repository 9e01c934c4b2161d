package scheme

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// UnknownSchemeError: a scheme name or contribution id outside the closed set.
type UnknownSchemeError struct {
	Ref   string
	Known []string
}

func (e *UnknownSchemeError) Error() string {
	return fmt.Sprintf("authentication scheme %q is not one patrol (or Azure DevOps) knows; use one of: %s",
		e.Ref, strings.Join(e.Known, ", "))
}

// Kind implements errkind.Kinder.
func (e *UnknownSchemeError) Kind() errkind.Kind { return errkind.Usage }

// SchemeNotDeclaredError: the endpoint uses a scheme its type does not declare.
// The message reproduces Azure DevOps' text, then says what the type accepts.
type SchemeNotDeclaredError struct {
	Type     string
	Scheme   string
	Declared []string
}

func (e *SchemeNotDeclaredError) Error() string {
	return fmt.Sprintf("Authentication scheme couldn't be recognized '%s'\r\nParameter name: endpoint.Authorization.Scheme "+
		"(endpoint type %q declares only %s; set authorization.scheme to one of them)",
		e.Scheme, e.Type, strings.Join(e.Declared, ", "))
}

// Kind implements errkind.Kinder.
func (e *SchemeNotDeclaredError) Kind() errkind.Kind { return errkind.Usage }

// ManifestError: a manifest (or types list) could not be read.
type ManifestError struct {
	Source string // file name or "types list"
	Where  string // e.g. contribution id / type name
	Err    error
}

func (e *ManifestError) Error() string {
	w := e.Source
	if e.Where != "" {
		w += ": " + e.Where
	}
	return fmt.Sprintf("manifest %s: %v", w, e.Err)
}

func (e *ManifestError) Unwrap() error { return e.Err }

// Kind implements errkind.Kinder.
func (e *ManifestError) Kind() errkind.Kind { return errkind.Usage }

// Problem is one validation finding.
type Problem struct {
	// Field is "data.<id>", "authorization.parameters.<id>", "url", "type" or "authorization.scheme".
	Field string `json:"field"`
	// Input is the descriptor's label, "Display name (id)", when the problem concerns an input.
	Input   string `json:"input,omitempty"`
	Message string `json:"message"`
	Warning bool   `json:"warning,omitempty"`
}

func (p Problem) String() string {
	if p.Input != "" {
		return p.Input + ": " + p.Message
	}
	return p.Field + ": " + p.Message
}

// ValidationError lists every error-level problem of an endpoint. Confidential
// values never appear in it.
type ValidationError struct {
	Endpoint string
	Problems []Problem
}

func (e *ValidationError) Error() string {
	msgs := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		if !p.Warning {
			msgs = append(msgs, p.String())
		}
	}
	name := e.Endpoint
	if name == "" {
		name = "endpoint"
	} else {
		name = fmt.Sprintf("endpoint %q", name)
	}
	return fmt.Sprintf("%s is invalid: %s", name, strings.Join(msgs, "; "))
}

// Kind implements errkind.Kinder.
func (e *ValidationError) Kind() errkind.Kind { return errkind.Usage }

// AuthError: obtaining or applying credentials failed (token server said no,
// key unusable, …). Kind is Auth unless the cause is transient.
type AuthError struct {
	Scheme string
	Step   string // "jwt token request", "two-hop token", "client certificate", …
	Err    error
	kind   errkind.Kind
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s scheme: %s: %v", e.Scheme, e.Step, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// Kind implements errkind.Kinder.
func (e *AuthError) Kind() errkind.Kind {
	if e.kind != 0 {
		return e.kind
	}
	var k errkind.Kinder
	if errors.As(e.Err, &k) {
		return k.Kind()
	}
	return errkind.Auth
}

func authErr(scheme, step string, kind errkind.Kind, format string, a ...any) *AuthError {
	return &AuthError{Scheme: scheme, Step: step, Err: fmt.Errorf(format, a...), kind: kind}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// AzureDevOpsSchemeContributions is the closed set of scheme contribution
// ids an endpoint type may reference in Azure DevOps (observed in Azure
// DevOps Server 2022). patrol implements the built-in ones (Schemes); the
// rest (azure-cert, azure-storage, publishprofile, jiraconnectapp,
// installationtoken) are known to the service but not usable locally.
var AzureDevOpsSchemeContributions = []string{
	"ms.vss-endpoint.endpoint-auth-scheme-basic", "ms.vss-endpoint.endpoint-auth-scheme-token",
	"ms.vss-endpoint.endpoint-auth-scheme-cert", "ms.vss-endpoint.endpoint-auth-scheme-none",
	"ms.vss-endpoint.endpoint-auth-scheme-JWT", "ms.vss-endpoint.endpoint-auth-scheme-oauth2",
	"ms.vss-endpoint.endpoint-auth-scheme-azure-cert", "ms.vss-endpoint.endpoint-auth-scheme-azure-storage",
	"ms.vss-endpoint.endpoint-auth-scheme-service-principal", "ms.vss-endpoint.endpoint-auth-scheme-workload-identity-federation",
	"ms.vss-endpoint.endpoint-auth-scheme-managed-service-identity", "ms.vss-endpoint.endpoint-auth-scheme-publishprofile",
	"ms.vss-endpoint.endpoint-auth-scheme-kubernetes", "ms.vss-endpoint.endpoint-auth-scheme-jiraconnectapp",
	"ms.vss-endpoint.endpoint-auth-scheme-installationtoken",
}

// KnownToAzureDevOps reports whether ref is one of AzureDevOpsSchemeContributions
// (compared case-insensitively: docs write endpoint-auth-scheme-JWT).
func KnownToAzureDevOps(ref string) bool {
	for _, id := range AzureDevOpsSchemeContributions {
		if strings.EqualFold(strings.TrimSpace(ref), id) {
			return true
		}
	}
	return false
}

func unknownSchemeWarning(i int, ref string) string {
	if KnownToAzureDevOps(ref) {
		return fmt.Sprintf("authenticationSchemes[%d]: scheme type %q is known to Azure DevOps but patrol cannot authorize it locally; skipped (patrol supports: %s)",
			i, ref, strings.Join(builtinIDs(), ", "))
	}
	return fmt.Sprintf("authenticationSchemes[%d]: scheme type %q is not in the closed set of scheme contributions, so Azure DevOps skips it and so does patrol; use one of: %s",
		i, ref, strings.Join(AzureDevOpsSchemeContributions, ", "))
}

func builtinIDs() []string {
	list, _ := builtins()
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, s.ID)
	}
	return out
}
