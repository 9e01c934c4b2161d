package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeResolver answers from a table and counts lookups; it never sends a
// DNS query.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]string
	lookups []string
}

func (f *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, host)
	var out []net.IPAddr
	for _, s := range f.answers[strings.ToLower(host)] {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	if out == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

func (f *fakeResolver) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.lookups)
}

// countingTransport is an *http.Transport whose dials are counted (and
// refused: a test must never reach a non-loopback address).
func countingTransport(dials *[]string, mu *sync.Mutex) *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		*dials = append(*dials, addr)
		mu.Unlock()
		host, _, _ := net.SplitHostPort(addr)
		if !net.ParseIP(host).IsLoopback() {
			return nil, fmt.Errorf("test dialer: refusing %s", addr)
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

func TestOutboundRefusesNonLoopbackWithoutLookupOrDial(t *testing.T) {
	res := &fakeResolver{answers: map[string][]string{"tool.example.com": {"127.0.0.1"}}}
	g, err := newOutboundGuard(nil, res)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var dials []string
	c := g.client(&http.Client{Transport: countingTransport(&dials, &mu)})
	for _, u := range []string{"https://tool.example.com/api", "http://192.0.2.7:8080/", "https://[2001:db8::1]/x", "https://169.254.169.254/metadata"} {
		_, err := c.Get(u)
		var refused *OutboundRefusedError
		if !errors.As(err, &refused) {
			t.Fatalf("GET %s: %v, want an OutboundRefusedError", u, err)
		}
		if !strings.Contains(err.Error(), "--allow-outbound "+refused.Target) || !strings.Contains(err.Error(), "Options.AllowOutbound") {
			t.Errorf("GET %s: the message does not say how to allow it: %v", u, err)
		}
	}
	if res.count() != 0 || len(dials) != 0 {
		t.Errorf("refused targets caused %d lookups %v and %d dials %v, want none", res.count(), res.lookups, len(dials), dials)
	}
}

func TestOutboundRefusesNamesResolvingOffLoopback(t *testing.T) {
	res := &fakeResolver{answers: map[string][]string{"localhost": {"10.1.2.3"}, "app.localhost": {"127.0.0.1", "192.0.2.9"}}}
	g, _ := newOutboundGuard(nil, res)
	var mu sync.Mutex
	var dials []string
	c := g.client(&http.Client{Transport: countingTransport(&dials, &mu)})
	for _, u := range []string{"http://localhost:9/", "http://app.localhost:9/"} {
		_, err := c.Get(u)
		var refused *OutboundRefusedError
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), "resolves to") {
			t.Errorf("GET %s: %v, want a refusal naming the resolved address", u, err)
		}
	}
	if len(dials) != 0 {
		t.Errorf("dials %v, want none", dials)
	}
	// The dialer's Control hook is the last line: a socket about to connect
	// off loopback is refused unless the target was allowed.
	if err := g.control(false)("tcp", "192.0.2.1:443", nil); err == nil {
		t.Error("Control let 192.0.2.1:443 through")
	}
	for _, a := range []string{"127.0.0.1:443", "[::1]:443"} {
		if err := g.control(false)("tcp", a, nil); err != nil {
			t.Errorf("Control refused %s: %v", a, err)
		}
	}
}

func TestOutboundFollowsRedirectsOnlyToAllowedTargets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			_, _ = w.Write([]byte("ok"))
			return
		}
		http.Redirect(w, r, "http://203.0.113.5/steal", http.StatusFound)
	}))
	defer srv.Close()
	res := &fakeResolver{}
	g, _ := newOutboundGuard(nil, res)
	var mu sync.Mutex
	var dials []string
	c := g.client(&http.Client{Transport: countingTransport(&dials, &mu)})
	if r, err := c.Get(srv.URL + "/ok"); err != nil {
		t.Fatalf("loopback: %v", err)
	} else {
		r.Body.Close()
	}
	_, err := c.Get(srv.URL + "/redirect")
	var refused *OutboundRefusedError
	if !errors.As(err, &refused) || refused.Target != "203.0.113.5" {
		t.Errorf("redirect off loopback: %v", err)
	}
	for _, d := range dials {
		if !strings.HasPrefix(d, "127.0.0.1:") {
			t.Errorf("dialed %s", d)
		}
	}
}

func TestOutboundAllowList(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hi")) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	// The allowed name resolves (in this test) to the loopback server.
	res := &fakeResolver{answers: map[string][]string{"tool.example.com": {"127.0.0.1"}, "other.example.com": {"127.0.0.1"}}}
	g, err := newOutboundGuard([]string{"TOOL.example.com:" + port, "10.0.0.5"}, res)
	if err != nil {
		t.Fatal(err)
	}
	c := g.client(nil)
	r, err := c.Get("http://tool.example.com:" + port + "/")
	if err != nil {
		t.Fatalf("allowed host: %v", err)
	}
	r.Body.Close()
	if res.count() != 1 {
		t.Errorf("allowed host: %d lookups, want 1", res.count())
	}
	for _, u := range []string{"http://tool.example.com:1/", "http://other.example.com:" + port + "/"} {
		var refused *OutboundRefusedError
		if _, err := c.Get(u); !errors.As(err, &refused) {
			t.Errorf("GET %s: %v, want refused (port or host not allowed)", u, err)
		}
	}
	if res.count() != 1 {
		t.Errorf("refused hosts were looked up: %v", res.lookups)
	}
}

func TestParseAllowOutbound(t *testing.T) {
	good := []string{"tool.example.com", "tool.example.com:8443", "10.0.0.5", "10.0.0.5:443", "[2001:db8::1]:443", "2001:db8::1"}
	if err := ParseAllowOutbound(good); err != nil {
		t.Errorf("%v: %v", good, err)
	}
	for _, bad := range []string{"", "https://tool.example.com", "tool.example.com/path", "*.example.com", "tool:", "tool:http", "tool:70000", "user@tool"} {
		err := ParseAllowOutbound([]string{bad})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) || !strings.Contains(err.Error(), "HOST:PORT") {
			t.Errorf("%q: %v, want an error naming the entry and the form", bad, err)
		}
	}
	if _, err := Start(context.Background(), Options{AllowOutbound: []string{"https://x"}}); err == nil || !strings.Contains(err.Error(), "allow-outbound") {
		t.Errorf("Start with a bad entry: %v", err)
	}
}

// The endpointproxy trusts the emulator's own CA: a service connection that
// points at the emulator itself (an externaltfs connection to its Azure
// DevOps, as deploy/patrol.example.yaml shows) verifies like one to a tool.
func TestOutboundTrustsTheEmulatorsOwnCA(t *testing.T) {
	e, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	resp, err := e.outboundClient().Get(e.DevOpsURL() + "/contoso/_apis/connectionData")
	if err != nil {
		t.Fatalf("endpointproxy client calling the emulator itself: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous connectionData: HTTP %d, want 401", resp.StatusCode)
	}
}
