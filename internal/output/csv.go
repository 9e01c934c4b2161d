package output

import (
	"encoding/csv"
	"io"
	"strings"
)

// WriteCSV writes t as RFC 4180 CSV (the wide columns when the value has
// them: a spreadsheet wants every column). A cell that a spreadsheet would
// run as a formula (starting with =, +, -, @, tab or carriage return) gets a
// leading apostrophe, so a PAT's display name cannot inject one (OWASP CSV
// injection).
func WriteCSV(w io.Writer, t TableData) error {
	cw := csv.NewWriter(w)
	if t.Header != nil {
		if err := cw.Write(t.Header); err != nil {
			return err
		}
	}
	for _, row := range t.Rows {
		out := make([]string, len(row))
		for i, c := range row {
			out[i] = csvCell(c)
		}
		if err := cw.Write(out); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvCell(c string) string {
	if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
		return "'" + c
	}
	return c
}
