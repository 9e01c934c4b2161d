package rotation_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// The hostile network of the random fault schedule: a transport between the
// engine's clients (Entra and Azure DevOps) and the emulator that, for a
// share of the requests, answers as a misbehaving server or proxy would.
// Every request is the one the client really sends (net/http follows
// redirects by calling the transport again), so what reaches the foreign
// host here is what a real foreign host would receive.

// hostileKind is one kind of hostile answer.
type hostileKind string

const (
	// redirectForeign: 302/307/308 to the same path on another host.
	redirectForeign hostileKind = "redirect-foreign-host"
	// redirectSame: 307/308 to the same host (token and PAT endpoints).
	redirectSame hostileKind = "redirect-307/308"
	// echoRequest: an error answer quoting the request line, every header
	// and the body, raw and in JSON fields, as proxies and error pages do.
	echoRequest hostileKind = "echo"
	// hugeBody: an endless JSON array or a JSON string of tens of MiB.
	hugeBody hostileKind = "huge-body"
)

var hostileKinds = []hostileKind{redirectForeign, redirectSame, echoRequest, hugeBody}

// foreignHost is where redirectForeign points. No purpose of patrol's
// follows a redirect to another host, so nothing may ever reach it.
const foreignHost = "elsewhere.example:8443"

// hostileNet is shared by all runs of a schedule; arm sets the faults of
// one run.
type hostileNet struct {
	mu sync.Mutex
	// per run
	rng    *rand.Rand
	rate   float64
	kinds  []hostileKind
	routes []string // substrings of the path; empty = every route
	// over all runs
	injected map[hostileKind]int
	foreign  []string // what reached foreignHost
	// seen receives every credential the wire carried (Authorization
	// values, token-form secrets, tokens in Entra's answers).
	seen func(string)
}

func newHostileNet(seen func(string)) *hostileNet {
	return &hostileNet{injected: map[hostileKind]int{}, seen: seen}
}

// arm makes rate of the requests whose path contains one of routes get a
// hostile answer of one of kinds; rate 0 disarms.
func (n *hostileNet) arm(seed uint64, rate float64, kinds []hostileKind, routes ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rng = rand.New(rand.NewPCG(seed, seed+1))
	n.rate, n.kinds, n.routes = rate, kinds, routes
}

func (n *hostileNet) counts() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var ks []string
	for k := range n.injected {
		ks = append(ks, string(k))
	}
	sort.Strings(ks)
	var out []string
	for _, k := range ks {
		out = append(out, fmt.Sprintf("%s=%d", k, n.injected[hostileKind(k)]))
	}
	return strings.Join(out, " ")
}

func (n *hostileNet) reachedForeign() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.foreign...)
}

// wrap is the harness's transport wrapper.
func (n *hostileNet) wrap(base http.RoundTripper) http.RoundTripper {
	return hostileTransport{n: n, base: base}
}

type hostileTransport struct {
	n    *hostileNet
	base http.RoundTripper
}

// pick decides the hostile answer of one request ("" = none) and whether it
// replaces the emulator's answer (the request reached the emulator, the
// answer was lost) rather than the request.
func (n *hostileNet) pick(path string) (hostileKind, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.rng == nil || n.rate == 0 || len(n.kinds) == 0 {
		return "", false
	}
	match := len(n.routes) == 0
	for _, r := range n.routes {
		match = match || strings.Contains(path, r)
	}
	if !match || n.rng.Float64() >= n.rate {
		return "", false
	}
	k := n.kinds[n.rng.IntN(len(n.kinds))]
	n.injected[k]++
	return k, n.rng.IntN(2) == 0
}

func (t hostileTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	t.record(req, body)
	if req.URL.Host == foreignHost {
		t.n.mu.Lock()
		t.n.foreign = append(t.n.foreign, fmt.Sprintf("%s %s %v %s", req.Method, req.URL, req.Header, body))
		t.n.mu.Unlock()
		return answer(req, http.StatusNotFound, "text/plain", strings.NewReader("foreign host")), nil
	}
	kind, after := t.n.pick(req.URL.Path)
	if kind == "" || after {
		resp, err := t.base.RoundTrip(req)
		if err != nil || kind == "" {
			if err == nil && strings.Contains(req.URL.Path, "oauth2") {
				resp = t.recordAnswer(resp)
			}
			return resp, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	t.n.mu.Lock()
	r := t.n.rng.Uint64()
	t.n.mu.Unlock()
	return hostileAnswer(req, body, kind, r), nil
}

// record passes the credentials a request carries to seen.
func (t hostileTransport) record(req *http.Request, body []byte) {
	if t.n.seen == nil {
		return
	}
	for _, h := range []string{"Authorization", "Proxy-Authorization"} {
		if v := req.Header.Get(h); v != "" {
			if _, cred, ok := strings.Cut(v, " "); ok {
				t.n.seen(cred)
			}
		}
	}
	if form, err := url.ParseQuery(string(body)); err == nil && strings.Contains(req.Header.Get("Content-Type"), "form") {
		for _, f := range []string{"password", "client_secret", "refresh_token", "client_assertion", "assertion", "device_code"} {
			if v := form.Get(f); v != "" {
				t.n.seen(v)
			}
		}
	}
}

// recordAnswer passes the tokens of an Entra answer to seen.
func (t hostileTransport) recordAnswer(resp *http.Response) *http.Response {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil || t.n.seen == nil {
		return resp
	}
	var tok map[string]any
	if json.Unmarshal(b, &tok) == nil {
		for _, f := range []string{"access_token", "refresh_token", "id_token"} {
			if v, ok := tok[f].(string); ok && v != "" {
				t.n.seen(v)
			}
		}
	}
	return resp
}

func hostileAnswer(req *http.Request, body []byte, kind hostileKind, r uint64) *http.Response {
	switch kind {
	case redirectForeign:
		status := []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect}[r%3]
		u := *req.URL
		u.Host = foreignHost
		resp := answer(req, status, "text/plain", strings.NewReader("moved"))
		resp.Header.Set("Location", u.String())
		return resp
	case redirectSame:
		status := []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect}[r%2]
		u := *req.URL
		u.Path += "/moved"
		resp := answer(req, status, "text/plain", strings.NewReader("moved"))
		resp.Header.Set("Location", u.String())
		return resp
	case echoRequest:
		status := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusInternalServerError, http.StatusServiceUnavailable}[r%4]
		var dump strings.Builder
		fmt.Fprintf(&dump, "%s %s %s\n", req.Method, req.URL.RequestURI(), req.Proto)
		for k, vs := range req.Header {
			for _, v := range vs {
				fmt.Fprintf(&dump, "%s: %s\n", k, v)
			}
		}
		dump.WriteString("\n")
		dump.Write(body)
		// What a short error page quotes first (Quote's 300-character cap
		// must not be what hides it): the credential, or the body.
		lead := "rejected " + req.Header.Get("Authorization")
		if len(body) > 0 && r%3 == 0 {
			lead = "bad request body " + string(body)
		}
		hdr := map[string]string{}
		for k := range req.Header {
			hdr[k] = req.Header.Get(k)
		}
		js, _ := json.Marshal(map[string]any{
			"message": lead + "; echo: " + dump.String(), "error": "invalid_request", "error_description": lead + "; " + dump.String(),
			"typeKey": "EchoException", "headers": hdr, "body": string(body), "url": req.URL.String(),
		})
		if r%8 < 4 {
			return answer(req, status, "application/json; charset=utf-8", bytes.NewReader(js))
		}
		return answer(req, status, "text/html", strings.NewReader("<html><body><p>"+lead+"</p><pre>"+dump.String()+"</pre></body></html>"))
	case hugeBody:
		status := []int{http.StatusOK, http.StatusInternalServerError}[r%2]
		var src io.Reader
		if r%4 < 2 {
			// An endless array: {"count":1,"value":[{"x":1},{"x":1},…
			src = io.MultiReader(strings.NewReader(`{"count":1,"value":[`), &repeater{unit: []byte(`{"x":1},`), left: 64 << 20})
		} else {
			// One JSON string of 64 MiB.
			src = io.MultiReader(strings.NewReader(`{"message":"`), &repeater{unit: []byte("A"), left: 64 << 20}, strings.NewReader(`"}`))
		}
		return answer(req, status, "application/json", src)
	}
	panic("unknown hostile kind " + kind)
}

func answer(req *http.Request, status int, ctype string, body io.Reader) *http.Response {
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {ctype}}, Body: io.NopCloser(body), ContentLength: -1, Request: req,
	}
}

// repeater yields unit over and over, left bytes in all.
type repeater struct {
	unit []byte
	off  int
	left int64
}

func (r *repeater) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.left > 0 {
		c := copy(p[n:], r.unit[r.off:])
		if int64(c) > r.left {
			c = int(r.left)
		}
		n += c
		r.left -= int64(c)
		r.off = (r.off + c) % len(r.unit)
	}
	return n, nil
}
