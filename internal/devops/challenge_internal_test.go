package devops

import (
	"encoding/base64"
	"net/http"
	"testing"
)

func TestClaimsChallengeParsing(t *testing.T) {
	claims := `{"access_token":{"nbf":{"essential":true,"value":"1796198400"}}}`
	b64 := base64.StdEncoding.EncodeToString([]byte(claims))
	cases := []struct {
		name   string
		values []string
		want   string
	}{
		{"graph shape", []string{`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="` + b64 + `"`}, claims},
		{"second header value", []string{`Basic realm="https://dev.azure.com/"`, `Bearer error="insufficient_claims",claims="` + b64 + `"`}, claims},
		{"after Basic in one value", []string{`Basic realm="x", Bearer authorization_uri="https://login/t", error="insufficient_claims", claims="` + b64 + `"`}, claims},
		{"unpadded", []string{`Bearer error="insufficient_claims", claims="` + base64.RawStdEncoding.EncodeToString([]byte(claims)) + `"`}, claims},
		{"no error", []string{`Bearer authorization_uri="https://login/t", claims="` + b64 + `"`}, ""},
		{"other error", []string{`Bearer error="invalid_token", claims="` + b64 + `"`}, ""},
		{"plain discovery", []string{`Bearer authorization_uri=https://login.microsoftonline.com/tid`}, ""},
		{"bad base64", []string{`Bearer error="insufficient_claims", claims="%%%"`}, ""},
		{"none", nil, ""},
	}
	for _, tc := range cases {
		h := http.Header{}
		for _, v := range tc.values {
			h.Add("WWW-Authenticate", v)
		}
		got, ok := claimsChallenge(h)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: got %q %v, want %q", tc.name, got, ok, tc.want)
		}
	}
}
