package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command's --help has an Examples section, and the global flags are
// not repeated on it: `patrol options` lists them once.
func TestHelpHasExamplesAndNoGlobalFlags(t *testing.T) {
	a := newApp(func(string) (string, bool) { return "", false }, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.Hidden {
			return
		}
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(newRootCmd(a), nil)
	if len(paths) < 30 {
		t.Fatalf("walked only %d commands", len(paths))
	}
	for _, p := range paths {
		code, stdout, stderr := runCLI(t, nil, append(p, "--help")...)
		name := strings.Join(append([]string{"patrol"}, p...), " ")
		if code != 0 {
			t.Errorf("%s --help: exit %d %s", name, code, stderr)
			continue
		}
		if !strings.Contains(stdout, "\nExamples:\n  ") {
			t.Errorf("%s --help has no Examples section", name)
		}
		if strings.Contains(stdout, "--client-id string") || strings.Contains(stdout, "--log-level string") || strings.Contains(stdout, "Global Flags") {
			t.Errorf("%s --help repeats the global flags", name)
		}
		if !strings.Contains(stdout, `Use "patrol options"`) {
			t.Errorf("%s --help does not point to patrol options", name)
		}
	}
	// Flags a group gives its subcommands stay on their pages.
	if _, stdout, _ := runCLI(t, nil, "endpoint", "get", "--help"); !strings.Contains(stdout, "--project") {
		t.Errorf("endpoint get --help lost the inherited --project: %s", stdout)
	}
	code, stdout, _ := runCLI(t, nil, "options")
	for _, f := range []string{"--org", "--client-id", "--log-level", "--output", "--no-headers", "--config"} {
		if code != 0 || !strings.Contains(stdout, f) {
			t.Errorf("patrol options: exit %d, lacks %s", code, f)
		}
	}
}
