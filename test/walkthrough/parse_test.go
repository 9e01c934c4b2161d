package walkthrough

import (
	"strings"
	"testing"
)

const sample = "# Doc\n\n" +
	"<!-- walkthrough: demo -->\n```sh\necho one\n```\n\n" +
	"text\n\n<!-- walkthrough: demo -->\n```sh\necho two\n```\n" +
	"<!-- walkthrough-output: demo -->\n```text\none\n…\n```\n" +
	"<!-- walkthrough-skip: real Azure -->\n```sh\naz login\n```\n" +
	"```yaml\nkey: value\n```\n" +
	"  ```\n  patrol pat list\n  ```\n" +
	"```bash\nls\n```\n" +
	"<!-- walkthrough-skip: -->\n```sh\nls\n```\n"

func TestCollectFindsWalkthroughsAndUnmarkedShellBlocks(t *testing.T) {
	blocks, err := Parse("doc.md", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	walks, problems := Collect(blocks)
	if len(walks) != 1 || walks[0].Name != "demo" || len(walks[0].Blocks) != 2 || walks[0].Output == nil {
		t.Fatalf("walks = %+v", walks)
	}
	if s := walks[0].Script(); !strings.Contains(s, "# --- doc.md:4\necho one\n") || !strings.Contains(s, "# --- doc.md:11\necho two\n") {
		t.Errorf("script:\n%s", s)
	}
	want := []string{"doc.md:26: shell block without a marker", "doc.md:29: shell block without a marker", "doc.md:33: <!-- walkthrough-skip: --> needs a reason"}
	if len(problems) != len(want) {
		t.Fatalf("problems = %q, want %d", problems, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i], w) {
			t.Errorf("problem %d = %q, want prefix %q", i, problems[i], w)
		}
	}
}

func TestParseRefusesAnUnclosedBlock(t *testing.T) {
	if _, err := Parse("doc.md", []byte("<!-- walkthrough: x -->\n```sh\necho\n")); err == nil || !strings.Contains(err.Error(), "doc.md:2") {
		t.Fatalf("err = %v", err)
	}
}

func TestMatchOutput(t *testing.T) {
	got := "header\nagents      create  ok      4b89  2027\n401\n200\nmetric 1\nlast 2\n"
	for _, want := range []string{
		"header\nagents create ok …\n401\n200\n…",
		"…\n401\n200\nmetric 1\nlast 2",
		"header\n…\nlast 2\n",
		"… \nagents  …  ok  …\n…",
	} {
		if err := MatchOutput(want, got); err != nil {
			t.Errorf("MatchOutput(%q): %v", want, err)
		}
	}
	for want, msg := range map[string]string{
		"header\nagents create failed …\n…": `line 2 "agents create failed …"`,
		"header\n…\n200\n401\n…":            `"401"`,
		"header\n…\n200":                    "more lines than the document states",
		"…\nexit 3":                         `"exit 3"`,
	} {
		err := MatchOutput(want, got)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("MatchOutput(%q) = %v, want an error containing %s", want, err, msg)
		}
	}
}
