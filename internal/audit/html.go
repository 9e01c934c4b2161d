package audit

import (
	"html/template"
	"io"
	"time"
)

// WriteHTML writes r as one self-contained HTML page: inline CSS, charts as
// inline SVG, no script and no external asset (a Content-Security-Policy of
// default-src 'none' enforces it), so it can be opened anywhere or attached
// to a ticket. html/template escapes every value from the server.
func WriteHTML(w io.Writer, r Report) error {
	return reportTemplate().Execute(w, htmlView(r))
}

type bar struct {
	Label  string
	Count  int
	X, Y   int
	Width  int
	Height int
	Class  string
}

type view struct {
	Report
	Generated  string
	ExpiryBars []bar
	SevBars    []bar
	ChartW     int
	ChartH     int
}

const (
	chartW = 720
	chartH = 180
)

func htmlView(r Report) view {
	v := view{Report: r, Generated: r.GeneratedAt.UTC().Format(time.RFC3339), ChartW: chartW, ChartH: chartH}
	maxCount := 1
	for _, wc := range r.Expiry {
		maxCount = max(maxCount, wc.Count)
	}
	bw := chartW / max(len(r.Expiry), 1)
	for i, wc := range r.Expiry {
		h := wc.Count * (chartH - 30) / maxCount
		label := wc.From.Format("Jan 02")
		if i == len(r.Expiry)-1 {
			label += "+"
		}
		v.ExpiryBars = append(v.ExpiryBars, bar{Label: label, Count: wc.Count, X: i*bw + 4, Y: chartH - 20 - h, Width: bw - 8, Height: h, Class: "bar"})
	}
	sevMax := 1
	sevs := []Severity{Critical, High, Medium, Low}
	for _, s := range sevs {
		sevMax = max(sevMax, r.Summary.BySeverity[s])
	}
	for i, s := range sevs {
		n := r.Summary.BySeverity[s]
		v.SevBars = append(v.SevBars, bar{Label: string(s), Count: n, X: 90, Y: i*40 + 10, Width: n * (chartW - 160) / sevMax, Height: 28, Class: "sev-" + string(s)})
	}
	return v
}

func reportTemplate() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"ts": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04")
		},
		"add": func(a, b int) int { return a + b },
	}).Parse(reportHTML))
}

const reportHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>patrol audit: {{.Organization}}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1b1f23;background:#fff}
h1{font-size:1.6rem;margin:0 0 .2rem} h2{font-size:1.2rem;margin:2rem 0 .6rem}
.meta{color:#57606a}
#summary{display:flex;flex-wrap:wrap;gap:.8rem;margin-top:1rem}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.6rem 1rem;min-width:7rem}
.card b{display:block;font-size:1.4rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.badge{border-radius:4px;padding:0 .4rem;color:#fff;font-weight:600}
.sev-critical{fill:#8b0000;background:#8b0000} .sev-high{fill:#cf222e;background:#cf222e}
.sev-medium{fill:#bf8700;background:#bf8700} .sev-low{fill:#57606a;background:#57606a}
.bar{fill:#0969da} svg text{font-size:11px;fill:#1b1f23}
.notice{color:#9a6700}
</style>
</head>
<body>
<h1>patrol audit — {{.Organization}}</h1>
<div class="meta">generated {{.Generated}} by patrol audit</div>
<div id="summary">
<div class="card" id="sum-users"><b>{{.Summary.Users}}</b>users</div>
<div class="card" id="sum-pats"><b>{{.Summary.PATs}}</b>PATs</div>
<div class="card" id="sum-active"><b>{{.Summary.Active}}</b>active</div>
<div class="card" id="sum-global"><b>{{.Summary.Global}}</b>global (active)</div>
<div class="card" id="sum-fullscope"><b>{{.Summary.FullScope}}</b>full scope (active)</div>
<div class="card" id="sum-managed"><b>{{.Summary.Managed}}</b>managed by patrol</div>
<div class="card" id="sum-events"><b>{{.Summary.Events}}</b>Token events</div>
<div class="card" id="sum-endpoints"><b>{{.Summary.Endpoints}}</b>service connections</div>
<div class="card" id="sum-convertible"><b>{{.Summary.Convertible}}</b>convertible to workload identity</div>
<div class="card" id="sum-owners-disabled"><b>{{.Summary.OwnersDisabled}}</b>owners disabled</div>
<div class="card" id="sum-owners-departed"><b>{{.Summary.OwnersDeparted}}</b>owners departed</div>
</div>
{{if .Notices}}
<h2>Not checked</h2>
<ul id="notices">
{{range .Notices}}<li class="notice" data-topic="{{.Topic}}"><b>{{.Level}}</b>: {{.Message}} — {{.Fix}}</li>
{{end}}</ul>
{{end}}
<h2>Active PATs by week of expiry</h2>
<svg id="chart-expiry" role="img" aria-label="active PATs by week of expiry" width="{{.ChartW}}" height="{{.ChartH}}" viewBox="0 0 {{.ChartW}} {{.ChartH}}">
{{range .ExpiryBars}}<g><rect class="{{.Class}}" data-count="{{.Count}}" x="{{.X}}" y="{{.Y}}" width="{{.Width}}" height="{{.Height}}"><title>{{.Label}}: {{.Count}}</title></rect>
<text x="{{.X}}" y="{{$.ChartH}}" dy="-6">{{.Label}}</text>{{if .Count}}<text x="{{.X}}" y="{{.Y}}" dy="-3">{{.Count}}</text>{{end}}</g>
{{end}}</svg>

<h2>Findings by severity</h2>
<svg id="chart-severity" role="img" aria-label="findings by severity" width="{{.ChartW}}" height="170" viewBox="0 0 {{.ChartW}} 170">
{{range .SevBars}}<g><text x="0" y="{{add .Y 19}}">{{.Label}}</text><rect class="{{.Class}}" data-count="{{.Count}}" x="{{.X}}" y="{{.Y}}" width="{{.Width}}" height="{{.Height}}"></rect><text x="{{add .X (add .Width 6)}}" y="{{add .Y 19}}">{{.Count}}</text></g>
{{end}}</svg>

<h2>Findings ({{len .Findings}}{{if .FindingsOmitted}}, {{.FindingsOmitted}} more not shown{{end}})</h2>
<table id="findings">
<thead><tr><th>Severity</th><th>Rule</th><th>PAT or connection</th><th>Owner</th><th>Valid to</th><th>Finding</th><th>Fix</th></tr></thead>
<tbody>
{{range .Findings}}<tr class="finding" data-severity="{{.Severity}}" data-rule="{{.Rule}}"><td><span class="badge sev-{{.Severity}}">{{.Severity}}</span></td><td>{{.Rule}}</td><td title="{{.AuthorizationID}}">{{.DisplayName}}</td><td>{{.Owner}}</td><td>{{ts .ValidTo}}</td><td>{{.Message}}</td><td>{{.Fix}}</td></tr>
{{else}}<tr><td colspan="7">No findings.</td></tr>
{{end}}</tbody>
</table>

<h2>Token events</h2>
<table id="events">
<thead><tr><th>Time</th><th>Event</th><th>PAT</th><th>Actor</th><th>Details</th></tr></thead>
<tbody>
{{range .Events}}<tr class="event" data-action="{{.Action}}"><td>{{ts .Time}}</td><td>{{.Action}}</td><td>{{.DisplayName}}</td><td>{{.Actor}}</td><td>{{.Details}}</td></tr>
{{else}}<tr><td colspan="5">No Token events in the window.</td></tr>
{{end}}</tbody>
</table>
</body>
</html>
`
