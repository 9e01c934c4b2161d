package monitoring

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/metrics"
	"github.com/patrol-dev/patrol/internal/testtool"
	sigsyaml "sigs.k8s.io/yaml"
)

type ruleFile struct {
	Groups []struct {
		Name  string           `json:"name"`
		Rules []map[string]any `json:"rules"`
	} `json:"groups"`
}

func readRules(t *testing.T) (ruleFile, []byte) {
	t.Helper()
	b, err := fs.ReadFile(Files, "patrol.rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := sigsyaml.UnmarshalStrict(b, &rf); err != nil {
		t.Fatal(err)
	}
	return rf, b
}

// prometheusRule renders the PrometheusRule of the rule file's groups.
func prometheusRule(t *testing.T) []byte {
	t.Helper()
	var groups map[string]any
	_, b := readRules(t)
	if err := sigsyaml.Unmarshal(b, &groups); err != nil {
		t.Fatal(err)
	}
	obj := map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata": map[string]any{"name": "patrol", "namespace": "patrol",
			"labels": map[string]any{"app.kubernetes.io/name": "patrol", "app.kubernetes.io/part-of": "patrol"}},
		"spec": groups,
	}
	y, err := sigsyaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	head := "# Generated from patrol.rules.yaml (edit that file, then run\n# PATROL_UPDATE_MONITORING=1 go test ./deploy/monitoring). Needs the Prometheus Operator.\n"
	return append([]byte(head), y...)
}

// TestPrometheusRuleUpToDate fails when prometheusrule.yaml does not carry
// exactly the groups of patrol.rules.yaml (the file promtool tests).
func TestPrometheusRuleUpToDate(t *testing.T) {
	want := prometheusRule(t)
	if os.Getenv("PATROL_UPDATE_MONITORING") != "" {
		if err := os.WriteFile("prometheusrule.yaml", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("prometheusrule.yaml")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("prometheusrule.yaml is stale (%v); regenerate with PATROL_UPDATE_MONITORING=1 go test ./deploy/monitoring", err)
	}
}

var (
	quoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	grafana   = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	matchers  = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	grouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	token     = regexp.MustCompile(`[0-9][0-9a-zA-Z_.]*|[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlKey = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan", "atan2"}
)

// seriesIn returns the metric names a PromQL expression selects: every
// identifier that is not a function, keyword, label name or number.
func seriesIn(expr string) []string {
	e := quoted.ReplaceAllString(expr, `""`)
	e = grafana.ReplaceAllString(e, "5m")
	e = matchers.ReplaceAllString(e, "")
	e = grouping.ReplaceAllString(e, "")
	var out []string
	for _, loc := range token.FindAllStringIndex(e, -1) {
		tok := e[loc[0]:loc[1]]
		if tok[0] >= '0' && tok[0] <= '9' || slices.Contains(promqlKey, strings.ToLower(tok)) {
			continue
		}
		if rest := strings.TrimLeft(e[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function
		}
		out = append(out, tok)
	}
	return out
}

func TestSeriesIn(t *testing.T) {
	got := seriesIn(`sum by (credential, reason) (increase(patrol_failures_total{credential=~"$credential", x="a b"}[$__rate_interval])) > 0 and on (credential) patrol_credential_info{kind="pat"} or vector(0) - time() < 3 * 86400 + 1e3`)
	want := []string{"patrol_failures_total", "patrol_credential_info"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("seriesIn = %v, want %v", got, want)
	}
}

func checkExpr(t *testing.T, where, expr string, exported []string) {
	t.Helper()
	names := seriesIn(expr)
	if len(names) == 0 {
		t.Errorf("%s: %q selects no patrol series", where, expr)
	}
	for _, n := range names {
		if !slices.Contains(exported, n) {
			t.Errorf("%s: %q uses %s, which patrol does not export (patrol exports %v)", where, expr, n, exported)
		}
	}
}

// Every alert uses only series patrol exports.
func TestRulesUseExportedSeries(t *testing.T) {
	exported := metrics.Names()
	rf, _ := readRules(t)
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			expr, _ := r["expr"].(string)
			checkExpr(t, "alert "+r["alert"].(string), expr, exported)
			n++
		}
	}
	if n == 0 {
		t.Fatal("no rules")
	}
}

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// The Grafana dashboard parses, every panel queries something, and every
// expression uses only series patrol exports. With PATROL_PROMTOOL set
// (scripts/test.sh sets it), promtool also checks each expression's syntax.
func TestDashboard(t *testing.T) {
	b, err := fs.ReadFile(Files, "grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard lacks title, uid or panels: %+v", d)
	}
	exported := metrics.Names()
	var exprs []string
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			checkExpr(t, "panel "+p.Title, tg.Expr, exported)
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		for _, m := range regexp.MustCompile(`label_values\((\w+),`).FindAllStringSubmatch(string(v.Query), -1) {
			if !slices.Contains(exported, m[1]) {
				t.Errorf("variable %s uses %s, which patrol does not export", v.Name, m[1])
			}
		}
	}
	// Every exported series appears on the dashboard, except the info series used only for joins.
	used := map[string]bool{}
	for _, e := range exprs {
		for _, n := range seriesIn(e) {
			used[n] = true
		}
	}
	for _, n := range exported {
		if !used[n] && n != "patrol_credential_info" && n != "patrol_credential_seconds_to_expiry" && n != "patrol_credential_due_timestamp_seconds" && n != "patrol_last_rotation_timestamp_seconds" {
			t.Errorf("the dashboard shows nothing of %s", n)
		}
	}
	promtool := os.Getenv("PATROL_PROMTOOL")
	if promtool == "" {
		if testtool.Required() {
			t.Fatal("PATROL_PROMTOOL not set under CI=true or PATROL_REQUIRE_TOOLS=1: build promtool with scripts/promtool.sh and export its path (scripts/test.sh does)")
		}
		t.Log("PATROL_PROMTOOL not set: expression syntax not checked by promtool (scripts/test.sh sets it)")
		return
	}
	// Each expression as a recording rule, Grafana variables substituted.
	var rules bytes.Buffer
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		e = strings.ReplaceAll(e, "$__rate_interval", "5m")
		e = strings.ReplaceAll(e, "$credential", ".*")
		q, _ := json.Marshal(e)
		rules.WriteString("      - record: patrol:dashboard_" + strings.Repeat("x", i+1) + "\n        expr: " + string(q) + "\n")
	}
	path := filepath.Join(t.TempDir(), "dashboard.rules.yaml")
	if err := os.WriteFile(path, rules.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules on the dashboard's expressions: %v\n%s\n%s", err, out, rules.String())
	}
}
