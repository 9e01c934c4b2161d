// Package graph is patrol's client for the part of Microsoft Graph that
// manages an Entra application's credentials: the application by appId,
// its passwords (addPassword, removePassword) and its federated identity
// credentials. It authenticates with an Entra token for
// https://graph.microsoft.com/.default and talks HTTPS only.
package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/redact"
)

// Scope is the Entra scope of Graph tokens.
const Scope = "https://graph.microsoft.com/.default"

// DefaultURL is Graph's base URL (env PATROL_GRAPH_URL overrides it).
const DefaultURL = "https://graph.microsoft.com"

// FederatedAudience is the audience of federated identity credentials.
const FederatedAudience = "api://AzureADTokenExchange"

// Options configure New.
type Options struct {
	// BaseURL of Graph (append /v1.0/…); default DefaultURL. Must be https.
	BaseURL string
	// Token yields Graph tokens (scope Scope).
	Token entra.TokenSource
	// HTTPClient; nil = a default httpx client. Redirects are refused.
	HTTPClient *http.Client
}

// Client calls Graph.
type Client struct {
	base  string
	token entra.TokenSource
	hc    *http.Client
}

// New checks the options and returns a client.
func New(o Options) (*Client, error) {
	if o.BaseURL == "" {
		o.BaseURL = DefaultURL
	}
	u, err := url.Parse(o.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errkind.New(errkind.Usage, fmt.Errorf("graph URL %q: give an https:// URL such as %s (credentials are never sent over plain HTTP)", o.BaseURL, DefaultURL))
	}
	if o.Token == nil {
		return nil, errors.New("graph: no token source")
	}
	// Never redirected (an answer may carry a new secret, a request the
	// bearer token), answers bounded: internal/httpx, purpose Graph.
	return &Client{base: strings.TrimSuffix(o.BaseURL, "/"), token: o.Token, hc: httpx.For(o.HTTPClient, httpx.Graph)}, nil
}

// PasswordCredential is an application password. SecretText is set only in
// the answer of AddPassword.
type PasswordCredential struct {
	KeyID         string    `json:"keyId"`
	DisplayName   string    `json:"displayName,omitempty"`
	Hint          string    `json:"hint,omitempty"`
	StartDateTime time.Time `json:"startDateTime"`
	EndDateTime   time.Time `json:"endDateTime"`
	SecretText    string    `json:"secretText,omitempty"`
}

// String never shows the secret.
func (p PasswordCredential) String() string {
	return fmt.Sprintf("password %s (%s, ends %s)", p.KeyID, p.DisplayName, p.EndDateTime.Format(time.RFC3339))
}

// Application is an Entra application object.
type Application struct {
	ID                  string               `json:"id"`
	AppID               string               `json:"appId"`
	DisplayName         string               `json:"displayName"`
	PasswordCredentials []PasswordCredential `json:"passwordCredentials"`
}

// FederatedCredential is a federated identity credential of an application.
type FederatedCredential struct {
	ID          string   `json:"id,omitempty"`
	Name        string   `json:"name"`
	Issuer      string   `json:"issuer"`
	Subject     string   `json:"subject"`
	Description string   `json:"description,omitempty"`
	Audiences   []string `json:"audiences"`
}

// Error is a Graph error answer.
type Error struct {
	Op      string
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("graph %s: %d %s: %s", e.Op, e.Status, e.Code, e.Message)
}

// Kind maps the answer to patrol's exit codes.
func (e *Error) Kind() errkind.Kind {
	switch {
	case e.Status == http.StatusUnauthorized:
		return errkind.Auth
	case e.Status == http.StatusForbidden:
		return errkind.Permission
	case e.Status == http.StatusNotFound:
		return errkind.NotFound
	case e.Status == http.StatusTooManyRequests || e.Status >= 500:
		return errkind.Transient
	case e.Status == http.StatusConflict:
		return errkind.Conflict
	}
	return errkind.Unknown
}

// NotFound reports whether err is Graph's 404.
func NotFound(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Status == http.StatusNotFound
}

func (c *Client) do(ctx context.Context, op, method, path string, in, out any) error {
	tok, err := c.token.Token(ctx)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return errkind.New(errkind.Transient, fmt.Errorf("graph %s: %s", op, redact.Error(err)))
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if res.StatusCode/100 != 2 {
		return errorOf(op, res.StatusCode, b)
	}
	if out == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("graph %s: the answer is not the expected JSON: %v", op, err)
	}
	return nil
}

// errorOf reads Graph's error body {"error":{"code","message"}}.
func errorOf(op string, status int, b []byte) *Error {
	var ge struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(b, &ge)
	if ge.Error.Code == "" {
		ge.Error.Message = redact.QuoteN(b, 300)
	}
	return &Error{Op: op, Status: status, Code: ge.Error.Code, Message: redact.String(ge.Error.Message)}
}

func appPath(appID string) string {
	return "/v1.0/applications(appId='" + url.PathEscape(appID) + "')"
}

// AppRef names an application by its appId (client id) or by the object id
// of its application object (ObjectID wins when both are set).
type AppRef struct {
	AppID    string `json:"appId,omitempty"`
	ObjectID string `json:"objectId,omitempty"`
}

// String is "appId <id>" or "objectId <id>".
func (r AppRef) String() string {
	if r.ObjectID != "" {
		return "objectId " + r.ObjectID
	}
	return "appId " + r.AppID
}

func (r AppRef) path() string {
	if r.ObjectID != "" {
		return "/v1.0/applications/" + url.PathEscape(r.ObjectID)
	}
	return appPath(r.AppID)
}

// App reads the application r names.
func (c *Client) App(ctx context.Context, r AppRef) (Application, error) {
	var a Application
	err := c.do(ctx, "get application "+r.String(), http.MethodGet, r.path(), nil, &a)
	return a, err
}

// AddAppPassword adds a password to the application r names; the answer
// holds the secret (registered with redact).
func (c *Client) AddAppPassword(ctx context.Context, r AppRef, displayName string, end time.Time) (PasswordCredential, error) {
	var p PasswordCredential
	in := map[string]any{"passwordCredential": map[string]any{"displayName": displayName, "endDateTime": end.UTC().Format(time.RFC3339)}}
	err := c.do(ctx, "addPassword", http.MethodPost, r.path()+"/addPassword", in, &p)
	if err == nil && p.SecretText != "" {
		redact.Register(p.SecretText)
	}
	return p, err
}

// RemoveAppPassword removes the password keyID of the application r names;
// one already gone is not an error.
func (c *Client) RemoveAppPassword(ctx context.Context, r AppRef, keyID string) error {
	err := c.do(ctx, "removePassword "+keyID, http.MethodPost, r.path()+"/removePassword", map[string]string{"keyId": keyID}, nil)
	if NotFound(err) {
		return nil
	}
	return err
}

// Application reads the application whose appId (client id) is appID.
func (c *Client) Application(ctx context.Context, appID string) (Application, error) {
	return c.App(ctx, AppRef{AppID: appID})
}

// AddPassword adds a password to the application; the answer holds the secret.
func (c *Client) AddPassword(ctx context.Context, appID, displayName string, end time.Time) (PasswordCredential, error) {
	return c.AddAppPassword(ctx, AppRef{AppID: appID}, displayName, end)
}

// RemovePassword removes the password keyID; one already gone is not an error.
func (c *Client) RemovePassword(ctx context.Context, appID, keyID string) error {
	return c.RemoveAppPassword(ctx, AppRef{AppID: appID}, keyID)
}

// FederatedCredentials lists the application's federated identity credentials.
func (c *Client) FederatedCredentials(ctx context.Context, appID string) ([]FederatedCredential, error) {
	var out struct {
		Value []FederatedCredential `json:"value"`
	}
	err := c.do(ctx, "list federated credentials", http.MethodGet, appPath(appID)+"/federatedIdentityCredentials", nil, &out)
	return out.Value, err
}

// AddFederatedCredential creates a federated identity credential.
func (c *Client) AddFederatedCredential(ctx context.Context, appID string, f FederatedCredential) (FederatedCredential, error) {
	if len(f.Audiences) == 0 {
		f.Audiences = []string{FederatedAudience}
	}
	var out FederatedCredential
	err := c.do(ctx, "add federated credential "+f.Name, http.MethodPost, appPath(appID)+"/federatedIdentityCredentials", f, &out)
	return out, err
}

// EnsureFederatedCredential adds a credential for issuer and subject unless
// the application has one; it reports whether it added one.
func (c *Client) EnsureFederatedCredential(ctx context.Context, appID, name, issuer, subject, description string) (bool, error) {
	fics, err := c.FederatedCredentials(ctx, appID)
	if err != nil {
		return false, err
	}
	for _, f := range fics {
		if f.Issuer == issuer && f.Subject == subject {
			return false, nil
		}
	}
	_, err = c.AddFederatedCredential(ctx, appID, FederatedCredential{Name: name, Issuer: issuer, Subject: subject, Description: description})
	return err == nil, err
}
