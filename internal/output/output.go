// Package output renders command results for humans and machines and builds
// patrol's loggers.
//
// Formats (-o / --output):
//   - table: aligned columns with a header line, for humans. Default when
//     stdout is a terminal.
//   - json: indented JSON whose keys are the Azure DevOps wire names
//     (authorizationId, displayName, validTo, …). Default when stdout is not a
//     terminal, so scripts get a stable format without asking.
//   - yaml: the same document as json, rendered as YAML (same keys).
//
// Lists are printed as JSON arrays (never null); single objects as objects.
// The logger's ReplaceAttr redacts attributes whose key names a secret
// (token, password, secret, authorization, …) as defence in depth.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/patrol-dev/patrol/internal/errkind"
	"golang.org/x/term"
	"sigs.k8s.io/yaml"
)

// Format is an output format.
type Format string

const (
	Auto  Format = ""
	Table Format = "table"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

// Formats lists the valid -o values.
var Formats = []Format{Table, JSON, YAML}

// ParseFormat parses an -o value; "" yields Auto.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case Auto, Table, JSON, YAML:
		return f, nil
	}
	return "", errkind.New(errkind.Usage, fmt.Errorf("output format %q (flag -o/--output) is not valid: use one of table, json, yaml", s))
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// Resolve turns Auto into Table for a terminal and JSON otherwise.
func (f Format) Resolve(w io.Writer) Format {
	if f != Auto {
		return f
	}
	if IsTerminal(w) {
		return Table
	}
	return JSON
}

// TableData is a human table: a header row and data rows.
type TableData struct {
	Header []string
	Rows   [][]string
}

// Tabler is implemented by values that have a human table form.
type Tabler interface {
	Table() TableData
}

// Printer writes results in one format.
type Printer struct {
	Format Format // resolved: Table, JSON or YAML
	Out    io.Writer
}

// NewPrinter resolves f against out.
func NewPrinter(f Format, out io.Writer) Printer {
	return Printer{Format: f.Resolve(out), Out: out}
}

// Print writes v. For Table, v must implement Tabler (otherwise it is
// printed as YAML, which reads well enough for humans).
func (p Printer) Print(v any) error {
	switch p.Format {
	case JSON:
		return WriteJSON(p.Out, v)
	case YAML:
		return WriteYAML(p.Out, v)
	default:
		if t, ok := v.(Tabler); ok {
			return WriteTable(p.Out, t.Table())
		}
		return WriteYAML(p.Out, v)
	}
}

// Machine reports whether the printer writes a machine format.
func (p Printer) Machine() bool { return p.Format == JSON || p.Format == YAML }

// WriteJSON writes v as indented JSON followed by a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// WriteYAML writes v as YAML with the keys of its JSON form.
func WriteYAML(w io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// WriteTable writes t as aligned columns. Cells are sanitised so that a
// value cannot break the layout (tabs/newlines become spaces); empty cells
// print as "-".
func WriteTable(w io.Writer, t TableData) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(t.Header) > 0 {
		fmt.Fprintln(tw, strings.Join(cells(t.Header), "\t"))
	}
	for _, r := range t.Rows {
		fmt.Fprintln(tw, strings.Join(cells(r), "\t"))
	}
	return tw.Flush()
}

var cellReplacer = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")

func cells(in []string) []string {
	out := make([]string, len(in))
	for i, c := range in {
		c = cellReplacer.Replace(c)
		if c == "" {
			c = "-"
		}
		out[i] = c
	}
	return out
}

// Mask shows the first four characters of a secret followed by "****"; for
// secrets of eight characters or fewer it shows only "****" so that at least
// half stays hidden.
func Mask(secret string) string {
	if len(secret) <= 8 {
		return "****"
	}
	return secret[:4] + "****"
}
