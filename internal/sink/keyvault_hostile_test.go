package sink

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/httpx/httpxtest"
)

// A vault that answers the authorized PUT with a 307 would get the PAT
// re-sent to wherever it points: Key Vault requests are never redirected.
func TestKeyVaultNeverFollowsARedirect(t *testing.T) {
	away := httpxtest.NewThief(t, `{}`)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/`+kvTestTenant+`", resource="https://vault.azure.net"`)
			w.WriteHeader(401)
			return
		}
		http.Redirect(w, r, away.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	params := `{"type":"azure-key-vault","vaultUrl":"` + srv.URL + `","secretName":"ado-pat","disableChallengeResourceVerification":true}`
	s, err := Build(Spec{Type: KeyVaultTypeName, Params: json.RawMessage(params), Where: "test"}, Deps{TokenCredential: &kvCred{}, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(context.Background(), kvTestPAT, Meta{Credential: "build", AuthorizationID: "a"})
	if away.Hits() != 0 {
		t.Fatalf("the redirect target received %q", away.Got())
	}
	var re *httpx.RedirectError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("want a redirect error naming the vault URL, got %v", err)
	}
}
