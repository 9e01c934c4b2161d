package audit

import (
	"time"

	"github.com/patrol-dev/patrol/internal/output"
)

// MaxFindings bounds the findings a report keeps (the counters stay exact).
const MaxFindings = 10000

// Report is what `patrol audit` prints.
type Report struct {
	Organization string    `json:"organization"`
	GeneratedAt  time.Time `json:"generatedAt"`
	Summary      Summary   `json:"summary"`
	Findings     []Finding `json:"findings"`
	// FindingsOmitted counts findings past MaxFindings.
	FindingsOmitted int `json:"findingsOmitted,omitempty"`
	// Events are the Token events of the window (newest first, capped like findings).
	Events []Event `json:"events"`
	// Expiry counts active PATs by the week they expire in, from this week on
	// (ExpiryWeeks buckets; the last one holds everything later).
	Expiry []WeekCount `json:"expiry"`
	// Notices are what the audit could not check, each once (e.g. no
	// Microsoft Graph permission to read users): not findings, not failures.
	Notices []Notice `json:"notices"`
}

// Notice is something the audit could not check, and what would let it.
type Notice struct {
	Level   string `json:"level"` // warn
	Topic   string `json:"topic"` // owners, endpoint-secrets
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

// Notice topics.
const (
	NoticeOwners          = "owners"
	NoticeEndpointSecrets = "endpoint-secrets"
)

// Summary counts the inventory.
type Summary struct {
	Users     int `json:"users"`
	PATs      int `json:"pats"`
	Active    int `json:"active"`
	Expired   int `json:"expired"`
	Revoked   int `json:"revoked"`
	Global    int `json:"global"`
	FullScope int `json:"fullScope"`
	Managed   int `json:"managed"`
	Events    int `json:"events"`
	// Endpoints counts service connections (a shared one once);
	// EndpointSecrets those whose scheme holds a secret; Convertible the
	// Azure Resource Manager ones that could use workload identity instead.
	Endpoints       int `json:"endpoints"`
	EndpointSecrets int `json:"endpointSecrets"`
	Convertible     int `json:"convertibleToWif"`
	// OwnersDisabled and OwnersDeparted count users whose Entra account is
	// disabled or deleted (as far as the identity could tell).
	OwnersDisabled int              `json:"ownersDisabled"`
	OwnersDeparted int              `json:"ownersDeparted"`
	BySeverity     map[Severity]int `json:"bySeverity"`
}

// WeekCount is one bucket of the expiry chart.
type WeekCount struct {
	From  time.Time `json:"from"`
	Count int       `json:"count"`
}

// ExpiryWeeks is the number of weekly buckets of the expiry chart.
const ExpiryWeeks = 12

// Builder accumulates a report in bounded memory.
type Builder struct {
	r    Report
	opts Options
	min  Severity
}

// NewBuilder starts a report; findings less severe than min are counted
// but not kept.
func NewBuilder(org string, o Options, min Severity) *Builder {
	b := &Builder{opts: o, min: min}
	b.r.Organization, b.r.GeneratedAt = org, o.Now.UTC()
	b.r.Summary.BySeverity = map[Severity]int{}
	b.r.Findings, b.r.Events, b.r.Notices = []Finding{}, []Event{}, []Notice{}
	start := o.Now.UTC().Truncate(24 * time.Hour)
	for i := 0; i < ExpiryWeeks; i++ {
		b.r.Expiry = append(b.r.Expiry, WeekCount{From: start.Add(time.Duration(i) * 7 * 24 * time.Hour)})
	}
	return b
}

// User counts one user of the inventory.
func (b *Builder) User() { b.r.Summary.Users++ }

// UserState counts a user's Entra state (OwnerDisabled, OwnerDeparted).
func (b *Builder) UserState(state string) {
	switch state {
	case OwnerDisabled:
		b.r.Summary.OwnersDisabled++
	case OwnerDeparted:
		b.r.Summary.OwnersDeparted++
	}
}

// Notice records n once per topic.
func (b *Builder) Notice(n Notice) {
	for _, x := range b.r.Notices {
		if x.Topic == n.Topic {
			return
		}
	}
	if n.Level == "" {
		n.Level = "warn"
	}
	b.r.Notices = append(b.r.Notices, n)
}

// AddPAT counts p and keeps its findings.
func (b *Builder) AddPAT(p PAT) {
	s := &b.r.Summary
	s.PATs++
	switch p.Status {
	case "active":
		s.Active++
		i := int(p.ValidTo.Sub(b.r.Expiry[0].From) / (7 * 24 * time.Hour))
		b.r.Expiry[min(max(i, 0), ExpiryWeeks-1)].Count++
	case "expired":
		s.Expired++
	default:
		s.Revoked++
	}
	if p.Global && p.Status == "active" {
		s.Global++
	}
	if p.FullScope() && p.Status == "active" {
		s.FullScope++
	}
	if p.Managed {
		s.Managed++
	}
	b.add(Assess(p, b.opts))
}

// AddEndpoint counts a service connection and keeps its findings.
func (b *Builder) AddEndpoint(e Endpoint) {
	s := &b.r.Summary
	s.Endpoints++
	if e.Secret {
		s.EndpointSecrets++
	}
	if e.ConvertibleToWIF {
		s.Convertible++
	}
	b.add(AssessEndpoint(e, b.opts))
}

// AddEvent keeps a Token event and its findings.
func (b *Builder) AddEvent(e Event) {
	b.r.Summary.Events++
	if len(b.r.Events) < MaxFindings {
		b.r.Events = append(b.r.Events, e)
	}
	b.add(AssessEvent(e))
}

func (b *Builder) add(fs []Finding) {
	for _, f := range fs {
		b.r.Summary.BySeverity[f.Severity]++
		if f.Severity.Rank() > b.min.Rank() {
			continue
		}
		if len(b.r.Findings) >= MaxFindings {
			b.r.FindingsOmitted++
			continue
		}
		b.r.Findings = append(b.r.Findings, f)
	}
}

// Report returns the finished report, findings sorted.
func (b *Builder) Report() Report {
	SortFindings(b.r.Findings)
	return b.r
}

// Table lists the findings.
func (r Report) Table() output.TableData {
	t := output.TableData{Header: []string{"SEVERITY", "RULE", "PAT OR CONNECTION", "OWNER", "MESSAGE"}}
	for _, f := range r.Findings {
		t.Rows = append(t.Rows, []string{string(f.Severity), f.Rule, f.DisplayName, f.Owner, f.Message})
	}
	return t
}

// WideTable adds the id, expiry and fix.
func (r Report) WideTable() output.TableData {
	t := output.TableData{Header: []string{"SEVERITY", "RULE", "PAT OR CONNECTION", "ID", "OWNER", "VALID TO", "MESSAGE", "FIX"}}
	for _, f := range r.Findings {
		vt := ""
		if !f.ValidTo.IsZero() {
			vt = f.ValidTo.UTC().Format(time.RFC3339)
		}
		t.Rows = append(t.Rows, []string{string(f.Severity), f.Rule, f.DisplayName, f.AuthorizationID, f.Owner, vt, f.Message, f.Fix})
	}
	return t
}

// PATRow is the table form of an inventory entry (`patrol audit pats`).
func PATHeader(wide bool) []string {
	h := []string{"OWNER", "NAME", "STATUS", "SCOPE", "VALID TO", "GLOBAL", "MANAGED", "OWNER STATE"}
	if wide {
		h = append(h, "AUTHORIZATION ID", "VALID FROM")
	}
	return h
}

// PATRow renders p for PATHeader.
func PATRow(p PAT, wide bool) []string {
	row := []string{p.Owner, p.DisplayName, p.Status, p.Scope, p.ValidTo.UTC().Format(time.RFC3339), yn(p.Global), yn(p.Managed), p.OwnerState}
	if wide {
		row = append(row, p.AuthorizationID, p.ValidFrom.UTC().Format(time.RFC3339))
	}
	return row
}

// yn is a table's yes/no cell.
func yn(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
