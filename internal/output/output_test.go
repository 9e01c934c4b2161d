package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/errkind"
	"sigs.k8s.io/yaml"
)

type item struct {
	AuthorizationID string `json:"authorizationId"`
	DisplayName     string `json:"displayName"`
}

type items []item

func (l items) Table() TableData {
	t := TableData{Header: []string{"ID", "NAME"}}
	for _, i := range l {
		t.Rows = append(t.Rows, []string{i.AuthorizationID, i.DisplayName})
	}
	return t
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": Auto, "table": Table, "JSON": JSON, " yaml ": YAML} {
		got, err := ParseFormat(in)
		if err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	_, err := ParseFormat("xml")
	if err == nil || errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), "-o/--output") || !strings.Contains(err.Error(), "table, wide, json, yaml, name, csv, jsonpath=TEMPLATE") {
		t.Fatalf("bad error: %v", err)
	}
}

func TestAutoIsTableWhenNotATerminal(t *testing.T) {
	var b bytes.Buffer
	if got := Auto.Resolve(&b); got != Table {
		t.Fatalf("auto on a buffer = %q, want table (as kubectl)", got)
	}
	if got := YAML.Resolve(&b); got != YAML {
		t.Fatalf("explicit format changed: %q", got)
	}
}

func TestPrintFormats(t *testing.T) {
	v := items{{"4ab5764f-4193-4f1d-b995-64144880b7d7", "agents\tpool"}, {"x", ""}}
	var b bytes.Buffer
	if err := (Printer{Format: Table, Out: &b}).Print(v); err != nil {
		t.Fatal(err)
	}
	want := "ID                                    NAME\n4ab5764f-4193-4f1d-b995-64144880b7d7  agents pool\nx                                     -\n"
	if b.String() != want {
		t.Fatalf("table:\n%q\nwant\n%q", b.String(), want)
	}

	b.Reset()
	if err := (Printer{Format: JSON, Out: &b}).Print(v); err != nil {
		t.Fatal(err)
	}
	var back []map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back[0]["authorizationId"] != v[0].AuthorizationID || back[0]["displayName"] != "agents\tpool" {
		t.Fatalf("json keys must be wire names: %s", b.String())
	}

	b.Reset()
	if err := (Printer{Format: YAML, Out: &b}).Print(v); err != nil {
		t.Fatal(err)
	}
	var yback []map[string]string
	if err := yaml.Unmarshal(b.Bytes(), &yback); err != nil || yback[1]["authorizationId"] != "x" {
		t.Fatalf("yaml: %v %s", err, b.String())
	}
	if !strings.Contains(b.String(), "authorizationId: x") {
		t.Fatalf("yaml keys must be wire names: %s", b.String())
	}
}

// Both PAT formats: the 52-character legacy one and the 84-character one
// with the AZDO signature (made-up values).
const (
	legacyPAT       = "dip55dwf4vpitomw63jzvomefmi2jluguprzwwqwuc6xq4fhocwq"
	identifiablePAT = "Q7mfW2kPz9LcR4tYx8NbV3hJd6GsA1uEoK5iT0pXq2wZyMn7RvBcJQQJ99CLACAAAAAAAAAAAAASAZDO3fKx"
)

func TestMask(t *testing.T) {
	if got := Mask(legacyPAT); got != "dip5****" {
		t.Fatalf("Mask = %q", got)
	}
	if got := Mask(identifiablePAT); got != "Q7mf****" {
		t.Fatalf("Mask(84-character PAT) = %q", got)
	}
	if got := Mask("short"); got != "****" {
		t.Fatalf("short secrets must be fully hidden: %q", got)
	}
}

func TestLoggerRedacts(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var b bytes.Buffer
		l, err := NewLogger(&b, format, "debug", slog.LevelWarn)
		if err != nil {
			t.Fatal(err)
		}
		l.Debug("sign-in",
			"password", "pw-LEAK", "client_secret", "cs-LEAK", "Authorization", "Bearer tok-LEAK",
			"accessToken", "at-LEAK", "refresh_token", "rt-LEAK",
			slog.Group("req", "token", "pat-LEAK", "url", "https://x"),
			"authorizationId", "4ab5764f", "user", "bot@contoso", "emptyPassword", "")
		out := b.String()
		if strings.Contains(out, "LEAK") {
			t.Fatalf("%s log leaks a secret: %s", format, out)
		}
		for _, keep := range []string{"4ab5764f", "bot@contoso", "https://x", Redacted} {
			if !strings.Contains(out, keep) {
				t.Fatalf("%s log lost %q: %s", format, keep, out)
			}
		}
	}
}

func TestLoggerLevelsAndErrors(t *testing.T) {
	var b bytes.Buffer
	l, err := NewLogger(&b, "", "", slog.LevelWarn)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown")
	if strings.Contains(b.String(), "hidden") || !strings.Contains(b.String(), `"msg":"shown"`) {
		t.Fatalf("default warn/json on a non-terminal: %s", b.String())
	}
	if _, err := NewLogger(&b, "xml", "", slog.LevelWarn); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Fatalf("bad format error: %v", err)
	}
	if _, err := NewLogger(&b, "text", "chatty", slog.LevelWarn); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Fatalf("bad level error: %v", err)
	}
}

func TestIsSecretKey(t *testing.T) {
	for k, want := range map[string]bool{
		"token": true, "access_token": true, "Password": true, "clientSecret": true, "authorization": true,
		"client_assertion": true, "authorizationId": false, "user": false, "tokenCache": false, "url": false,
	} {
		if IsSecretKey(k) != want {
			t.Errorf("IsSecretKey(%q) = %v", k, !want)
		}
	}
}

// TestLoggerRedactsPATShapes: a PAT of either format is redacted wherever it
// appears in a log record — in the message, in a string attribute whose key
// does not sound secret, in an error — and what surrounds it is kept.
func TestLoggerRedactsPATShapes(t *testing.T) {
	for _, pat := range []string{legacyPAT, identifiablePAT} {
		for _, format := range []string{"text", "json"} {
			var b bytes.Buffer
			l, err := NewLogger(&b, format, "debug", slog.LevelWarn)
			if err != nil {
				t.Fatal(err)
			}
			l.Debug("got "+pat+" back", "value", "x="+pat+";", "err", errors.New("failed with "+pat), slog.Group("g", "line", pat))
			out := b.String()
			if strings.Contains(out, pat) {
				t.Fatalf("%s log leaks a %d-character PAT: %s", format, len(pat), out)
			}
			for _, keep := range []string{"got REDACTED back", "x=REDACTED;", "failed with REDACTED"} {
				if !strings.Contains(out, keep) {
					t.Fatalf("%s log lost %q: %s", format, keep, out)
				}
			}
		}
	}
}
