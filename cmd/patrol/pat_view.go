package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/output"
)

// PATView is how a PAT is printed: the wire names of api.PatToken. Token is
// present only in `pat create` output (the one time the secret exists).
type PATView struct {
	AuthorizationID string    `json:"authorizationId"`
	DisplayName     string    `json:"displayName"`
	Scope           string    `json:"scope"`
	TargetAccounts  []string  `json:"targetAccounts"` // null = global PAT
	ValidFrom       time.Time `json:"validFrom"`
	ValidTo         time.Time `json:"validTo"`
	Token           string    `json:"token,omitempty"`
	// Status is active, expired, revoked or global-retired (patStatus).
	Status string `json:"status"`
	// Global marks a global PAT (targetAccounts null); Retired says global
	// PATs no longer work (from 2026-12-01): replace it with an
	// organisation-scoped PAT and revoke it.
	Global  bool `json:"global,omitempty"`
	Retired bool `json:"retired,omitempty"`
	// Clamped (update/create): the lifespan policy shortened validTo;
	// RequestedValidTo is what was asked for.
	Clamped          bool       `json:"clamped,omitempty"`
	RequestedValidTo *time.Time `json:"requestedValidTo,omitempty"`
}

// PAT statuses (the STATUS column and the status field). A PAT that is
// several at once shows the first that applies: revoked, expired,
// global-retired, active.
const (
	statusActive        = "active"
	statusExpired       = "expired"
	statusRevoked       = "revoked"
	statusGlobalRetired = "global-retired"
)

// patStatus is p's status at now; revoked comes from the caller (the PAT API
// says it only through displayFilterOption=revoked).
func patStatus(p PATView, revoked bool, now time.Time) string {
	switch {
	case revoked:
		return statusRevoked
	case !now.Before(p.ValidTo):
		return statusExpired
	case p.Retired:
		return statusGlobalRetired
	}
	return statusActive
}

// viewOf is p as printed, with its status (revoked as the caller knows it).
func viewOf(p api.PatToken, now time.Time, revoked bool) PATView {
	v := PATView{
		AuthorizationID: p.AuthorizationID,
		DisplayName:     p.DisplayName,
		Scope:           p.Scope,
		TargetAccounts:  p.TargetAccounts,
		ValidFrom:       p.ValidFrom,
		ValidTo:         p.ValidTo,
		Global:          p.IsGlobal(),
		Retired:         p.IsGlobal() && api.GlobalPATsRetired(now),
	}
	v.Status = patStatus(v, revoked, now)
	return v
}

// globalNote describes a global PAT for the tables.
func globalNote(p PATView) string {
	day := api.GlobalPATRetirement.Format("2006-01-02")
	if p.Retired {
		return "GLOBAL-RETIRED (no longer works since " + day + "; replace and revoke)"
	}
	return "GLOBAL (stops working " + day + ")"
}

var patHeader = []string{"AUTHORIZATION ID", "NAME", "STATUS", "SCOPE", "VALID TO (UTC)", "EXPIRES", "ORGS"}

func patRow(p PATView, now time.Time) []string {
	orgs := "this org"
	if p.Global {
		orgs = globalNote(p)
	}
	return []string{p.AuthorizationID, p.DisplayName, p.Status, p.Scope, p.ValidTo.UTC().Format("2006-01-02 15:04"), humanUntil(p.ValidTo, now), orgs}
}

// patListFormat is how `pat list` prints (a JSON array, never null): the
// table, -o wide (plus VALID FROM and the target organisations) and -o name
// (one authorization ID per line).
func patListFormat(now time.Time) output.ListFormat[PATView] {
	return output.ListFormat[PATView]{
		Header:     patHeader,
		Row:        func(p PATView) []string { return patRow(p, now) },
		WideHeader: append(append([]string{}, patHeader...), "VALID FROM (UTC)", "TARGET ACCOUNTS"),
		WideRow: func(p PATView) []string {
			return append(patRow(p, now), p.ValidFrom.UTC().Format("2006-01-02 15:04"), strings.Join(p.TargetAccounts, ","))
		},
		Name: func(p PATView) string { return p.AuthorizationID },
	}
}

// Names implements output.Namer (`pat create -o name`).
func (p PATView) Names() []string { return []string{p.AuthorizationID} }

// patDetail is a single PAT printed as a vertical table.
type patDetail struct {
	PATView
	now time.Time
}

func (d patDetail) MarshalJSON() ([]byte, error) { return marshalJSON(d.PATView) }

func (d patDetail) Table() output.TableData {
	p := d.PATView
	orgs := strings.Join(p.TargetAccounts, ", ")
	if p.Global {
		orgs = globalNote(p) + ", all organisations"
	}
	rows := [][]string{
		{"Authorization ID:", p.AuthorizationID},
		{"Name:", p.DisplayName},
		{"Status:", p.Status},
		{"Scope:", p.Scope},
		{"Valid from:", p.ValidFrom.UTC().Format(time.RFC3339)},
		{"Valid to:", p.ValidTo.UTC().Format(time.RFC3339) + " (" + humanUntil(p.ValidTo, d.now) + ")"},
		{"Organisations:", orgs},
	}
	if p.Clamped && p.RequestedValidTo != nil {
		rows = append(rows, []string{"Clamped:", "yes: asked for " + p.RequestedValidTo.UTC().Format(time.RFC3339) + ", the maximum-lifespan policy allowed less"})
	}
	return output.TableData{Rows: rows}
}

// humanUntil renders the time left until t ("in 29d", "in 3h", "expired 2d ago").
func humanUntil(t, now time.Time) string {
	d := t.Sub(now)
	past := d < 0
	if past {
		d = -d
	}
	var s string
	switch {
	case d >= 48*time.Hour:
		s = strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d >= time.Hour:
		s = strconv.Itoa(int(d/time.Hour)) + "h"
	default:
		s = strconv.Itoa(int(d/time.Minute)) + "m"
	}
	if past {
		return "expired " + s + " ago"
	}
	return "in " + s
}
