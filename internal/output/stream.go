package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/patrol-dev/patrol/internal/errkind"
	"k8s.io/client-go/util/jsonpath"
)

// ListFormat says how the items of a list print: the table and wide
// columns, the -o name identifier and the JSON document of one item.
type ListFormat[T any] struct {
	Header []string
	Row    func(T) []string
	// WideHeader and WideRow are -o wide's; nil means wide prints the table.
	WideHeader []string
	WideRow    func(T) []string
	// Name is -o name's identifier; nil means the command has no -o name.
	Name func(T) string
	// Doc is the JSON document of an item (json, yaml, jsonpath); nil means
	// the item itself.
	Doc func(T) any
}

// ListWriter prints a list item by item, so that a listing of any length
// needs the memory of one page (docs/cli.md, "Long lists"). The output is the
// same as Printer.Print of the whole list would give:
//   - json: the indented array ([] when empty), written as items arrive;
//   - yaml: the block sequence ([] when empty);
//   - name: one identifier per line;
//   - table/wide: the columns are sized from the rows that arrived before
//     the first Flush (the first page); a later, wider cell widens its own
//     line only. A list of one page prints exactly as WriteTable;
//   - jsonpath: templates of the forms {range [*]}…{end} and {[*]…} or
//     {[?(…)]…} are evaluated page by page (their output is the same as over
//     the whole list); any other template needs the whole list and holds it.
//
// Nothing is written before the first item (or Close), so an error before
// the first page leaves the output empty. Call Flush at the end of each page
// and Close at the end.
type ListWriter[T any] struct {
	p    Printer
	f    ListFormat[T]
	n    int
	err  error
	open bool

	// table
	header []string
	row    func(T) []string
	widths []int // nil until the first Flush
	rows   [][]string

	// json: every item is rendered into jbuf by jenc (both reused, so an
	// item costs no buffers of its own)
	jbuf bytes.Buffer
	jenc *json.Encoder

	// jsonpath
	jpMode  jpMode
	docs    []any
	printed int // values printed so far ({[*]…} mode)
}

type jpMode int

const (
	jpWhole jpMode = iota // needs the whole list
	jpRange               // {range [*]}…{end}
	jpArray               // {[*]…}
)

// maxSizingRows bounds the rows a table holds to size its columns when
// Flush is not called.
const maxSizingRows = 1000

// NewListWriter starts a list in p's format. It fails (a usage error) when
// the format is -o name and f has no Name.
func NewListWriter[T any](p Printer, f ListFormat[T]) (*ListWriter[T], error) {
	w := &ListWriter[T]{p: p, f: f, header: f.Header, row: f.Row}
	switch p.Format {
	case Name:
		if f.Name == nil {
			return nil, errkind.New(errkind.Usage, fmt.Errorf("output format \"name\" (flag -o/--output) is not supported by this command: use table, wide, json, yaml or jsonpath"))
		}
	case Wide, CSV:
		if f.WideRow != nil {
			w.header, w.row = f.WideHeader, f.WideRow
		}
		if p.Format == CSV && w.row == nil {
			return nil, errkind.New(errkind.Usage, fmt.Errorf("output format \"csv\" (flag -o/--output) is not supported by this command: use table, wide, json, yaml or jsonpath"))
		}
	case JSONPath:
		mode, err := jsonPathMode(p.Template)
		if err != nil {
			return nil, errkind.New(errkind.Usage, fmt.Errorf("jsonpath template %q (flag -o/--output) does not parse: %v", p.Template, err))
		}
		w.jpMode = mode
	}
	if p.NoHeaders {
		w.header = nil
	}
	return w, nil
}

// Len is the number of items added so far.
func (w *ListWriter[T]) Len() int { return w.n }

func (w *ListWriter[T]) doc(v T) any {
	if w.f.Doc != nil {
		return w.f.Doc(v)
	}
	return v
}

// Add prints (or, for a table's first page, holds) one item.
func (w *ListWriter[T]) Add(v T) error {
	if w.err != nil {
		return w.err
	}
	w.n++
	w.err = w.add(v)
	return w.err
}

func (w *ListWriter[T]) add(v T) error {
	switch w.p.Format {
	case JSON:
		sep := ",\n  "
		if !w.open {
			sep = "[\n  "
		}
		b, err := w.indentedItem(sep, w.doc(v))
		if err != nil {
			return err
		}
		w.open = true
		_, err = w.p.Out.Write(b)
		return err
	case YAML:
		return WriteYAML(w.p.Out, []any{w.doc(v)})
	case Name:
		_, err := fmt.Fprintln(w.p.Out, w.f.Name(v))
		return err
	case CSV:
		t := TableData{Rows: [][]string{w.row(v)}}
		if !w.open {
			t.Header, w.open = w.header, true
		}
		return WriteCSV(w.p.Out, t)
	case JSONPath:
		d, err := genericDoc(w.doc(v))
		if err != nil {
			return err
		}
		w.docs = append(w.docs, d)
		return nil
	default:
		if w.row == nil {
			return WriteYAML(w.p.Out, []any{w.doc(v)}) // no table form: YAML, as Print
		}
		r := cells(w.row(v))
		if w.widths == nil {
			w.rows = append(w.rows, r)
			if len(w.rows) >= maxSizingRows {
				return w.sizeTable()
			}
			return nil
		}
		return w.writeRow(r)
	}
}

// Flush ends a page: a table sizes its columns (the first time) and prints
// the rows held; jsonpath evaluates the page.
func (w *ListWriter[T]) Flush() error {
	if w.err != nil {
		return w.err
	}
	w.err = w.flush(false)
	return w.err
}

func (w *ListWriter[T]) flush(final bool) error {
	switch w.p.Format {
	case JSON, YAML, Name:
		return nil
	case CSV:
		if final && !w.open && w.header != nil {
			w.open = true
			return WriteCSV(w.p.Out, TableData{Header: w.header})
		}
		return nil
	case JSONPath:
		return w.flushJSONPath(final)
	}
	if w.row == nil {
		return nil
	}
	if w.widths == nil {
		return w.sizeTable()
	}
	return nil
}

// Close ends the list. After an error it returns that error and writes
// nothing more (a JSON array then stays unterminated, which no parser takes
// for the whole list).
func (w *ListWriter[T]) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.err = w.flush(true); w.err != nil {
		return w.err
	}
	var err error
	switch w.p.Format {
	case JSON:
		if w.open {
			_, err = io.WriteString(w.p.Out, "\n]\n")
		} else {
			_, err = io.WriteString(w.p.Out, "[]\n")
		}
	case YAML:
		if w.n == 0 {
			_, err = io.WriteString(w.p.Out, "[]\n")
		}
	case Table, Wide:
		if w.row == nil && w.n == 0 {
			_, err = io.WriteString(w.p.Out, "[]\n")
		}
	}
	w.err = err
	return err
}

// sizeTable fixes the column widths from the header and the rows held, as
// text/tabwriter would (widest cell in runes + 2), and prints them.
func (w *ListWriter[T]) sizeTable() error {
	var all [][]string
	if len(w.header) > 0 {
		all = append(all, cells(w.header))
	}
	all = append(all, w.rows...)
	w.widths = []int{}
	for _, r := range all {
		for j := 0; j < len(r)-1; j++ { // the last cell is not aligned
			if j == len(w.widths) {
				w.widths = append(w.widths, 0)
			}
			w.widths[j] = max(w.widths[j], utf8.RuneCountInString(r[j])+2)
		}
	}
	for _, r := range all {
		if err := w.writeRow(r); err != nil {
			return err
		}
	}
	w.rows = nil
	return nil
}

func (w *ListWriter[T]) writeRow(r []string) error {
	var b strings.Builder
	for j, c := range r {
		b.WriteString(c)
		if j == len(r)-1 {
			break
		}
		width := 2
		if j < len(w.widths) {
			width = w.widths[j]
		}
		b.WriteString(strings.Repeat(" ", max(width-utf8.RuneCountInString(c), 2)))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w.p.Out, b.String())
	return err
}

func (w *ListWriter[T]) flushJSONPath(final bool) error {
	if w.jpMode == jpWhole && !final {
		return nil
	}
	if w.jpMode != jpWhole && len(w.docs) == 0 {
		return nil
	}
	page := w.docs
	if page == nil {
		page = []any{}
	}
	w.docs = nil
	j, err := newJSONPath(w.p.Template)
	if err != nil {
		return errkind.New(errkind.Usage, fmt.Errorf("jsonpath template %q (flag -o/--output) does not parse: %v", w.p.Template, err))
	}
	if w.jpMode != jpArray {
		if err := j.Execute(w.p.Out, page); err != nil {
			return errkind.New(errkind.Usage, fmt.Errorf("jsonpath template %q (flag -o/--output): %v", w.p.Template, err))
		}
		return nil
	}
	res, err := j.FindResults(page)
	if err != nil {
		return errkind.New(errkind.Usage, fmt.Errorf("jsonpath template %q (flag -o/--output): %v", w.p.Template, err))
	}
	for _, r := range res { // one node: one result set
		if len(r) == 0 {
			continue
		}
		if w.printed > 0 {
			if _, err := io.WriteString(w.p.Out, " "); err != nil {
				return err
			}
		}
		if err := j.PrintResults(w.p.Out, r); err != nil {
			return err
		}
		w.printed += len(r)
	}
	return nil
}

// jsonPathMode says whether tmpl can be evaluated page by page.
func jsonPathMode(tmpl string) (jpMode, error) {
	p, err := jsonpath.Parse("output", tmpl)
	if err != nil {
		return jpWhole, err
	}
	nodes := p.Root.Nodes
	if len(nodes) == 0 {
		return jpWhole, nil
	}
	first, ok := nodes[0].(*jsonpath.ListNode)
	if !ok || len(first.Nodes) == 0 {
		return jpWhole, nil
	}
	if len(nodes) == 1 && perElement(first.Nodes[0]) {
		return jpArray, nil
	}
	// {range [*]}…{end} and nothing after the matching end.
	if len(first.Nodes) < 2 || !isIdent(first.Nodes[0], "range") || !perElement(first.Nodes[1]) {
		return jpWhole, nil
	}
	depth := 0
	for i, n := range nodes {
		l, ok := n.(*jsonpath.ListNode)
		if !ok || len(l.Nodes) == 0 {
			continue
		}
		switch {
		case isIdent(l.Nodes[0], "range"):
			depth++
		case isIdent(l.Nodes[0], "end"):
			depth--
			if depth == 0 {
				if i == len(nodes)-1 {
					return jpRange, nil
				}
				return jpWhole, nil
			}
		}
	}
	return jpWhole, nil
}

func isIdent(n jsonpath.Node, name string) bool {
	id, ok := n.(*jsonpath.IdentifierNode)
	return ok && id.Name == name
}

// perElement reports whether n selects from each element of the list on its
// own: [*] (or [:]) and filters; an index or a slice depends on the whole list.
func perElement(n jsonpath.Node) bool {
	switch n := n.(type) {
	case *jsonpath.FilterNode:
		return true
	case *jsonpath.ArrayNode:
		return !n.Params[0].Known && !n.Params[1].Known && (!n.Params[2].Known || n.Params[2].Value == 1)
	}
	return false
}

// indentedItem renders sep and v as an element of an indented JSON array
// (WriteJSON's layout), without the trailing newline, into w's reused buffer:
// the result is valid until the next call.
func (w *ListWriter[T]) indentedItem(sep string, v any) ([]byte, error) {
	if w.jenc == nil {
		w.jenc = json.NewEncoder(&w.jbuf)
		w.jenc.SetIndent("  ", "  ")
		w.jenc.SetEscapeHTML(false)
	}
	w.jbuf.Reset()
	w.jbuf.WriteString(sep)
	if err := w.jenc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(w.jbuf.Bytes(), []byte("\n")), nil
}

// genericDoc is v's JSON document as maps, slices and scalars, which
// jsonpath walks as it walks WriteJSONPath's document.
func genericDoc(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var d any
	err = json.Unmarshal(b, &d)
	return d, err
}
