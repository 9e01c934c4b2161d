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
