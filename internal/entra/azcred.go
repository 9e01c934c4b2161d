package entra

import (
	"context"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// AzureCredential is an azcore.TokenCredential (for Azure SDK clients such
// as Key Vault's azsecrets) that signs in with o for whatever scopes the
// client asks: one cached, reused token source per scope set.
func AzureCredential(o Options) azcore.TokenCredential {
	return &azCredential{o: o, srcs: map[string]TokenSource{}}
}

type azCredential struct {
	o    Options
	mu   sync.Mutex
	srcs map[string]TokenSource
}

func (c *azCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	scope := strings.Join(opts.Scopes, " ")
	c.mu.Lock()
	src, ok := c.srcs[scope]
	if !ok {
		o := c.o
		o.Scope = scope
		s, err := New(o)
		if err != nil {
			c.mu.Unlock()
			return azcore.AccessToken{}, err
		}
		src = ReuseTokenSource(s, 0)
		c.srcs[scope] = src
	}
	c.mu.Unlock()
	tok, err := src.Token(ctx)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return azcore.AccessToken{Token: tok.AccessToken, ExpiresOn: tok.ExpiresOn}, nil
}
