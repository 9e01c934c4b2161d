package entra

import (
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/patrol-dev/patrol/internal/redact/redacttest"
)

func FuzzSignInErrorParse(f *testing.F) {
	f.Add([]byte(`{"error":"invalid_grant","error_description":"AADSTS50126: bad\r\nTrace ID: x","error_codes":[50126]}`), "hunter2")
	f.Add([]byte(`<html>sign in</html>`), "secret")
	f.Add([]byte(`{"error":"x","error_description":"se\u0001cret"}`), "secret")
	f.Add([]byte(`{"error_codes":"nope"}`), "xxxx")
	f.Fuzz(func(t *testing.T, body []byte, secret string) {
		e := newSignInError(MethodROPC, 400, body, secret)
		msg := e.Error()
		// redacttest.Leaks: the secret as redact registers it (trimmed, at
		// least redact.MinLength long), outside what a marker spells.
		if redacttest.Leaks(e.Description, secret) {
			t.Fatalf("secret %q in description %q", secret, e.Description)
		}
		if utf8.RuneCountInString(e.Description) > maxDescription+1 {
			t.Fatalf("description too long: %d", len(e.Description))
		}
		for _, r := range e.Description {
			if unicode.IsControl(r) {
				t.Fatalf("control character in %q", e.Description)
			}
		}
		if msg == "" || e.Kind() == 0 {
			t.Fatal("empty error or unknown kind")
		}
	})
}

func FuzzClaims(f *testing.F) {
	f.Add(fakeJWT(map[string]any{"idtyp": "user", "upn": "a@b"}))
	f.Add("a.b.c")
	f.Add("eyJ.eyJ.x")
	f.Fuzz(func(t *testing.T, tok string) {
		_ = Claims(tok)
		k := KindFromClaims(tok)
		if k < IdentityUnknown || k > IdentityManagedIdentity {
			t.Fatalf("kind %d", k)
		}
	})
}
