package emulator

import (
	"context"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// TestClaimsChallengeWithAzureSDK: Microsoft's own client stack, unmodified —
// azcore's BearerTokenPolicy and azidentity's (MSAL) ROPC credential —
// recognises the emulator's CAE challenge after revokeSignInSessions, asks
// the token endpoint again with the claims request and succeeds on its one
// retry.
func TestClaimsChallengeWithAzureSDK(t *testing.T) {
	e := start(t, Options{})
	// ROPC (deprecated in azidentity, still MSAL's) gives a user token from Microsoft's library.
	cred, err := azidentity.NewUsernamePasswordCredential(DefaultTenantID, DefaultClientID, DefaultUser, DefaultPassword,
		&azidentity.UsernamePasswordCredentialOptions{ClientOptions: clientOpts(e), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := clientOpts(e)
	pl := runtime.NewPipeline("emulator-test", "v0", runtime.PipelineOptions{
		PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(cred, []string{api.Scope}, nil)},
	}, &opts)
	get := func() int {
		req, err := runtime.NewRequest(context.Background(), http.MethodGet, e.DevOpsURL()+"/"+DefaultOrg+"/_apis/connectionData")
		if err != nil {
			t.Fatal(err)
		}
		res, err := pl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := get(); s != 200 {
		t.Fatalf("before the revocation: %d", s)
	}
	if _, err := e.RevokeSignInSessions(DefaultUser); err != nil {
		t.Fatal(err)
	}
	e.ResetCounters()
	if s := get(); s != 200 {
		t.Fatalf("after the revocation the SDK did not recover: %d (counters %v)", s, e.Counters())
	}
	c := e.Counters()
	if c["POST /{tenant}/oauth2/v2.0/token password claims"] != 1 || c["GET /devops/{org}/_apis/connectiondata"] != 2 {
		t.Fatalf("want one token request with claims and two calls (refused, retried): %v", c)
	}
}
