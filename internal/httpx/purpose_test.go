package httpx

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// hostile is a TLS server on 127.0.0.1 and a purpose client trusting it.
func hostile(t *testing.T, h http.HandlerFunc, p Purpose) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	base, err := New(Options{CABundle: caFileOf(t, srv), Proxy: noProxy})
	if err != nil {
		t.Fatal(err)
	}
	return srv, For(base, p)
}

func TestRefusingPurposesNeverFollowARedirect(t *testing.T) {
	for _, p := range []Purpose{Token, Sink, KeyVault, Kubernetes, Pushgateway} {
		for _, status := range []int{301, 302, 303, 307, 308} {
			var followed bool
			srv, c := hostile(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/final" {
					followed = true
					return
				}
				http.Redirect(w, r, "/final?x=1", status)
			}, p)
			resp, err := c.Post(srv.URL+"/token?secret=s3", "application/x-www-form-urlencoded", strings.NewReader("password=hunter2"))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("%s: a %d redirect was followed or accepted", p, status)
			}
			var re *RedirectError
			if !errors.As(err, &re) || followed {
				t.Fatalf("%s %d: want *RedirectError and no request to the target, got %v (followed %v)", p, status, err, followed)
			}
			if !strings.Contains(err.Error(), srv.URL+"/token") || !strings.Contains(err.Error(), srv.URL+"/final") || strings.Contains(err.Error(), "s3") {
				t.Errorf("%s: the error must name both URLs without their query: %v", p, err)
			}
			if errkind.Of(err) != errkind.Usage {
				t.Errorf("%s: kind %v, want usage", p, errkind.Of(err))
			}
		}
	}
}

func TestDevOpsPurposeReportsTheRedirect(t *testing.T) {
	srv, c := hostile(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://signin.example/", http.StatusFound)
	}, DevOps)
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want the unfollowed 302", resp.StatusCode)
	}
}

func TestDataSourceFollowsOnlySameOrigin(t *testing.T) {
	var gotAuth, gotKey string
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotKey = r.Header.Get("Authorization"), r.Header.Get("X-Api-Key")
	}))
	defer other.Close()
	srv, c := hostile(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/final":
			io.WriteString(w, "ok "+r.Header.Get("X-Api-Key"))
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
		}
	}, DataSource)
	get := func(path string) (string, error) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Basic dXNlcjpodW50ZXIy")
		req.Header.Set("X-Api-Key", "k3y")
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	if body, err := get("/same"); err != nil || body != "ok k3y" {
		t.Fatalf("a same-origin redirect must be followed: %q %v", body, err)
	}
	_, err := get("/away")
	var re *RedirectError
	if !errors.As(err, &re) || gotAuth != "" || gotKey != "" {
		t.Fatalf("a cross-host redirect must be refused before anything is sent: err %v, other got Authorization %q X-Api-Key %q", err, gotAuth, gotKey)
	}
	if _, err := get("/loop"); !errors.As(err, &re) || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("endless redirects must stop with an error: %v", err)
	}
	// https → http on the same host and port is another origin.
	if sameOriginURL(mustURL("https://h:443/a"), mustURL("http://h:443/a")) || !sameOriginURL(mustURL("https://H/a"), mustURL("https://h:443/b")) {
		t.Fatal("sameOriginURL compares scheme, host and port")
	}
}

// heapGrowth runs f and returns the bytes it allocated (runtime.MemStats).
func heapGrowth(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestBodyLimitHoldsAgainstHostileBodies(t *testing.T) {
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 64 { // 64 MiB inflated
		zw.Write(zeros)
	}
	zw.Close()
	chunk := bytes.Repeat([]byte(`{"id":"x","name":"y"},`), 4096)
	bodies := map[string]http.HandlerFunc{
		"5 MB string": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"value":"`)
			w.Write(bytes.Repeat([]byte("a"), 5<<20))
			io.WriteString(w, `"}`)
		},
		"endless array": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"value":[`)
			for i := 0; i < 4096 && r.Context().Err() == nil; i++ { // ~360 MB unless the client stops
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		},
		"gzip bomb": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(bomb.Bytes())
		},
	}
	for name, h := range bodies {
		srv, c := hostile(t, h, Token)
		var err error
		var n int
		grew := heapGrowth(func() {
			resp, gerr := c.Get(srv.URL + "/oauth2/token")
			if gerr != nil {
				err = gerr
				return
			}
			var b []byte
			b, err = ReadBody(resp, 1<<20, "token response")
			n = len(b)
		})
		var le *LimitError
		if !errors.As(err, &le) || n != 0 {
			t.Fatalf("%s: want *LimitError, got %v (%d bytes)", name, err, n)
		}
		if !strings.Contains(err.Error(), srv.URL+"/oauth2/token") || !strings.Contains(err.Error(), "1 MiB") {
			t.Errorf("%s: the error must name the URL and the limit: %v", name, err)
		}
		if grew > 24<<20 {
			t.Errorf("%s: reading allocated %d MiB; the limit is 1 MiB", name, grew>>20)
		}
		t.Logf("%s: %d KiB allocated", name, grew>>10)
	}
}

func TestLimitBodyAcceptsExactlyTheLimit(t *testing.T) {
	srv, c := hostile(t, func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 1000)) }, Token)
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadBody(resp, 1000, "x")
	if err != nil || len(b) != 1000 {
		t.Fatalf("exactly the limit must pass: %d %v", len(b), err)
	}
	resp, _ = c.Get(srv.URL)
	if _, err := ReadBody(resp, 999, "x"); err == nil {
		t.Fatal("one byte over must fail")
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestTokenPurposeRefusesPlainHTTPOffThisMachine(t *testing.T) {
	c := For(nil, Token)
	var ie *InsecureError
	_, err := c.Post("http://login.example.invalid/tenant/oauth2/v2.0/token?x=1", "application/x-www-form-urlencoded", strings.NewReader("password=hunter2"))
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "http://login.example.invalid/tenant/oauth2/v2.0/token") {
		t.Fatalf("want *InsecureError naming the URL, got %v", err)
	}
	if !Permanent(err) || errkind.Of(err) != errkind.Usage {
		t.Fatalf("an insecure URL is a usage error no retry fixes: %v", err)
	}
	// Managed-identity endpoints are plain http on the host itself.
	for _, h := range []string{"127.0.0.1", "localhost", "[::1]", "169.254.169.254"} {
		if !localHost(strings.Trim(h, "[]")) {
			t.Errorf("%s must count as this machine", h)
		}
	}
	if localHost("10.0.0.1") || localHost("169.254.169.253") {
		t.Error("only loopback and the IMDS address are local")
	}
}

// Every wait ends: a server that accepts TCP and never speaks TLS, one that
// never sends headers, and one that trickles its body forever all end in an
// error (the test's own deadline is only a backstop against a hang).
func TestEveryWaitIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold the connection open, say nothing
		}
	}()
	stop := make(chan struct{})
	defer close(stop)
	slow := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/silent" {
			select {
			case <-stop:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(200)
		for {
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
				w.Write([]byte("a"))
				w.(http.Flusher).Flush()
			}
		}
	}))
	defer slow.Close()
	c, err := New(Options{CABundle: caFileOf(t, slow), Proxy: noProxy, Timeout: 500 * time.Millisecond,
		TLSHandshakeTimeout: 200 * time.Millisecond, ResponseHeaderTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 0 // the handshake and header bounds alone
	for name, u := range map[string]string{"stalled TLS handshake": "https://" + ln.Addr().String() + "/", "no response headers": slow.URL + "/silent"} {
		done := make(chan error, 1)
		go func() { _, err := c.Get(u); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: no error", name)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: still waiting after 30 s", name)
		}
	}
	c.Timeout = 500 * time.Millisecond // the whole request, body included
	done := make(chan error, 1)
	go func() {
		resp, err := c.Get(slow.URL + "/trickle")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("trickling body: no error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("trickling body: still reading after 30 s")
	}
}
