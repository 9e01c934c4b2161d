// Package output renders command results for humans and machines and builds
// patrol's loggers.
//
// Formats (-o / --output), as kubectl's:
//   - table: aligned columns with a header line, for humans. The default,
//     whether or not stdout is a terminal (a pipe does not change the format).
//   - wide: the table with extra columns where a command has them.
//   - json: indented JSON whose keys are the Azure DevOps wire names
//     (authorizationId, displayName, validTo, …).
//   - yaml: the same document as json, rendered as YAML (same keys).
//   - name: one identifier per line (a PAT's authorization ID, a scope name…).
//   - jsonpath=TEMPLATE: client-go's jsonpath over the json document, as
//     kubectl -o jsonpath (missing keys print nothing, no trailing newline).
//
// --no-headers drops the header line of table and wide.
// Lists are printed as JSON arrays (never null); single objects as objects.
// The logger's ReplaceAttr redacts attributes whose key names a secret
// (token, password, secret, authorization, …) as defence in depth.
package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/patrol-dev/patrol/internal/errkind"
	"golang.org/x/term"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"
)

// Format is an output format.
type Format string

const (
	Auto     Format = ""
	Table    Format = "table"
	Wide     Format = "wide"
	JSON     Format = "json"
	YAML     Format = "yaml"
	Name     Format = "name"
	JSONPath Format = "jsonpath"
	CSV      Format = "csv"
)

// Formats lists the valid -o values (jsonpath takes =TEMPLATE).
var Formats = []Format{Table, Wide, JSON, YAML, Name, JSONPath, CSV}

// Spec is a parsed -o value: the format and, for jsonpath, its template.
type Spec struct {
	Format   Format
	Template string
}

// ParseFormat parses an -o value; "" yields Auto. A jsonpath template is
// checked here; use Parse to keep it.
func ParseFormat(s string) (Format, error) {
	sp, err := Parse(s)
	return sp.Format, err
}

// Parse parses an -o value: table, wide, json, yaml, name or
// jsonpath=TEMPLATE (also jsonpath='{…}'); "" yields Auto.
func Parse(s string) (Spec, error) {
	t := strings.TrimSpace(s)
	if k, tmpl, ok := strings.Cut(t, "="); ok && strings.EqualFold(k, string(JSONPath)) {
		if strings.TrimSpace(tmpl) == "" {
			return Spec{}, errkind.New(errkind.Usage, fmt.Errorf("output format %q (flag -o/--output) has an empty template: use e.g. -o jsonpath='{[*].authorizationId}'", s))
		}
		if _, err := newJSONPath(tmpl); err != nil {
			return Spec{}, errkind.New(errkind.Usage, fmt.Errorf("output format %q (flag -o/--output): the jsonpath template does not parse: %v; see https://kubernetes.io/docs/reference/kubectl/jsonpath/", s, err))
		}
		return Spec{Format: JSONPath, Template: tmpl}, nil
	}
	switch f := Format(strings.ToLower(t)); f {
	case Auto, Table, Wide, JSON, YAML, Name, CSV:
		return Spec{Format: f}, nil
	case JSONPath:
		return Spec{}, errkind.New(errkind.Usage, fmt.Errorf("output format %q (flag -o/--output) needs a template: use -o jsonpath='{…}'", s))
	}
	return Spec{}, errkind.New(errkind.Usage, fmt.Errorf("output format %q (flag -o/--output) is not valid: use one of table, wide, json, yaml, name, csv, jsonpath=TEMPLATE", s))
}

func newJSONPath(tmpl string) (*jsonpath.JSONPath, error) {
	j := jsonpath.New("output")
	j.AllowMissingKeys(true) // kubectl's --allow-missing-template-keys default
	return j, j.Parse(tmpl)
}

// IsTerminal reports whether w is a terminal. A writer may say so itself
// with an IsTerminal() bool method (tests' fake terminals).
func IsTerminal(w io.Writer) bool {
	if t, ok := w.(interface{ IsTerminal() bool }); ok {
		return t.IsTerminal()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// Resolve turns Auto into Table: the default does not depend on whether
// stdout is a terminal, so `X=$(patrol …)` gets what the terminal shows.
func (f Format) Resolve(io.Writer) Format {
	if f == Auto {
		return Table
	}
	return f
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

// WideTabler is implemented by values whose -o wide table has more columns
// than their table; others print their table for -o wide.
type WideTabler interface {
	WideTable() TableData
}

// Namer is implemented by values that support -o name: one identifier per
// line.
type Namer interface {
	Names() []string
}

// Printer writes results in one format.
type Printer struct {
	Format    Format // resolved: never Auto
	Template  string // JSONPath only
	NoHeaders bool   // table and wide: no header line
	Out       io.Writer
}

// NewPrinter resolves f against out.
func NewPrinter(f Format, out io.Writer) Printer {
	return Printer{Format: f.Resolve(out), Out: out}
}

// New builds the printer of a parsed -o value.
func New(sp Spec, out io.Writer, noHeaders bool) Printer {
	return Printer{Format: sp.Format.Resolve(out), Template: sp.Template, NoHeaders: noHeaders, Out: out}
}

// Print writes v. For Table, v must implement Tabler (otherwise it is
// printed as YAML, which reads well enough for humans).
func (p Printer) Print(v any) error {
	switch p.Format {
	case JSON:
		return WriteJSON(p.Out, v)
	case YAML:
		return WriteYAML(p.Out, v)
	case JSONPath:
		return WriteJSONPath(p.Out, p.Template, v)
	case Name:
		n, ok := v.(Namer)
		if !ok {
			return errkind.New(errkind.Usage, fmt.Errorf("output format \"name\" (flag -o/--output) is not supported by this command: use table, wide, json, yaml or jsonpath"))
		}
		for _, s := range n.Names() {
			if _, err := fmt.Fprintln(p.Out, s); err != nil {
				return err
			}
		}
		return nil
	case CSV:
		var t TableData
		switch tv := v.(type) {
		case WideTabler:
			t = tv.WideTable()
		case Tabler:
			t = tv.Table()
		default:
			return errkind.New(errkind.Usage, fmt.Errorf("output format \"csv\" (flag -o/--output) is not supported by this command: use table, wide, json, yaml or jsonpath"))
		}
		if p.NoHeaders {
			t.Header = nil
		}
		return WriteCSV(p.Out, t)
	case Wide:
		if t, ok := v.(WideTabler); ok {
			return p.table(t.WideTable())
		}
		fallthrough
	default:
		if t, ok := v.(Tabler); ok {
			return p.table(t.Table())
		}
		return WriteYAML(p.Out, v)
	}
}

func (p Printer) table(t TableData) error {
	if p.NoHeaders {
		t.Header = nil
	}
	return WriteTable(p.Out, t)
}

// Machine reports whether the printer writes a machine format (anything
// but table and wide), in which notes never go to stdout.
func (p Printer) Machine() bool { return p.Format != Table && p.Format != Wide }

// WriteJSONPath evaluates tmpl (kubectl's jsonpath dialect, client-go's
// implementation) over v's JSON document and writes the result.
func WriteJSONPath(w io.Writer, tmpl string, v any) error {
	var b bytes.Buffer
	if err := WriteJSON(&b, v); err != nil {
		return err
	}
	var doc any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		return err
	}
	j, err := newJSONPath(tmpl)
	if err != nil {
		return errkind.New(errkind.Usage, fmt.Errorf("jsonpath template %q (flag -o/--output) does not parse: %v", tmpl, err))
	}
	if err := j.Execute(w, doc); err != nil {
		return errkind.New(errkind.Usage, fmt.Errorf("jsonpath template %q (flag -o/--output): %v", tmpl, err))
	}
	return nil
}

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
// value cannot break the layout (tabs, newlines, vertical tabs and form feeds,
// which text/tabwriter reads as cell and line ends, become spaces); empty cells
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

var cellReplacer = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ", "\v", " ", "\f", " ")

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
