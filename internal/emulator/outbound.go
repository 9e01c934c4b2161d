package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ---- outbound calls of the endpointproxy: loopback only unless allowed ----
//
// The endpointproxy calls the third-party tool a service connection names.
// An emulator is a sandbox: by default it reaches only this machine's
// loopback addresses, and a connection URL elsewhere fails before any DNS
// lookup or dial with a message that says how to allow it
// (`patrol emulator --allow-outbound HOST[:PORT]`, Options.AllowOutbound).
// The check runs three times: on each request URL (so redirects and proxies
// are covered), on each dial address before it is resolved, and — in the
// dialer's Control hook — on the resolved IP the socket is about to connect
// to, so a name that resolves to a non-loopback address is refused too.

// Resolver resolves host names for the emulator's outbound calls
// (*net.Resolver satisfies it).
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// OutboundRefusedError is the error of an outbound call the emulator refused.
type OutboundRefusedError struct {
	Target string // host[:port] or IP the call wanted
	Reason string
}

func (e *OutboundRefusedError) Error() string {
	return fmt.Sprintf("the emulator refused an outbound call to %s: %s; the emulator calls only loopback addresses "+
		"(127.0.0.0/8, ::1, localhost) unless allowed: run `patrol emulator --allow-outbound %s` (emulator.Options.AllowOutbound in tests)",
		e.Target, e.Reason, e.Target)
}

// allowedHost is one --allow-outbound entry.
type allowedHost struct {
	host string // lower case, IPv6 without brackets
	port string // "" = any port
}

// ParseAllowOutbound validates --allow-outbound entries: HOST or HOST:PORT
// (IPv6 in brackets when a port is given), no scheme, path or wildcard.
func ParseAllowOutbound(entries []string) error {
	_, err := parseAllowed(entries)
	return err
}

func parseAllowed(entries []string) ([]allowedHost, error) {
	var out []allowedHost
	for _, raw := range entries {
		s := strings.TrimSpace(raw)
		bad := func(why string) error {
			return fmt.Errorf("allow-outbound entry %q: %s: give HOST or HOST:PORT, e.g. tool.example.com or 10.0.0.5:8443 or [2001:db8::1]:443", raw, why)
		}
		switch {
		case s == "":
			return nil, bad("it is empty")
		case strings.Contains(s, "://") || strings.ContainsAny(s, "/?#@*"):
			return nil, bad("it is not a bare host (no scheme, path, user or wildcard)")
		}
		a := allowedHost{host: s}
		if h, p, err := net.SplitHostPort(s); err == nil {
			n, perr := strconv.Atoi(p)
			if perr != nil || n < 1 || n > 65535 {
				return nil, bad("the port is not a number between 1 and 65535")
			}
			a = allowedHost{host: h, port: p}
		} else if strings.Count(s, ":") == 1 {
			return nil, bad("the port is missing after the colon")
		}
		a.host = strings.ToLower(strings.Trim(a.host, "[]"))
		if a.host == "" {
			return nil, bad("the host is empty")
		}
		out = append(out, a)
	}
	return out, nil
}

// outboundGuard enforces the outbound policy.
type outboundGuard struct {
	allow    []allowedHost
	resolver Resolver
}

func newOutboundGuard(entries []string, r Resolver) (*outboundGuard, error) {
	allow, err := parseAllowed(entries)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = net.DefaultResolver
	}
	return &outboundGuard{allow: allow, resolver: r}, nil
}

// allowed reports whether host:port was allowed by name or address.
func (g *outboundGuard) allowed(host, port string) bool {
	host = strings.ToLower(strings.Trim(host, "[]"))
	for _, a := range g.allow {
		if a.host == host && (a.port == "" || a.port == port) {
			return true
		}
	}
	return false
}

func isLoopbackName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

func isLoopbackIP(host string) bool {
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// check is the textual check of a target (URL host or dial address): no DNS.
func (g *outboundGuard) check(host, port string) error {
	switch {
	case isLoopbackIP(host), isLoopbackName(host), g.allowed(host, port):
		return nil
	}
	target := host
	if strings.Contains(target, ":") {
		target = "[" + target + "]"
	}
	if port != "" {
		target += ":" + port
	}
	return &OutboundRefusedError{Target: target, Reason: "it is not a loopback address"}
}

// dialContext resolves (only targets check let through) and dials; the
// dialer's Control hook refuses a non-loopback socket address unless the
// dial target was allowed explicitly.
func (g *outboundGuard) dialContext(inner func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if err := g.check(host, port); err != nil {
			return nil, err
		}
		explicit := g.allowed(host, port)
		ips := []string{strings.Trim(host, "[]")}
		if !isLoopbackIP(host) && net.ParseIP(strings.Trim(host, "[]")) == nil {
			addrs, err := g.resolver.LookupIPAddr(ctx, host)
			if err != nil {
				return nil, err
			}
			ips = ips[:0]
			for _, a := range addrs {
				if !explicit && !a.IP.IsLoopback() {
					return nil, &OutboundRefusedError{Target: net.JoinHostPort(host, port),
						Reason: fmt.Sprintf("the name resolves to %s, which is not a loopback address", a.IP)}
				}
				ips = append(ips, a.IP.String())
			}
			if len(ips) == 0 {
				return nil, fmt.Errorf("outbound call to %s: the name resolves to no address", addr)
			}
		}
		d := inner
		if d == nil {
			d = (&net.Dialer{Timeout: 30 * time.Second, Control: g.control(explicit)}).DialContext
		}
		var errs []error
		for _, ip := range ips {
			c, err := d(ctx, network, net.JoinHostPort(ip, port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}

// control is the net.Dialer Control hook: the last check, on the address
// the socket connects to.
func (g *outboundGuard) control(explicit bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		if explicit || isLoopbackIP(host) || g.allowed(host, port) {
			return nil
		}
		return &OutboundRefusedError{Target: address, Reason: "the connection would go to a non-loopback address"}
	}
}

// guardTransport checks every request URL (each redirect hop included)
// before handing it to the next transport.
type guardTransport struct {
	g    *outboundGuard
	next http.RoundTripper
}

func (t *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.g.check(req.URL.Hostname(), req.URL.Port()); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// client returns base (nil = a client with system roots and a 60 s timeout)
// with the policy applied: an *http.Transport is cloned and its dials go
// through the guard; any transport is wrapped by the URL check.
func (g *outboundGuard) client(base *http.Client) *http.Client {
	if base == nil {
		base = &http.Client{Timeout: 60 * time.Second}
	}
	c := *base
	next := base.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	if tr, ok := next.(*http.Transport); ok {
		tr = tr.Clone()
		tr.DialContext = g.dialContext(tr.DialContext)
		tr.DialTLSContext = nil // TLS is layered over the guarded dial
		next = tr
	}
	c.Transport = &guardTransport{g: g, next: next}
	return &c
}
