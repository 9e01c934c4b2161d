package main

import (
	"github.com/patrol-dev/patrol/internal/output"
)

// -o wide of rotate and status: ORGANIZATION and IDENTITY after CREDENTIAL,
// for runs that serve several organisations or technical users.

// accountColumns inserts ORGANIZATION and IDENTITY after the first column;
// acct(i) gives row i's values (ok false: a continuation row, left blank).
func accountColumns(td output.TableData, acct func(i int) (org, identity string, ok bool)) output.TableData {
	ins := func(row []string, a, b string) []string {
		out := make([]string, 0, len(row)+2)
		out = append(out, row[0], a, b)
		return append(out, row[1:]...)
	}
	td.Header = ins(td.Header, "ORGANIZATION", "IDENTITY")
	for i, row := range td.Rows {
		org, id, ok := acct(i)
		if !ok {
			td.Rows[i] = ins(row, "", "")
			continue
		}
		if id == "" {
			id = "default"
		}
		td.Rows[i] = ins(row, org, id)
	}
	return td
}

// WideTable adds the account columns.
func (t planTable) WideTable() output.TableData {
	return accountColumns(t.Table(), func(i int) (string, string, bool) {
		return t.p.Items[i].Organization, t.p.Items[i].Identity, true
	})
}

// WideTable adds the account columns.
func (t resultTable) WideTable() output.TableData {
	return accountColumns(t.Table(), func(i int) (string, string, bool) {
		return t.r.Results[i].Organization, t.r.Results[i].Identity, true
	})
}

// WideTable adds the account columns on each credential's first row.
func (s Status) WideTable() output.TableData {
	type acct struct{ org, id string }
	var rows []*acct
	for _, c := range s.Credentials {
		for i := range c.Sinks {
			if i == 0 {
				rows = append(rows, &acct{c.Organization, c.Identity})
			} else {
				rows = append(rows, nil)
			}
		}
	}
	return accountColumns(s.Table(), func(i int) (string, string, bool) {
		if i >= len(rows) || rows[i] == nil {
			return "", "", false
		}
		return rows[i].org, rows[i].id, true
	})
}
