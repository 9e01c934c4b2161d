package audit

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func pat(name, scope string, from, to time.Duration, global bool) PAT {
	t := api.SessionToken{AuthorizationID: name + "-id", DisplayName: name, Scope: scope, ValidFrom: now.Add(from), ValidTo: now.Add(to), IsValid: true}
	if !global {
		t.TargetAccounts = []string{"org"}
	}
	return FromSessionToken(t, "u@x", "U", now)
}

func rules(fs []Finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f.Severity)+":"+f.Rule)
	}
	return strings.Join(out, ",")
}

func TestAssess(t *testing.T) {
	day := 24 * time.Hour
	o := Options{Now: now, ExpiringWithin: 7 * day, MaxLifetime: 90 * day}
	for _, tc := range []struct {
		p    PAT
		want string
	}{
		{pat("ok", "vso.code", -day, 30*day, false), ""},
		{pat("g", "vso.code", -day, 30*day, true), "high:global"},
		{pat("f", "vso.code app_token", -day, 30*day, false), "high:full-scope"},
		{pat("l", "vso.code", -100*day, 30*day, false), "medium:long-lived"},
		{pat("e", "vso.code", -day, 3*day, false), "medium:expiring"},
		{pat("patrol:a:20261201T000000Z-00000000", "vso.code", -day, 3*day, false), "low:expiring"},
		{pat("x", "vso.code", -40*day, -day, true), ""}, // expired: no more harm
	} {
		if got := rules(Assess(tc.p, o)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.p.DisplayName, got, tc.want)
		}
	}
	revoked := api.SessionToken{DisplayName: "r", Scope: "app_token", ValidFrom: now.Add(-day), ValidTo: now.Add(day), IsValid: false}
	if p := FromSessionToken(revoked, "u", "", now); p.Status != "revoked" || len(Assess(p, o)) != 0 {
		t.Errorf("revoked: %+v", p)
	}
	if got := rules(Assess(pat("l", "vso.code", -100*day, 30*day, false), Options{Now: now})); got != "" {
		t.Errorf("rules off: %q", got)
	}
}

func TestSelector(t *testing.T) {
	day := 24 * time.Hour
	s, err := ParseRules([]string{"global", "older-than=30d", "name=Build-*"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p                 PAT
		selected, skipped bool
	}{
		{pat("build-agent", "vso.code", -40*day, day, true), true, false},
		{pat("build-agent", "vso.code", -10*day, day, true), false, false},
		{pat("deploy", "vso.code", -40*day, day, true), false, false},
		{pat("build-agent", "vso.code", -40*day, day, false), false, false},
		{pat("build-agent", "vso.code", -40*day, -time.Hour, true), false, false}, // expired
	} {
		sel, skip := s.Match(tc.p, now)
		if sel != tc.selected || skip != tc.skipped {
			t.Errorf("%+v: %v %v", tc.p, sel, skip)
		}
	}
	m, _ := ParseRules([]string{"name=patrol:*"})
	if sel, skip := m.Match(pat("patrol:a:20261201T000000Z-00000000", "vso.code", -day, day, false), now); sel || !skip {
		t.Error("a managed PAT must be skipped without --include-managed")
	}
	m.IncludeManaged = true
	if sel, _ := m.Match(pat("patrol:a:20261201T000000Z-00000000", "vso.code", -day, day, false), now); !sel {
		t.Error("--include-managed")
	}
	for _, bad := range [][]string{nil, {"all"}, {"older-than=-3d"}, {"name=[x"}, {"owner="}, {"global=1"}} {
		if _, err := ParseRules(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestBuilderBoundsFindings(t *testing.T) {
	b := NewBuilder("o", Options{Now: now}, Low)
	for i := 0; i < MaxFindings+5; i++ {
		b.AddPAT(pat("g", "vso.code", -time.Hour, time.Hour, true))
	}
	r := b.Report()
	if len(r.Findings) != MaxFindings || r.FindingsOmitted != 5 || r.Summary.BySeverity[High] != MaxFindings+5 || r.Summary.Global != MaxFindings+5 {
		t.Fatalf("%d kept, %d omitted, %v", len(r.Findings), r.FindingsOmitted, r.Summary.BySeverity)
	}
	if r.Expiry[0].Count != MaxFindings+5 {
		t.Fatalf("expiry buckets %v", r.Expiry[:2])
	}
	hb := NewBuilder("o", Options{Now: now}, High)
	hb.AddPAT(pat("e", "vso.code", -time.Hour, time.Hour, false)) // no rule applies with rules off
	hb.AddEvent(Event{Action: "PatPublicDiscoveryEvent", DisplayName: "leak", Time: now})
	if r := hb.Report(); len(r.Findings) != 1 || r.Findings[0].Severity != Critical {
		t.Fatalf("%+v", r.Findings)
	}
}

func TestHTMLEscapesAndLoadsNothing(t *testing.T) {
	b := NewBuilder(`<b>org</b>`, Options{Now: now}, Low)
	b.AddPAT(pat(`"><img src=x onerror=alert(1)>`, "app_token", -time.Hour, time.Hour, false))
	var buf bytes.Buffer
	if err := WriteHTML(&buf, b.Report()); err != nil {
		t.Fatal(err)
	}
	h := buf.String()
	if strings.Contains(h, "<img") || strings.Contains(h, "<b>org") || !strings.Contains(h, "&lt;b&gt;org") {
		t.Fatal("unescaped server value in the report")
	}
	for _, s := range []string{"<script", "<link", "<img", "<iframe", "<object"} {
		if strings.Contains(h, s) {
			t.Fatalf("the report contains %q", s)
		}
	}
}

func TestAssessOwnerState(t *testing.T) {
	o := Options{Now: now}
	for state, want := range map[string]string{"": "", OwnerActive: "", OwnerDisabled: "high:owner-disabled", OwnerDeparted: "high:owner-departed"} {
		p := pat("p", "vso.code", -time.Hour, 30*24*time.Hour, false)
		p.OwnerState = state
		if got := rules(Assess(p, o)); got != want {
			t.Errorf("owner %q: %q, want %q", state, got, want)
		}
	}
	p := pat("x", "vso.code", -40*24*time.Hour, -time.Hour, false)
	p.OwnerState = OwnerDeparted
	if got := rules(Assess(p, o)); got != "" {
		t.Errorf("expired PAT of a departed owner: %q", got)
	}
}

func TestAssessEndpointSecretExpiry(t *testing.T) {
	day := 24 * time.Hour
	o := Options{Now: now, ExpiringWithin: 14 * day}
	base := Endpoint{Project: "p", Name: "c", Type: "azurerm", Scheme: "ServicePrincipal", Ready: true, Secret: true, ConvertibleToWIF: true, AppID: "app"}
	for _, tc := range []struct {
		name            string
		lookup          string
		n               int
		nearest, latest time.Duration
		want            string
	}{
		{"not looked up", "", 0, 0, 0, "low:endpoint-secret"},
		{"no permission", SecretNoPermission, 0, 0, 0, "low:endpoint-secret"},
		{"no password", SecretRead, 0, 0, 0, "low:endpoint-secret,high:endpoint-secret-expired"},
		{"all expired", SecretRead, 2, -9 * day, -day, "low:endpoint-secret,high:endpoint-secret-expired"},
		{"all expire soon", SecretRead, 2, 2 * day, 10 * day, "low:endpoint-secret,high:endpoint-secret-expiring"},
		{"one expired", SecretRead, 2, -day, 100 * day, "low:endpoint-secret,medium:endpoint-secret-expiring"},
		{"one soon", SecretRead, 2, 3 * day, 100 * day, "low:endpoint-secret,medium:endpoint-secret-expiring"},
		{"fine", SecretRead, 1, 100 * day, 100 * day, "low:endpoint-secret"},
	} {
		e := base
		e.SecretLookup, e.SecretPasswords = tc.lookup, tc.n
		if tc.n > 0 {
			e.SecretNearestExpiry, e.SecretLatestExpiry = now.Add(tc.nearest), now.Add(tc.latest)
		}
		if got := rules(AssessEndpoint(e, o)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
