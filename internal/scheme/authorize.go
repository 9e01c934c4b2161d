package scheme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/mustache"
	"github.com/patrol-dev/patrol/internal/redact"
)

// Authorizer adds an endpoint's credentials to an outgoing request.
type Authorizer interface {
	Authorize(ctx context.Context, req *http.Request) error
}

// Credentials is everything a request to the endpoint needs: headers (secret
// values included — never log them), TLS client certificate, extra trusted
// roots and whether the user explicitly disabled server verification.
type Credentials struct {
	Headers            http.Header
	ClientCert         *tls.Certificate
	RootCAs            *x509.CertPool
	InsecureSkipVerify bool
}

// Method names which of Azure DevOps' authorizers applies (§6 order).
type Method string

// Authorizer methods, in Azure DevOps' precedence order.
const (
	MethodDataSourceHeaders Method = "datasource-headers"
	MethodAzure             Method = "azure-entra" // ServicePrincipal, WIF, MSI
	MethodKubernetes        Method = "kubernetes"
	MethodNone              Method = "none"
	MethodJWT               Method = "jwt"
	MethodGenericBasic      Method = "generic-basic"
	MethodTemplated         Method = "templated-headers"
	MethodCertificate       Method = "certificate"
)

// Options configure an EndpointAuthorizer. Zero values are sensible.
type Options struct {
	// HTTPClient performs token requests (JWT audience, two-hop auth server,
	// Entra). Default: a client with a 30 s timeout and system roots.
	HTTPClient *http.Client
	// Now is the clock (JWT claims, cache expiry). Default time.Now.
	Now func() time.Time
	// Logger receives debug lines (never secret values). Default: discard.
	Logger *slog.Logger
	// DataSourceHeaders are a data source's own headers; when one of them is
	// Authorization they replace the scheme's authorizer (Azure DevOps' first rule).
	DataSourceHeaders []Header
	// RootCAs are trusted for calls to the endpoint when patrol has to build
	// its own transport (client certificate, extra CA, acceptUntrustedCerts)
	// and the base client's transport is not an *http.Transport.
	RootCAs *x509.CertPool
	// Cache holds fetched tokens (JWT, two-hop) across authorizers. Default: per authorizer.
	Cache *TokenCache

	// JWT extras beyond Azure DevOps (which sends none of them).
	JWTSubject     string
	JWTKeyID       string
	JWTExtraClaims map[string]any
	// JWTNoCache fetches a new token per request, as Azure DevOps does.
	JWTNoCache bool

	// Azure (ServicePrincipal, WorkloadIdentityFederation, ManagedServiceIdentity).
	// AzureAuthorityHost overrides the Entra authority (e.g. the emulator's).
	AzureAuthorityHost string
	// DisableInstanceDiscovery skips Entra instance discovery (emulator, sovereign clouds).
	DisableInstanceDiscovery bool
	// AzureScope is the token scope; default from the endpoint (data.scope or
	// the resource of data.environment), else https://management.azure.com/.default.
	AzureScope string
	// AzureCredential replaces the credential patrol would build from the endpoint.
	AzureCredential azcore.TokenCredential
	// FederatedTokenFile is the assertion file for WorkloadIdentityFederation
	// (default $AZURE_FEDERATED_TOKEN_FILE).
	FederatedTokenFile string
}

func (o *Options) defaults() {
	// Token requests (JWT token endpoint, two-hop auth server, Entra for
	// Azure endpoints) carry an assertion or a password: never redirected,
	// answers bounded (internal/httpx, purpose Token).
	o.HTTPClient = httpx.For(o.HTTPClient, httpx.Token)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Cache == nil {
		o.Cache = NewTokenCache()
	}
}

// EndpointAuthorizer authorizes requests for one endpoint of one type. It is
// safe for concurrent use.
type EndpointAuthorizer struct {
	ep     *api.ServiceEndpoint
	typ    *EndpointType
	scheme *Scheme
	method Method
	opts   Options

	headers []compiledHeader
	endCtx  map[string]any // endpoint: data ∪ parameters

	tlsOnce sync.Once
	tlsCert *tls.Certificate
	tlsRoot *x509.CertPool
	tlsErr  error

	azOnce sync.Once
	azCred azcore.TokenCredential
	azErr  error
}

type compiledHeader struct {
	name string
	tpl  *mustache.Template
}

var (
	helpersOnce sync.Once
	helperSet   *mustache.HelperSet
)

// Helpers returns the Mustache helper set patrol uses for scheme headers:
// the default set plus #getTokenUsingBasicAuth and the AWS SigV4 helpers
// #getCurrentUTCDate, #getHashedPayload, #getAuthorizationHeader (bound per
// request through the context given to RenderContext).
func Helpers() *mustache.HelperSet {
	helpersOnce.Do(func() {
		helperSet = mustache.DefaultHelpers()
		helperSet.Register("#getTokenUsingBasicAuth", helperTwoHop)
		helperSet.Register("#getCurrentUTCDate", helperAmzDate)
		helperSet.Register("#getHashedPayload", helperHashedPayload)
		helperSet.Register("#getAuthorizationHeader", helperAWSAuthorization)
	})
	return helperSet
}

// New builds the authorizer for ep (REST shape) of type t, choosing the
// method the way Azure DevOps does (first match wins): data-source headers
// with Authorization → ServicePrincipal → Kubernetes → None → JWT → type
// Generic (plain Basic) → templated headers (OAuth2, Token, InstallationToken,
// UsernamePassword, PersonalAccessToken, OAuth) → Certificate → Azure
// (WorkloadIdentityFederation, ManagedServiceIdentity).
func New(ep *api.ServiceEndpoint, t *EndpointType, opts Options) (*EndpointAuthorizer, error) {
	opts.defaults()
	if ep == nil || t == nil {
		return nil, errkind.New(errkind.Usage, errors.New("scheme.New: endpoint and type are required"))
	}
	s, err := ResolveScheme(ep, t)
	if err != nil {
		return nil, err
	}
	a := &EndpointAuthorizer{ep: ep, typ: t, scheme: s, opts: opts, endCtx: endpointContext(ep, true)}
	registerConfidential(ep, s, t)
	// Declared but unset inputs render as "" (e.g. SonarQube's empty password).
	for _, d := range s.InputDescriptors {
		found := false
		for k := range a.endCtx {
			if strings.EqualFold(k, d.ID) {
				found = true
				break
			}
		}
		if !found {
			a.endCtx[d.ID] = ""
		}
	}
	hasAuthHeader := false
	for _, h := range opts.DataSourceHeaders {
		if strings.EqualFold(h.Name, "Authorization") {
			hasAuthHeader = true
		}
	}
	name := strings.ToLower(s.Name)
	switch {
	case hasAuthHeader:
		a.method = MethodDataSourceHeaders
		err = a.compile(opts.DataSourceHeaders)
	case name == "serviceprincipal":
		a.method = MethodAzure
	case name == "azurestorage":
		return nil, authErr(s.Name, "authorize", errkind.Usage, "the AzureStorage scheme is proxied by Azure DevOps only; patrol cannot authorize it locally")
	case name == "kubernetes":
		a.method = MethodKubernetes
	case name == "none":
		a.method = MethodNone
	case name == "jwt":
		a.method = MethodJWT
	case strings.EqualFold(t.Name, "Generic"):
		a.method = MethodGenericBasic
	case name == "oauth2" || name == "token" || name == "installationtoken" || name == "usernamepassword" ||
		name == "personalaccesstoken" || name == "oauth":
		a.method = MethodTemplated
		err = a.compile(s.Headers)
	case name == "certificate":
		a.method = MethodCertificate
	case name == "workloadidentityfederation" || name == "managedserviceidentity":
		a.method = MethodAzure
	default:
		return nil, authErr(s.Name, "authorize", errkind.Usage, "patrol cannot authorize requests with scheme %s; supported: %s", s.Name, strings.Join(Names(), ", "))
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Method reports which authorizer applies.
func (a *EndpointAuthorizer) Method() Method { return a.method }

// Scheme is the endpoint's scheme as declared by its type.
func (a *EndpointAuthorizer) Scheme() *Scheme { return a.scheme }

func (a *EndpointAuthorizer) compile(hs []Header) error {
	for _, h := range hs {
		src := strings.TrimSpace(h.Value)
		tpl, err := mustache.ParseWith(src, mustache.Options{Helpers: Helpers(), Now: a.opts.Now, Strict: true})
		if err != nil {
			return &ManifestError{Source: a.typ.Source, Where: fmt.Sprintf("type %s scheme %s header %s", a.typ.Name, a.scheme.Name, h.Name),
				Err: fmt.Errorf("%w", err)}
		}
		a.headers = append(a.headers, compiledHeader{name: h.Name, tpl: tpl})
	}
	return nil
}

// endpointContext is data ∪ authorization.parameters (parameters win);
// null parameters are left out. withURL adds "url" (data-source contexts).
func endpointContext(ep *api.ServiceEndpoint, secrets bool) map[string]any {
	m := make(map[string]any, len(ep.Data)+8)
	for k, v := range ep.Data {
		m[k] = v
	}
	if secrets && ep.Authorization != nil {
		for k, v := range ep.Authorization.Parameters {
			if v != nil {
				m[k] = *v
			}
		}
	}
	return m
}

// requestContext is {Method, Host, AbsolutePath, Query} as .NET's Uri gives them.
func requestContext(method string, u *url.URL) map[string]any {
	q := ""
	if u.RawQuery != "" {
		q = "?" + u.RawQuery
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	return map[string]any{"Method": strings.ToUpper(method), "Host": u.Hostname(), "AbsolutePath": p, "Query": q}
}

type twoHopKey struct{}

// twoHopBinding is what #getTokenUsingBasicAuth sees of the request.
type twoHopBinding struct {
	a      *EndpointAuthorizer
	method string
	url    *url.URL
	at     time.Time
}

// Headers returns the headers the authorizer would add to a request of
// method to rawURL. Values are secrets: mask them before showing.
func (a *EndpointAuthorizer) Headers(ctx context.Context, method, rawURL string) (http.Header, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errkind.New(errkind.Usage, fmt.Errorf("request URL %q: %w", rawURL, err))
	}
	h := http.Header{}
	switch a.method {
	case MethodDataSourceHeaders, MethodTemplated:
		data := map[string]any{"endpoint": a.endCtx, "request": requestContext(method, u)}
		ctx = context.WithValue(ctx, twoHopKey{}, &twoHopBinding{a: a, method: strings.ToUpper(method), url: u, at: a.opts.Now()})
		for _, ch := range a.headers {
			v, err := ch.tpl.RenderContext(ctx, data)
			if err != nil {
				var ae *AuthError
				if errors.As(err, &ae) {
					return nil, ae
				}
				return nil, authErr(a.scheme.Name, "header "+ch.name, errkind.Usage, "%v", err)
			}
			if strings.ContainsAny(v, "\r\n") {
				return nil, authErr(a.scheme.Name, "header "+ch.name, errkind.Usage, "rendered value contains a line break; fix the template or the input it uses")
			}
			if v == "" {
				continue // Azure DevOps drops empty headers (e.g. the Jenkins crumb on GET)
			}
			h.Set(ch.name, v)
		}
	case MethodGenericBasic:
		user, pass := Param(a.ep, "username"), Param(a.ep, "password")
		if user != "" || pass != "" {
			h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
		}
	case MethodJWT:
		tok, err := a.jwtToken(ctx)
		if err != nil {
			return nil, err
		}
		h.Set("Authorization", "Bearer "+tok)
	case MethodAzure:
		tok, err := a.azureToken(ctx)
		if err != nil {
			return nil, err
		}
		h.Set("Authorization", "Bearer "+tok)
	case MethodKubernetes:
		kc, err := a.kube()
		if err != nil {
			return nil, err
		}
		if kc.token != "" {
			h.Set("Authorization", "Bearer "+kc.token)
		} else if kc.username != "" {
			h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(kc.username+":"+kc.password)))
		}
	case MethodNone, MethodCertificate:
	}
	return h, nil
}

// Resolve returns headers and TLS material for a request of method to rawURL.
func (a *EndpointAuthorizer) Resolve(ctx context.Context, method, rawURL string) (Credentials, error) {
	h, err := a.Headers(ctx, method, rawURL)
	if err != nil {
		return Credentials{}, err
	}
	cert, roots, err := a.TLSMaterial()
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{Headers: h, ClientCert: cert, RootCAs: roots, InsecureSkipVerify: a.InsecureSkipVerify()}, nil
}

// Authorize sets the endpoint's headers on req. Accept and Content-Type from
// scheme headers replace the request's own (Azure DevOps treats them as
// request properties), every other header is set.
func (a *EndpointAuthorizer) Authorize(ctx context.Context, req *http.Request) error {
	h, err := a.Headers(ctx, req.Method, req.URL.String())
	if err != nil {
		return err
	}
	for k, vs := range h {
		req.Header.Del(k)
		for _, v := range vs {
			// Every header the scheme produces is a credential (or derived
			// from one): a server echoing it must not get it into an error.
			redact.RegisterHeader(v)
			req.Header.Add(k, v)
		}
	}
	return nil
}

// registerConfidential registers the endpoint's confidential values (inputs
// the scheme or type marks isConfidential, and the well-known secret
// parameters) with internal/redact.
func registerConfidential(ep *api.ServiceEndpoint, s *Scheme, t *EndpointType) {
	if ep.Authorization == nil {
		return
	}
	secret := map[string]bool{"password": true, "apitoken": true, "accesstoken": true, "serviceprincipalkey": true, "privatekey": true,
		"certificate": true, "clientsecret": true, "token": true, "apikey": true, "secretaccesskey": true, "refreshtoken": true}
	for _, ds := range [][]InputDescriptor{s.InputDescriptors, t.InputDescriptors} {
		for _, d := range ds {
			if bool(d.IsConfidential) {
				secret[strings.ToLower(d.ID)] = true
			}
		}
	}
	for k, v := range ep.Authorization.Parameters {
		if v != nil && secret[strings.ToLower(k)] {
			redact.Register(*v)
		}
	}
}

// InsecureSkipVerify is true only when the endpoint's data says
// acceptUntrustedCerts = "true" (case-insensitive), exactly as Azure DevOps.
func (a *EndpointAuthorizer) InsecureSkipVerify() bool {
	v, _ := DataCI(a.ep.Data, "acceptUntrustedCerts")
	if !strings.EqualFold(strings.TrimSpace(v), "true") {
		v = Param(a.ep, "acceptUntrustedCerts")
	}
	return strings.EqualFold(strings.TrimSpace(v), "true")
}

// TLSMaterial returns the client certificate (Certificate scheme, None with
// clientCertificates, Kubernetes client certs) and extra trusted roots
// (Kubernetes CA, serviceAccountCertificate).
func (a *EndpointAuthorizer) TLSMaterial() (*tls.Certificate, *x509.CertPool, error) {
	a.tlsOnce.Do(func() {
		switch a.method {
		case MethodCertificate:
			a.tlsCert, a.tlsErr = a.certificate()
		case MethodNone:
			a.tlsCert, a.tlsErr = a.noneClientCert()
		case MethodTemplated:
			// Kubernetes ServiceAccount endpoints carry the cluster CA (base64 PEM).
			if ca := Param(a.ep, "serviceAccountCertificate"); ca != "" {
				p, err := toPEM(ca, "CERTIFICATE")
				if err != nil {
					a.tlsErr = authErr(a.scheme.Name, "serviceAccountCertificate", errkind.Usage, "%v", err)
					return
				}
				a.tlsRoot = x509.NewCertPool()
				if !a.tlsRoot.AppendCertsFromPEM(p) {
					a.tlsErr = authErr(a.scheme.Name, "serviceAccountCertificate", errkind.Usage, "no PEM certificate found")
				}
			}
		case MethodKubernetes:
			kc, err := a.kube()
			if err != nil {
				a.tlsErr = err
				return
			}
			a.tlsCert, a.tlsRoot = kc.cert, kc.roots
		}
	})
	return a.tlsCert, a.tlsRoot, a.tlsErr
}

// TLSConfig returns base (cloned; nil = defaults) with the endpoint's TLS material applied.
func (a *EndpointAuthorizer) TLSConfig(base *tls.Config) (*tls.Config, error) {
	cert, roots, err := a.TLSMaterial()
	if err != nil {
		return nil, err
	}
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cert != nil {
		cc := *cert
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cc, nil }
	}
	if roots != nil {
		c.RootCAs = roots
	}
	if a.InsecureSkipVerify() {
		a.opts.Logger.Warn("endpoint sets acceptUntrustedCerts=true: the server certificate is NOT verified", "endpoint", a.ep.Name)
		c.InsecureSkipVerify = true //nolint:gosec // explicit user choice recorded on the endpoint
	}
	return c, nil
}

// Client returns an *http.Client for calls to the endpoint: base's settings
// with the endpoint's TLS material and a transport that authorizes every
// request. base may be nil.
func (a *EndpointAuthorizer) Client(base *http.Client) (*http.Client, error) {
	cert, roots, err := a.TLSMaterial()
	if err != nil {
		return nil, err
	}
	var rt http.RoundTripper
	if base != nil && base.Transport != nil {
		if _, plain := base.Transport.(*http.Transport); !plain && cert == nil && roots == nil && !a.InsecureSkipVerify() {
			rt = base.Transport // opaque wrapper (User-Agent, CA bundle): keep it as is
		}
	}
	if rt == nil {
		var bt *http.Transport
		var baseTLS *tls.Config
		if base != nil {
			if t, ok := base.Transport.(*http.Transport); ok {
				bt = t.Clone()
				baseTLS = t.TLSClientConfig
			}
		}
		if bt == nil {
			bt = http.DefaultTransport.(*http.Transport).Clone()
			if a.opts.RootCAs != nil {
				baseTLS = &tls.Config{RootCAs: a.opts.RootCAs, MinVersion: tls.VersionTLS12}
			}
		}
		tc, err := a.TLSConfig(baseTLS)
		if err != nil {
			return nil, err
		}
		bt.TLSClientConfig = tc
		rt = bt
	}
	// The transport authorizes every request it sends, a redirected one
	// too: by default follow redirects on the endpoint's origin only
	// (internal/httpx, purpose DataSource); callers may narrow it.
	c := &http.Client{Transport: &authTransport{a: a, base: rt}, Timeout: 100 * time.Second, CheckRedirect: httpx.CheckRedirect(httpx.DataSource)}
	if base != nil {
		c.Timeout = base.Timeout
		c.Jar = base.Jar
	}
	return c, nil
}

type authTransport struct {
	a    *EndpointAuthorizer
	base http.RoundTripper
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if err := t.a.Authorize(req.Context(), r); err != nil {
		return nil, err
	}
	return t.base.RoundTrip(r)
}

// TokenCache caches fetched tokens by key until their expiry.
type TokenCache struct {
	mu sync.Mutex
	m  map[string]cachedToken
}

type cachedToken struct {
	value string
	until time.Time
}

// NewTokenCache returns an empty cache.
func NewTokenCache() *TokenCache { return &TokenCache{m: map[string]cachedToken{}} }

// Get returns the cached value for key if still valid at now.
func (c *TokenCache) Get(key string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[key]
	if !ok || !now.Before(t.until) {
		delete(c.m, key)
		return "", false
	}
	return t.value, true
}

// Put stores value until until.
func (c *TokenCache) Put(key, value string, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 1024 {
		c.m = map[string]cachedToken{}
	}
	c.m[key] = cachedToken{value: value, until: until}
}

// refreshAt returns when to stop using a token valid for life from now:
// 5 minutes early, or 10% early for short lifetimes.
func refreshAt(now time.Time, life time.Duration) time.Time {
	margin := 5 * time.Minute
	if life/10 < margin {
		margin = life / 10
	}
	return now.Add(life - margin)
}
