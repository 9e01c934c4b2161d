package patsecret

import (
	"strings"
	"testing"
)

// Examples of both formats (made up; they authenticate nowhere).
const (
	legacy       = "dip55dwf4vpitomw63jzvomefmi2jluguprzwwqwuc6xq4fhocwq"
	identifiable = "Q7mfW2kPz9LcR4tYx8NbV3hJd6GsA1uEoK5iT0pXq2wZyMn7RvBcJQQJ99CLACAAAAAAAAAAAAASAZDO3fKx"
)

func TestOf(t *testing.T) {
	if len(identifiable) != 84 || identifiable[76:80] != "AZDO" {
		t.Fatalf("bad fixture: len %d, [76:80] %q", len(identifiable), identifiable[76:80])
	}
	cases := map[string]Format{
		legacy:                  Legacy,
		strings.ToUpper(legacy): Legacy,
		identifiable:            Identifiable,
		identifiable[:83]:       Unknown,
		identifiable + "x":      Unknown,
		strings.Replace(identifiable, "AZDO", "AZDX", 1): Unknown, // no signature
		identifiable[:10] + "-" + identifiable[11:]:      Unknown, // not base62
		legacy[:51] + "1": Unknown, // 1 is not base32
		legacy[:51]:       Unknown,
		"":                Unknown,
		" " + legacy:      Unknown,
	}
	for s, want := range cases {
		if got := Of(s); got != want {
			t.Errorf("Of(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestFindAndRedact(t *testing.T) {
	text := "a=" + legacy + " b=\"" + identifiable + "\" id=4ab5764f-4193-4f1d-b995-64144880b7d7 " +
		"sha=" + strings.Repeat("ab12", 16) + " word=" + strings.Repeat("a", 60)
	got := Find(text)
	if len(got) != 2 || got[0] != legacy || got[1] != identifiable {
		t.Fatalf("Find = %q", got)
	}
	r := Redact(text, "REDACTED")
	if strings.Contains(r, legacy) || strings.Contains(r, identifiable) || strings.Count(r, "REDACTED") != 2 {
		t.Fatalf("Redact = %q", r)
	}
	for _, keep := range []string{"4ab5764f-4193-4f1d-b995-64144880b7d7", strings.Repeat("ab12", 16), strings.Repeat("a", 60)} {
		if !strings.Contains(r, keep) {
			t.Errorf("Redact removed %q: %q", keep, r)
		}
	}
	if Contains("short") || Contains(strings.Repeat("x", 100)) || !Contains("Basic :"+identifiable) {
		t.Fatal("Contains")
	}
}

func TestProblem(t *testing.T) {
	for _, ok := range []string{legacy, identifiable, "some-future-format_123"} {
		if p := Problem(ok); p != "" {
			t.Errorf("Problem(%q) = %q", ok, p)
		}
	}
	for _, bad := range []string{"", legacy + "\n", " " + identifiable, legacy[:20] + " " + legacy[20:], "a\x00b"} {
		if Problem(bad) == "" {
			t.Errorf("Problem(%q) accepted it", bad)
		}
	}
}
