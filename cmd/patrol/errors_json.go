package main

import (
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/redact"
)

// jsonError is the failure document printed on stderr when a command run
// with -o json or -o yaml fails (docs/cli.md, "Errors and exit codes"):
// one line, {"error":{…}}, the last line of stderr. JSON is also YAML, so
// -o yaml prints the same line. Kind, exit code and hint are those of the
// two-line text form; message is the whole (redacted) error, never the
// summary or a cut.
type jsonError struct {
	Error jsonErrorBody `json:"error"`
}

type jsonErrorBody struct {
	// Kind is errkind's name: usage, auth, permission, policy, not-found,
	// transient, conflict, partial, error (unknown) or interrupted.
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// Field names the flag, variable or patrol.yaml field at fault, when
	// the error knows it (the first problem's path for patrol.yaml).
	Field string `json:"field,omitempty"`
	// Problems are every problem of patrol.yaml (path, line, message).
	Problems []jsonProblem `json:"problems,omitempty"`
	Hint     string        `json:"hint"`
	ExitCode int           `json:"exitCode"`
}

type jsonProblem struct {
	Path    string `json:"path,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// writeJSONError prints the failure document of err (see jsonError).
func writeJSONError(w io.Writer, kind, msg, hint string, code int, err error) {
	body := jsonErrorBody{Kind: kind, Message: msg, Hint: hint, ExitCode: code}
	var fe *config.FileError
	var ce *config.ConfigError
	var de *devops.ConfigError
	switch {
	case errors.As(err, &fe):
		for _, p := range fe.Problems {
			body.Problems = append(body.Problems, jsonProblem{Path: p.Path, Line: p.Line, Message: redact.String(p.Msg)})
			if body.Field == "" {
				body.Field = p.Path
			}
		}
	case errors.As(err, &ce):
		body.Field = ce.Source
	case errors.As(err, &de):
		body.Field = de.Field
	}
	b, jerr := json.Marshal(jsonError{body})
	if jerr != nil { // cannot happen: strings and ints only
		b = []byte(`{"error":{"kind":"error","message":"` + strings.ReplaceAll(jerr.Error(), `"`, `'`) + `","exitCode":1}}`)
	}
	_, _ = w.Write(append(b, '\n'))
}
