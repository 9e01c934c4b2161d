package main

import (
	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/output"
)

// -o wide of rotate and status: ORGANIZATION and IDENTITY after CREDENTIAL,
// for runs that serve several organisations or technical users, and
// APPLICATION after them when an entra-app-secret credential is shown (the
// Entra application whose secret it rotates).

// account is what the wide columns show of one row.
type account struct {
	org, identity string
	app           config.Application
}

// appName is the application as configured: its appId or objectId.
func appName(a config.Application) string {
	if a.ObjectID != "" {
		return a.ObjectID
	}
	return a.AppID
}

// accountColumns inserts ORGANIZATION, IDENTITY (and APPLICATION when a row
// has one) after the first column; acct(i) gives row i's values (nil: a
// continuation row, left blank).
func accountColumns(td output.TableData, acct func(i int) *account) output.TableData {
	withApp := false
	for i := range td.Rows {
		if a := acct(i); a != nil && appName(a.app) != "" {
			withApp = true
		}
	}
	ins := func(row []string, vals ...string) []string {
		if !withApp {
			vals = vals[:2]
		}
		out := make([]string, 0, len(row)+len(vals))
		out = append(out, row[0])
		out = append(out, vals...)
		return append(out, row[1:]...)
	}
	td.Header = ins(td.Header, "ORGANIZATION", "IDENTITY", "APPLICATION")
	for i, row := range td.Rows {
		a := acct(i)
		if a == nil {
			td.Rows[i] = ins(row, "", "", "")
			continue
		}
		id := a.identity
		if id == "" {
			id = "default"
		}
		td.Rows[i] = ins(row, a.org, id, appName(a.app))
	}
	return td
}

// WideTable adds the account columns.
func (t planTable) WideTable() output.TableData {
	return accountColumns(t.Table(), func(i int) *account {
		it := t.p.Items[i]
		return &account{it.Organization, it.Identity, it.Application}
	})
}

// WideTable adds the account columns.
func (t resultTable) WideTable() output.TableData {
	return accountColumns(t.Table(), func(i int) *account {
		r := t.r.Results[i]
		return &account{r.Organization, r.Identity, r.Application}
	})
}

// WideTable adds the account columns on each credential's first row.
func (s Status) WideTable() output.TableData {
	var rows []*account
	for _, c := range s.Credentials {
		for i := range c.Sinks {
			if i == 0 {
				rows = append(rows, &account{c.Organization, c.Identity, c.Application})
			} else {
				rows = append(rows, nil)
			}
		}
	}
	return accountColumns(s.Table(), func(i int) *account {
		if i >= len(rows) {
			return nil
		}
		return rows[i]
	})
}
