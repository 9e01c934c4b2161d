package rotation_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/rotation"
)

// A failed listing names the operation once: the devops client's error already
// starts with "list PATs", and the wrapper must not say it again.
func TestListErrorNamesTheOperationOnce(t *testing.T) {
	inner := &devops.APIError{Op: "list PATs", Method: http.MethodGet, URL: "https://vssps.dev.azure.com/contoso/_apis/tokens/pats", Status: http.StatusUnauthorized}
	for _, e := range []*rotation.ListError{
		{Err: inner},
		{Err: inner, Account: rotation.Account{Organization: "contoso"}},
		{Err: errors.New("dial tcp: connection refused")},
	} {
		msg := e.Error()
		if n := strings.Count(msg, "list PATs"); n != 1 {
			t.Errorf("%q names the operation %d times, want once", msg, n)
		}
		if !strings.Contains(msg, "nothing was rotated") {
			t.Errorf("%q lost its advice", msg)
		}
		if e.Account.Organization != "" && !strings.Contains(msg, "contoso") {
			t.Errorf("%q does not name the account", msg)
		}
	}
}
