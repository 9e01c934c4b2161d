package output

import (
	"bytes"
	"testing"
)

func TestCSVQuotesAndDefusesFormulas(t *testing.T) {
	var b bytes.Buffer
	p := New(Spec{Format: CSV}, &b, false)
	if err := p.Print(items{{AuthorizationID: "a,b", DisplayName: `=HYPERLINK("http://x")`}, {AuthorizationID: "-1", DisplayName: "plain"}}); err != nil {
		t.Fatal(err)
	}
	want := "ID,NAME\n\"a,b\",\"'=HYPERLINK(\"\"http://x\"\")\"\n'-1,plain\n"
	if b.String() != want {
		t.Fatalf("got %q\nwant %q", b.String(), want)
	}
	if f, err := ParseFormat("CSV"); err != nil || f != CSV {
		t.Fatalf("parse: %v %v", f, err)
	}
}
