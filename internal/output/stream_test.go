package output

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

type row struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Tags  []string `json:"tags"`
	Score int      `json:"score,omitempty"`
}

type rows []row

var rowHeader = []string{"ID", "NAME", "TAGS"}

func rowCells(r row) []string { return []string{r.ID, r.Name, strings.Join(r.Tags, ",")} }

func (l rows) Table() TableData {
	t := TableData{Header: rowHeader}
	for _, r := range l {
		t.Rows = append(t.Rows, rowCells(r))
	}
	return t
}

func (l rows) WideTable() TableData {
	t := TableData{Header: append(append([]string{}, rowHeader...), "SCORE")}
	for _, r := range l {
		t.Rows = append(t.Rows, append(rowCells(r), fmt.Sprint(r.Score)))
	}
	return t
}

func (l rows) Names() []string {
	var n []string
	for _, r := range l {
		n = append(n, r.ID)
	}
	return n
}

var rowFormat = ListFormat[row]{
	Header: rowHeader, Row: rowCells,
	WideHeader: append(append([]string{}, rowHeader...), "SCORE"),
	WideRow:    func(r row) []string { return append(rowCells(r), fmt.Sprint(r.Score)) },
	Name:       func(r row) string { return r.ID },
}

// randomRows makes names with what breaks layouts and encoders: wide runes,
// HTML characters, quotes, YAML indicators, control characters, empties.
func randomRows(rng *rand.Rand, n int) rows {
	parts := []string{"a", "pat-", "é", "日本", "<b>&", `"q"`, "- x", ": y", "#", "\t", "\n", "\v", "\f", "", " ", "null", "123", "yes", "\u2028"}
	out := rows{}
	for i := range n {
		var name strings.Builder
		for range rng.IntN(6) {
			name.WriteString(parts[rng.IntN(len(parts))])
		}
		var tags []string
		for range rng.IntN(3) {
			tags = append(tags, parts[rng.IntN(len(parts))])
		}
		out = append(out, row{ID: fmt.Sprintf("id-%d", i*rng.IntN(1000)), Name: name.String(), Tags: tags, Score: rng.IntN(3)})
	}
	return out
}

func whole(t *testing.T, p Printer, v rows) string {
	t.Helper()
	var b bytes.Buffer
	p.Out = &b
	if err := p.Print(v); err != nil {
		t.Fatalf("Print: %v", err)
	}
	return b.String()
}

func streamed(t *testing.T, p Printer, v rows, page int) string {
	t.Helper()
	var b bytes.Buffer
	p.Out = &b
	w, err := NewListWriter(p, rowFormat)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range v {
		if err := w.Add(r); err != nil {
			t.Fatal(err)
		}
		if (i+1)%page == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Len() != len(v) {
		t.Fatalf("Len %d, want %d", w.Len(), len(v))
	}
	return b.String()
}

// The streamed list prints exactly what Print of the whole list prints, in
// every format, whatever the page size (a table: when the first page holds
// the widest cells, as a one-page list always does).
func TestListWriterMatchesPrint(t *testing.T) {
	printers := []Printer{
		{Format: JSON}, {Format: YAML}, {Format: Name}, {Format: Table}, {Format: Wide}, {Format: CSV}, {Format: CSV, NoHeaders: true},
		{Format: Table, NoHeaders: true}, {Format: Wide, NoHeaders: true},
		{Format: JSONPath, Template: "{[*].id}"},
		{Format: JSONPath, Template: "{[*].tags}"},
		{Format: JSONPath, Template: "{[*].tags[*]}"},
		{Format: JSONPath, Template: "{[*].score}"},
		{Format: JSONPath, Template: `{[?(@.id=="id-0")].name}`},
		{Format: JSONPath, Template: `{range [*]}{.id}{"\t"}{.name}{"\n"}{end}`},
		{Format: JSONPath, Template: `{range [*]}{.id}:{range .tags[*]}[{@}]{end}{"\n"}{end}`},
		{Format: JSONPath, Template: "{[0].id}"},
		{Format: JSONPath, Template: "{[-1:].id}"},
		{Format: JSONPath, Template: "{.}"},
		{Format: JSONPath, Template: "ids: {[*].id} end"},
		{Format: JSONPath, Template: `{range [*]}{.id}{end} after`},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 7, 50, 301} {
		v := randomRows(rng, n)
		for _, p := range printers {
			if p.Format == JSONPath && n == 0 && (strings.Contains(p.Template, "[0]") || strings.Contains(p.Template, "[-1:]")) {
				continue // an index out of bounds is an error either way
			}
			want := whole(t, p, v)
			for _, page := range []int{1, 3, 100, 1000} {
				if p.Format == Table || p.Format == Wide {
					page = max(page, n) // widths come from the first page
				}
				if got := streamed(t, p, v, page); got != want {
					t.Fatalf("%s %q, %d items, pages of %d:\n got %q\nwant %q", p.Format, p.Template, n, page, got, want)
				}
			}
		}
	}
}

// A table sizes its columns from the first page; a wider cell later moves
// only its own line, by at least two spaces.
func TestListWriterTableSizesFromFirstPage(t *testing.T) {
	var b bytes.Buffer
	w, err := NewListWriter(Printer{Format: Table, Out: &b}, rowFormat)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []row{{ID: "1", Name: "short"}, {ID: "2", Name: "tiny"}} {
		_ = w.Add(r)
	}
	_ = w.Flush()
	_ = w.Add(row{ID: "3", Name: "a much longer name", Tags: []string{"t"}})
	_ = w.Add(row{ID: "4", Name: "x", Tags: []string{"u"}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := "ID  NAME   TAGS\n" +
		"1   short  -\n" +
		"2   tiny   -\n" +
		"3   a much longer name  t\n" +
		"4   x      u\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// Nothing is written before the first item, so a listing that fails on its
// first page prints nothing on stdout; -o name without a Name is refused
// before any request.
func TestListWriterLazyAndNameRefused(t *testing.T) {
	for _, f := range []Format{JSON, YAML, Table, Name} {
		var b bytes.Buffer
		if _, err := NewListWriter(Printer{Format: f, Out: &b}, rowFormat); err != nil || b.Len() != 0 {
			t.Errorf("%s: wrote %q before any item (err %v)", f, b.String(), err)
		}
	}
	if _, err := NewListWriter(Printer{Format: Name}, ListFormat[row]{Row: rowCells}); err == nil || !strings.Contains(err.Error(), "-o/--output") {
		t.Errorf("-o name without Name: %v", err)
	}
	if _, err := NewListWriter(Printer{Format: JSONPath, Template: "{.unclosed"}, rowFormat); err == nil {
		t.Error("a bad template was accepted")
	}
}

// Items with no table form print as YAML for table, as Print does.
func TestListWriterNoTableIsYAML(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 5} {
		v := randomRows(rng, n)
		var want, got bytes.Buffer
		if err := WriteYAML(&want, []row(v)); err != nil {
			t.Fatal(err)
		}
		w, _ := NewListWriter(Printer{Format: Table, Out: &got}, ListFormat[row]{})
		for _, r := range v {
			_ = w.Add(r)
		}
		if err := w.Close(); err != nil || got.String() != want.String() {
			t.Fatalf("%d items: got %q want %q (%v)", n, got.String(), want.String(), err)
		}
	}
}
