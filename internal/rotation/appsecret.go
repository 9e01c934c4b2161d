package rotation

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/graph"
)

// entra-app-secret credentials: the client secrets (password credentials)
// of an Entra application, managed through Microsoft Graph, ride on the
// same engine as PATs. AppSecretClient is a PATClient whose "PATs" are the
// application's passwords: the keyId is the authorizationId, the display
// name is the managed name (DisplayName), startDateTime/endDateTime are
// validFrom/validTo. So the plan, the crash-safe apply order, the sink
// check before every removal, orphan clean-up and the gracePeriod apply
// unchanged:
//
//  1. addPassword (display name patrol:<credential>:<time>-<attempt>,
//     endDateTime now + lifetime);
//  2. the new secret signs in with client credentials against the tenant,
//     retried within VerifyWithin while Entra replicates it — a secret that
//     never signs in is removed and never delivered;
//  3. every sink takes it; 4. sink verifiers (a service connection's
//     TestConnection); 5. removePassword of the keyIds it replaced, once no
//     sink holds them (after gracePeriod).
//
// Passwords whose display name is not patrol:<this credential>:… (the
// application's other secrets, another credential's) are never removed:
// planning picks managed passwords by name, as for PATs.
//
// Each application is its own account (Account.Application), listed once
// per run with one GET of the application.

// AppPasswordsAPI is what AppSecretClient needs from *graph.Client.
type AppPasswordsAPI interface {
	App(ctx context.Context, r graph.AppRef) (graph.Application, error)
	AddAppPassword(ctx context.Context, r graph.AppRef, displayName string, end time.Time) (graph.PasswordCredential, error)
	RemoveAppPassword(ctx context.Context, r graph.AppRef, keyID string) error
}

// SignInFunc checks that secret signs in as the application appID (client
// credentials against its tenant).
type SignInFunc func(ctx context.Context, appID, secret string) error

// Defaults of AppSecretClient's verification.
const (
	DefaultAppSecretVerifyWithin = config.AppSecretVerifyTimeout
	DefaultAppSecretVerifyEvery  = 10 * time.Second
)

// AppSecretClient manages one application's passwords as PATs.
type AppSecretClient struct {
	Graph AppPasswordsAPI
	App   graph.AppRef
	// SignIn verifies a new secret (ClientCredentialsSignIn).
	SignIn SignInFunc
	// VerifyWithin bounds the sign-in retries of a new secret (default
	// DefaultAppSecretVerifyWithin); the pause between them doubles from
	// 1 s (or VerifyEvery, if shorter) up to VerifyEvery (default
	// DefaultAppSecretVerifyEvery).
	VerifyWithin, VerifyEvery time.Duration

	mu    sync.Mutex
	appID string // learned from the application when App names it by object id
}

var _ PATClient = (*AppSecretClient)(nil)

func passwordAsPAT(appID string, p graph.PasswordCredential) api.PatToken {
	t := api.PatToken{AuthorizationID: p.KeyID, DisplayName: p.DisplayName, ValidFrom: p.StartDateTime.UTC(), ValidTo: p.EndDateTime.UTC(),
		TargetAccounts: []string{appID}} // never "global"
	if p.SecretText != "" {
		s := p.SecretText
		t.Token = &s
	}
	return t
}

func (c *AppSecretClient) application(ctx context.Context) (graph.Application, error) {
	a, err := c.Graph.App(ctx, c.App)
	if err != nil {
		return a, err
	}
	c.mu.Lock()
	c.appID = a.AppID
	c.mu.Unlock()
	return a, nil
}

func (c *AppSecretClient) clientID(ctx context.Context) (string, error) {
	if c.App.AppID != "" {
		return c.App.AppID, nil
	}
	c.mu.Lock()
	id := c.appID
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	a, err := c.application(ctx)
	return a.AppID, err
}

// ListPATs yields the application's passwords (expired ones included: an
// unheld expired managed password is cleaned up like any other).
func (c *AppSecretClient) ListPATs(ctx context.Context, _ devops.ListOptions) iter.Seq2[api.PatToken, error] {
	return func(yield func(api.PatToken, error) bool) {
		a, err := c.application(ctx)
		if err != nil {
			yield(api.PatToken{}, fmt.Errorf("read application %s: %w", c.App, err))
			return
		}
		for _, p := range a.PasswordCredentials {
			if !yield(passwordAsPAT(a.AppID, p), nil) {
				return
			}
		}
	}
}

// CreatePAT adds a password named req.DisplayName ending at req.ValidTo.
// When the answer is lost (a transport error or 5xx), the application is
// read again: a password of that name exists → *devops.CreateUnknownError
// with its keyId (the engine removes it unless a sink holds it).
func (c *AppSecretClient) CreatePAT(ctx context.Context, req api.PatTokenCreateRequest) (api.PatToken, error) {
	since := time.Now()
	p, err := c.Graph.AddAppPassword(ctx, c.App, req.DisplayName, req.ValidTo)
	if err == nil {
		id, _ := c.clientID(ctx)
		return passwordAsPAT(id, p), nil
	}
	var ge *graph.Error
	if errors.As(err, &ge) && ge.Status < 500 && ge.Status != 429 {
		return api.PatToken{}, err // refused: nothing was created
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	a, lerr := c.Graph.App(cctx, c.App)
	if lerr != nil {
		return api.PatToken{}, &devops.CreateUnknownError{DisplayName: req.DisplayName, Since: since, Cause: err}
	}
	for _, q := range a.PasswordCredentials {
		if q.DisplayName == req.DisplayName {
			return api.PatToken{}, &devops.CreateUnknownError{DisplayName: req.DisplayName, AuthorizationID: q.KeyID, Since: since, Cause: err}
		}
	}
	return api.PatToken{}, err
}

// RevokePAT removes the password keyID (one already gone is not an error).
func (c *AppSecretClient) RevokePAT(ctx context.Context, keyID string) error {
	return c.Graph.RemoveAppPassword(ctx, c.App, keyID)
}

// AppSecretVerifyError: a new application secret did not sign in within
// the bound.
type AppSecretVerifyError struct {
	App      string
	Within   time.Duration
	Attempts int
	Err      error
}

func (e *AppSecretVerifyError) Error() string {
	return fmt.Sprintf("the new secret of application %s did not sign in (client credentials) within %s (%d attempts; Entra may still be replicating it, or the tenant refuses it): %v",
		e.App, e.Within, e.Attempts, e.Err)
}
func (e *AppSecretVerifyError) Unwrap() error { return e.Err }

// Kind is Transient: a later run normally succeeds once Entra replicated.
func (e *AppSecretVerifyError) Kind() errkind.Kind { return errkind.Transient }

// VerifyPAT signs in with secret as the application, retrying (replication
// delay) until VerifyWithin has passed.
func (c *AppSecretClient) VerifyPAT(ctx context.Context, secret string) (api.ConnectionData, error) {
	if c.SignIn == nil {
		return api.ConnectionData{}, errors.New("no sign-in to verify application secrets with")
	}
	appID, err := c.clientID(ctx)
	if err != nil {
		return api.ConnectionData{}, err
	}
	within, every := c.VerifyWithin, c.VerifyEvery
	if within <= 0 {
		within = DefaultAppSecretVerifyWithin
	}
	if every <= 0 {
		every = DefaultAppSecretVerifyEvery
	}
	deadline := time.Now().Add(within)
	pause := min(time.Second, every)
	for attempt := 1; ; attempt++ {
		err := c.SignIn(ctx, appID, secret)
		if err == nil {
			return api.ConnectionData{}, nil
		}
		if ctx.Err() != nil || !time.Now().Add(pause).Before(deadline) {
			return api.ConnectionData{}, &AppSecretVerifyError{App: appID, Within: within, Attempts: attempt, Err: err}
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, every) // 1 s, 2 s, 4 s, then every
	}
}

// ClientCredentialsSignIn is a SignInFunc: a client-credentials sign-in
// with base's authority, tenant, scope (default Graph's) and HTTP client, no
// cache.
func ClientCredentialsSignIn(base entra.Options) SignInFunc {
	return func(ctx context.Context, appID, secret string) error {
		o := entra.Options{Method: entra.MethodClientSecret, AuthorityHost: base.AuthorityHost, TenantID: base.TenantID,
			ClientID: appID, ClientSecret: secret, Scope: base.Scope, DisableInstanceDiscovery: base.DisableInstanceDiscovery,
			HTTPClient: base.HTTPClient, Logger: base.Logger}
		if o.Scope == "" {
			o.Scope = graph.Scope
		}
		ts, err := entra.New(o)
		if err != nil {
			return err
		}
		_, err = ts.Token(ctx)
		return err
	}
}

// credNoun is what a credential kind's secrets are called in messages.
func credNoun(kind string) string {
	if kind == config.KindEntraAppSecret {
		return "application secret"
	}
	return "PAT"
}

// isAppSecret reports whether c is of kind entra-app-secret.
func isAppSecret(c config.Credential) bool {
	return strings.EqualFold(c.Kind, config.KindEntraAppSecret)
}
