package config

import (
	"strings"
	"testing"
)

func TestNotifyValidation(t *testing.T) {
	base := "credentials:\n- name: a\n  scopes: [vso.code]\n  sinks: [{type: file, path: /tmp/a}]\n"
	good := base + "notify:\n- {type: teams, urlEnv: TEAMS_URL}\n- {name: hook, type: webhook, url: 'https://hooks.example.com/x', on: [rotation], expiringWithin: 3d, maxAttempts: 5}\n"
	f, err := ParseFile([]byte(good), "p.yaml", ValidateOptions{SkipSinks: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.Notify[0]; n.Name != "teams" || n.MaxAttempts != DefaultNotifyAttempts || n.ExpiringWithin != DefaultNotifyWithin || strings.Join(n.On, ",") != "failure,expiring" {
		t.Fatalf("defaults: %+v", n)
	}
	cases := map[string]string{
		"- {type: pager, url: 'https://x.example'}":                      "notify[0].type: unknown notifier type",
		"- {type: slack, url: 'https://hooks.slack.com/services/T/B/X'}": "a slack webhook URL is a secret",
		"- {type: webhook, url: 'http://hooks.example.com/x'}":           "https only",
		"- {type: webhook}":                                          "exactly one of url, urlEnv or urlFile",
		"- {type: webhook, urlEnv: A, urlFile: /b}":                  "exactly one of url, urlEnv or urlFile",
		"- {type: webhook, urlEnv: A, on: [failure, failed]}":        `notify[0].on[1]: unknown event "failed"`,
		"- {type: webhook, urlEnv: A, maxAttempts: 50}":              "notify[0].maxAttempts: 50 is out of range",
		"- {type: webhook, urlEnv: A}\n- {type: webhook, urlEnv: B}": `notify[1].name: "webhook" is also the name of notify[0]`,
		"- {type: webhook, urlEnv: A, retries: 3}":                   "retries",
	}
	for yaml, want := range cases {
		_, err := ParseFile([]byte(base+"notify:\n"+yaml+"\n"), "p.yaml", ValidateOptions{SkipSinks: true})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want %q, got %v", yaml, want, err)
		}
	}
}
