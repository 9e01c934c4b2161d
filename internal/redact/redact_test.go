package redact

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestRegisteredSecretsInEveryEchoedForm(t *testing.T) {
	const pw = "p@ss word&=/+é"
	Register(pw, "", "ab") // empty and short values are ignored
	RegisterBasic("bot@contoso.example", pw)
	json1, _ := json.Marshal(pw)
	forms := map[string]string{
		"raw":             pw,
		"base64":          base64.StdEncoding.EncodeToString([]byte(pw)),
		"base64url":       base64.RawURLEncoding.EncodeToString([]byte(pw)),
		"query-escaped":   url.QueryEscape(pw),
		"path-escaped":    url.PathEscape(pw),
		"json-escaped":    string(json1[1 : len(json1)-1]),
		"basic":           base64.StdEncoding.EncodeToString([]byte("bot@contoso.example:" + pw)),
		"form (echoed)":   url.Values{"password": {pw}, "username": {"bot"}}.Encode(),
		"header (echoed)": "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("bot@contoso.example:"+pw)),
	}
	for name, f := range forms {
		out := String("server says: " + f + " (end)")
		if strings.Contains(out, f) || !strings.Contains(out, Marker) {
			t.Errorf("%s: %q → %q", name, f, out)
		}
	}
	if got := String("ab is fine"); got != "ab is fine" {
		t.Errorf("a short value was registered: %q", got)
	}
}

func TestCredentialShapedStringsGoEvenUnregistered(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4eHh4eHh4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
	unsigned := "eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0."
	pat52 := strings.Repeat("abcdefgh", 6) + "ijkl"                   // 52 base32 characters
	pat84 := strings.Repeat("A1b2C3d4", 9) + "q9r8" + "AZDO" + "Zz09" // 76 + AZDO + 4
	if len(pat84) != 84 || pat84[76:80] != "AZDO" || len(pat52) != 52 {
		t.Fatalf("test data: %d %q %d", len(pat84), pat84[76:80], len(pat52))
	}
	for name, in := range map[string]string{
		"jwt":             "echo: Authorization: Bearer " + jwt,
		"unsigned jwt":    "token " + unsigned + " end",
		"legacy pat":      `{"pat":"` + pat52 + `"}`,
		"new pat":         "pat=" + pat84 + "&x=1",
		"basic header":    "Authorization: Basic dXNlcjpodW50ZXIy",
		"form field":      "grant_type=password&password=Xy7-secret&username=bot",
		"json field":      `{"access_token": "opaque-token-1234", "refresh_token":"rt-5678"}`,
		"client secret":   "client_secret=cs~abcdef123",
		"device code":     "device_code=DAQABAAEAAAD",
		"assertion field": "grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=abc.def.ghi",
	} {
		out := String(in)
		for _, secret := range []string{jwt, unsigned, pat52, pat84, "dXNlcjpodW50ZXIy", "Xy7-secret", "opaque-token-1234", "rt-5678", "cs~abcdef123", "DAQABAAEAAAD", "abc.def.ghi"} {
			if strings.Contains(in, secret) && strings.Contains(out, secret) {
				t.Errorf("%s: %q survived in %q", name, secret, out)
			}
		}
	}
	// Ordinary text stays readable.
	for _, s := range []string{
		"Basic authentication failed for the token endpoint",
		"bearer tokens are refused; use a PAT",
		"list PATs: GET https://vssps.dev.azure.com/contoso/_apis/tokens/pats?api-version=7.1-preview.1 returned 500",
		"authorizationId 3f2a1b4c-0000-0000-0000-000000000000",
	} {
		if got := String(s); got != s {
			t.Errorf("changed ordinary text: %q → %q", s, got)
		}
	}
}

func TestQuoteCapsAndRedactsAcrossTheCut(t *testing.T) {
	Register("straddling-secret-value")
	body := strings.Repeat("x", MaxQuote-5) + "straddling-secret-value" + strings.Repeat("y", 5<<20)
	q := Quote([]byte(body))
	if strings.Contains(q, "straddling") || !strings.HasSuffix(q, "…") || len([]rune(q)) > MaxQuote+1 {
		t.Fatalf("quote: %d runes, %q…", len([]rune(q)), q[MaxQuote-10:])
	}
	if got := Quote([]byte("  a\n\tb\x00c  ")); got != "a b c" {
		t.Errorf("whitespace/control collapse: %q", got)
	}
}

func TestRegisterHeader(t *testing.T) {
	RegisterHeader("Basic " + base64.StdEncoding.EncodeToString([]byte("user:hdr-pass-1")))
	RegisterHeader("Token opaque-hdr-2")
	for _, s := range []string{"hdr-pass-1", "opaque-hdr-2", url.QueryEscape("hdr-pass-1")} {
		if strings.Contains(String("x "+s+" y"), s) {
			t.Errorf("%q not redacted after RegisterHeader", s)
		}
	}
}

// The registered set is bounded: a long-running process that registers a
// new token every few minutes does not grow without limit. The newest
// values are kept; re-registering a value keeps it among the newest.
func TestRegisteredSetIsBounded(t *testing.T) {
	const keep = "keep-me-registered-0123456789"
	Register(keep)
	for i := 0; i < MaxSecrets+500; i++ {
		Register(fmt.Sprintf("bounded-secret-%06d-xyz", i))
		if i%1000 == 0 {
			Register(keep) // still in use
		}
	}
	mu.RLock()
	nforms, values := len(known), len(queue)
	mu.RUnlock()
	if values > MaxSecrets || nforms > MaxSecrets*len(forms("x-probe-value")) {
		t.Fatalf("registered set grew to %d values, %d forms; bound %d values", values, nforms, MaxSecrets)
	}
	last := fmt.Sprintf("bounded-secret-%06d-xyz", MaxSecrets+499)
	if got := String("a " + last + " b " + keep); strings.Contains(got, last) || strings.Contains(got, keep) {
		t.Fatalf("the newest and a re-registered value must stay redacted: %q", got)
	}
}

// net/url and net/http errors quote the request URL whole. Its credential
// parts — a password in the user info, the value of a credential-named
// query parameter (SAS sig, code, key, api-key …) — are removed even when
// nothing registered them; ordinary parameters stay for diagnosis.
func TestURLCredentialsInErrors(t *testing.T) {
	u := "https://bot:pw-unregistered-1@store.example/x?api-version=7.1&sig=Zm9vYmFyYmF6cXV4&code=q1w2e3r4t5&x-api-key=k-998877&top=5"
	_, err := url.Parse(u + "\x7f") // net/url quotes the input
	reqErr := &url.Error{Op: "Get", URL: u, Err: errors.New("dial tcp: connection refused")}
	for _, s := range []string{err.Error(), reqErr.Error()} {
		got := String(s)
		for _, secret := range []string{"pw-unregistered-1", "Zm9vYmFyYmF6cXV4", "q1w2e3r4t5", "k-998877"} {
			if strings.Contains(got, secret) {
				t.Errorf("%q survives in %q", secret, got)
			}
		}
		if !strings.Contains(got, "api-version=7.1") || !strings.Contains(got, "top=5") || !strings.Contains(got, "store.example") {
			t.Errorf("ordinary URL parts must stay: %q", got)
		}
	}
}
