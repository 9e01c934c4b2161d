package httpx

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// Purpose names what an outbound client is for. Each purpose has exactly one
// redirect policy and one response-body limit, both defined here and listed
// in docs/security.md; every client patrol builds goes through For (or, for
// SDKs that build their own transport, through CheckRedirect and
// LimitTransport), so the policies live in one place.
type Purpose int

// The purposes. Redirect policies:
//   - refuse: any 3xx is an error naming both URLs (a credential must not
//     be re-sent anywhere the configuration did not name);
//   - report: the 3xx is returned to the caller unfollowed, which reports it
//     (Azure DevOps' sign-in redirect is how it says a token was refused);
//   - same-origin: followed only to the same scheme, host and port, at most
//     MaxRedirects times, else an error naming both URLs.
const (
	// Token endpoints: Entra ROPC/device-code/refresh posts, azidentity's
	// pipeline (token, instance discovery, managed identity), a JWT
	// scheme's token endpoint, a two-hop auth server. refuse, 2 MiB (Entra
	// answers are read to 1 MiB), https only (plain http only to loopback
	// and 169.254.169.254, where managed-identity endpoints live).
	Token Purpose = iota
	// DevOps: the Azure DevOps REST API (PATs, endpoints, variable groups,
	// connectionData). report, 16 MiB.
	DevOps
	// DataSource: service-endpoint data sources and endpoint tests, whose
	// scheme adds credentials to every request it sends. same-origin, 2 MiB
	// (Azure DevOps' own data-source limit).
	DataSource
	// Sink: the http sink's delivery request, which carries the PAT.
	// refuse, 1 MiB.
	Sink
	// KeyVault: azsecrets. refuse, 4 MiB.
	KeyVault
	// Kubernetes: client-go (Secrets, Leases). refuse, 16 MiB.
	Kubernetes
	// Pushgateway: the metrics push. refuse, 1 MiB.
	Pushgateway
	// Notify: webhook notices (internal/notify; https only, enforced
	// there). refuse, 64 KiB.
	Notify
	// Graph: Microsoft Graph (internal/graph: application passwords and
	// federated credentials; its answers carry new secrets). refuse, 4 MiB.
	Graph
)

// MaxRedirects bounds same-origin redirects.
const MaxRedirects = 5

type policy int

const (
	refuse policy = iota
	report
	sameOrigin
)

type purposeSpec struct {
	name      string
	redirect  policy
	maxBody   int64
	fix       string
	httpsOnly bool // plain http only to loopback and the link-local IMDS address
}

var purposes = map[Purpose]purposeSpec{
	Token:       {"token endpoint", refuse, 2 << 20, "point the authority / token URL at the endpoint itself", true},
	DevOps:      {"Azure DevOps", report, 16 << 20, "check the Azure DevOps URLs", false},
	DataSource:  {"data source", sameOrigin, 2 << 20, "use the final URL in the endpoint or data source; patrol never sends an endpoint's credentials to another host", false},
	Sink:        {"http sink", refuse, 1 << 20, "set the sink's url to the final https URL", false},
	KeyVault:    {"Key Vault", refuse, 4 << 20, "check vaultUrl", false},
	Kubernetes:  {"Kubernetes API", refuse, 16 << 20, "check the kubeconfig's server URL", false},
	Pushgateway: {"Pushgateway", refuse, 1 << 20, "set rotation.metrics.pushgateway to the final URL", false},
	Notify:      {"notify webhook", refuse, 64 << 10, "set the notifier's URL to the final https URL", false},
	Graph:       {"Microsoft Graph", refuse, 4 << 20, "point PATROL_GRAPH_URL at Graph itself", false},
}

func (p Purpose) spec() purposeSpec {
	if s, ok := purposes[p]; ok {
		return s
	}
	return purposeSpec{"unknown purpose", refuse, 1 << 20, "report a bug", true}
}

// String is the purpose's name as used in errors.
func (p Purpose) String() string { return p.spec().name }

// MaxBody is the purpose's response-body limit in bytes (after
// decompression).
func (p Purpose) MaxBody() int64 { return p.spec().maxBody }

// RedirectError is a redirect that the purpose's policy does not follow.
type RedirectError struct {
	Purpose  Purpose
	Status   int
	From, To string // redacted (no user info, no query)
	Reason   string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("%s %s answered HTTP %d redirecting to %s: %s; %s", e.Purpose, e.From, e.Status, e.To, e.Reason, e.Purpose.spec().fix)
}

// Kind is errkind.Usage: the configuration names a URL that is not the endpoint.
func (e *RedirectError) Kind() errkind.Kind { return errkind.Usage }

// NonRetriable tells azcore's retry policy (and Permanent) not to retry.
func (e *RedirectError) NonRetriable() {}

// CheckRedirect returns the http.Client.CheckRedirect of purpose p.
func CheckRedirect(p Purpose) func(*http.Request, []*http.Request) error {
	s := p.spec()
	return func(req *http.Request, via []*http.Request) error {
		prev := via[len(via)-1]
		status := 0
		if req.Response != nil {
			status = req.Response.StatusCode
		}
		e := &RedirectError{Purpose: p, Status: status, From: RedactURL(prev.URL), To: RedactURL(req.URL)}
		switch s.redirect {
		case report:
			return http.ErrUseLastResponse
		case sameOrigin:
			first := via[0].URL
			if !sameOriginURL(first, req.URL) {
				e.Reason = "a redirect to another scheme, host or port is not followed (the request carries the endpoint's credentials)"
				return e
			}
			if len(via) > MaxRedirects {
				e.Reason = fmt.Sprintf("more than %d redirects", MaxRedirects)
				return e
			}
			return nil
		}
		e.Reason = "patrol does not follow redirects here (the request carries a credential)"
		return e
	}
}

func sameOriginURL(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// RedactURL renders u without user info, query or fragment, for messages.
func RedactURL(u *url.URL) string {
	if u == nil {
		return "(no URL)"
	}
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.ForceQuery = false
	c.Fragment = ""
	c.RawFragment = ""
	return c.String()
}

// For returns a copy of base (nil: a default New client) with purpose p's
// redirect policy and body limit. The copy shares base's transport
// (connections, proxy, TLS roots, timeouts).
func For(base *http.Client, p Purpose) *http.Client {
	return ForLimit(base, p, p.MaxBody())
}

// ForLimit is For with another body limit (a data source's configured one).
func ForLimit(base *http.Client, p Purpose, limit int64) *http.Client {
	if base == nil {
		base, _ = New(Options{}) // no CA bundle: cannot fail
	}
	c := *base
	c.CheckRedirect = CheckRedirect(p)
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if lt, ok := rt.(*limitTransport); ok {
		rt = lt.base
	}
	c.Transport = &limitTransport{base: rt, p: p, limit: limit}
	return &c
}

// LimitTransport wraps rt so that every response body is cut off with a
// *LimitError after p's limit (bytes after decompression), for SDKs that
// build their own client (client-go).
func LimitTransport(rt http.RoundTripper, p Purpose) http.RoundTripper {
	return &limitTransport{base: rt, p: p, limit: p.MaxBody()}
}

type limitTransport struct {
	base  http.RoundTripper
	p     Purpose
	limit int64
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.p.spec().httpsOnly && !strings.EqualFold(req.URL.Scheme, "https") && !localHost(req.URL.Hostname()) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &InsecureError{Purpose: t.p, URL: RedactURL(req.URL)}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp == nil || resp.Body == nil {
		return resp, err
	}
	resp.Body = LimitBody(resp.Body, t.limit, t.p.String(), req.URL)
	return resp, nil
}

// CloseIdleConnections reaches the base transport.
func (t *limitTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Unwrap returns the wrapped transport.
func (t *limitTransport) Unwrap() http.RoundTripper { return t.base }

// localHost reports loopback names and addresses and the link-local
// instance-metadata address: plain http to them never leaves the host.
func localHost(h string) bool {
	if strings.EqualFold(h, "localhost") || h == "169.254.169.254" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// InsecureError is a credential-bearing request to a plain-http URL.
type InsecureError struct {
	Purpose Purpose
	URL     string // redacted
}

func (e *InsecureError) Error() string {
	return fmt.Sprintf("%s %s is plain http: patrol sends credentials only over https (plain http only to this machine); use an https:// URL (nothing was sent)", e.Purpose, e.URL)
}

// Kind is errkind.Usage.
func (e *InsecureError) Kind() errkind.Kind { return errkind.Usage }

// NonRetriable tells azcore's retry policy (and Permanent) not to retry.
func (e *InsecureError) NonRetriable() {}

// LimitError says a response body was larger than patrol accepts.
type LimitError struct {
	What  string
	URL   string // redacted
	Limit int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("the response of %s (%s) is larger than %s, patrol's limit for it; patrol stopped reading (is the URL right? a proxy or a misbehaving server can send endless data)", e.URL, e.What, humanBytes(e.Limit))
}

// Kind is errkind.Usage: no retry helps; the URL or the query must change.
func (e *LimitError) Kind() errkind.Kind { return errkind.Usage }

// NonRetriable tells azcore's retry policy (and Permanent) not to retry.
func (e *LimitError) NonRetriable() {}

// Permanent reports whether err holds a refused redirect or an oversized
// answer, which no retry changes.
func Permanent(err error) bool {
	var re *RedirectError
	var le *LimitError
	var ie *InsecureError
	return errors.As(err, &re) || errors.As(err, &le) || errors.As(err, &ie)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// LimitBody wraps body so that reading past limit bytes fails with a
// *LimitError naming u and what. Reading exactly limit bytes is fine.
func LimitBody(body io.ReadCloser, limit int64, what string, u *url.URL) io.ReadCloser {
	if lb, ok := body.(*limitedBody); ok && lb.left <= limit {
		return lb
	}
	return &limitedBody{rc: body, left: limit, err: &LimitError{What: what, URL: RedactURL(u), Limit: limit}}
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
	err  *LimitError
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One probe byte tells "exactly at the limit" from "more".
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, b.err
		}
		if err == nil {
			return 0, nil
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// ReadBody reads resp's whole body, at most limit bytes (after
// decompression), and closes it. Past the limit it fails with a *LimitError
// naming the request URL and what.
func ReadBody(resp *http.Response, limit int64, what string) ([]byte, error) {
	defer resp.Body.Close()
	var u *url.URL
	if resp.Request != nil {
		u = resp.Request.URL
	}
	b, err := io.ReadAll(LimitBody(resp.Body, limit, what, u))
	var le *LimitError
	if errors.As(err, &le) {
		return nil, le
	}
	return b, err
}
