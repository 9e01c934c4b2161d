package main

import (
	"strings"
	"testing"
)

// An endpoint file or --configuration-file past its limit is refused with a
// size error naming the file and the limit, not a JSON error about the
// truncated rest ("unterminated string").
func TestOversizedEndpointInputNamesFileAndLimit(t *testing.T) {
	big := `{"name":"x","type":"sonarqube","url":"https://s.example/","data":{"pad":"` + strings.Repeat("a", 5<<20) + `"}}`
	ep := writeFile(t, "big.json", big)
	small := writeFile(t, "ok.json", `{"name":"s","type":"sonarqube","url":"https://s.example/","authorization":{"scheme":"UsernamePassword","parameters":{"username":"u"}}}`)
	for _, args := range [][]string{
		{"endpoint", "validate", "--endpoint", ep},
		{"endpoint", "request", "--endpoint", small, "--data-source", "x", "--configuration-file", ep},
	} {
		code, _, errs := runEP(t, map[string]string{}, "", args...)
		if code != 2 || !strings.Contains(errs, ep) || !strings.Contains(errs, "4 MiB") || strings.Contains(errs, "unterminated") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 naming %s and the 4 MiB limit", args, code, errs, ep)
		}
	}
	code, _, errs := runEP(t, map[string]string{}, big, "endpoint", "validate", "--endpoint", "-")
	if code != 2 || !strings.Contains(errs, "stdin") || !strings.Contains(errs, "4 MiB") {
		t.Errorf("stdin: exit %d, stderr %q", code, errs)
	}
}
