package httpx

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/errkind"
)

func caFileOf(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	der := srv.Certificate().Raw
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTrustsCABundleAndSendsUserAgent(t *testing.T) {
	var ua string
	var tlsVersion uint16
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua = r.Header.Get("User-Agent")
		tlsVersion = r.TLS.Version
	}))
	defer srv.Close()

	// Without the bundle the test server's certificate is refused.
	plain, err := New(Options{Proxy: noProxy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Get(srv.URL); err == nil {
		t.Fatal("an unknown CA must be refused: TLS verification is always on")
	}

	c, err := New(Options{CABundle: caFileOf(t, srv), UserAgent: UserAgent("1.2.3"), Proxy: noProxy})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ua != "patrol/1.2.3" {
		t.Fatalf("User-Agent = %q", ua)
	}
	if tlsVersion < tls.VersionTLS12 {
		t.Fatalf("TLS version %x < 1.2", tlsVersion)
	}
	// An explicit User-Agent is kept.
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("User-Agent", "custom")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ua != "custom" {
		t.Fatalf("User-Agent overwritten: %q", ua)
	}
}

func TestRefusesTLS11(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{MaxVersion: tls.VersionTLS11}
	srv.StartTLS()
	defer srv.Close()
	c, err := New(Options{CABundle: caFileOf(t, srv), Proxy: noProxy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(srv.URL); err == nil {
		t.Fatal("TLS 1.1 must be refused")
	}
}

func TestCABundleErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "key.txt")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	keyOnly := filepath.Join(dir, "key.pem")
	os.WriteFile(keyOnly, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2}}), 0o600)
	badCert := filepath.Join(dir, "bad.pem")
	os.WriteFile(badCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}}), 0o600)
	for path, want := range map[string]string{
		filepath.Join(dir, "missing.pem"): "no such file",
		notPEM:                            "no PEM CERTIFICATE block",
		keyOnly:                           "no PEM CERTIFICATE block",
		badCert:                           "does not parse",
	} {
		_, err := New(Options{CABundle: path})
		var ce *CAError
		if !errors.As(err, &ce) || errkind.Of(err) != errkind.Usage {
			t.Fatalf("%s: want usage *CAError, got %v", path, err)
		}
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "PATROL_CA_BUNDLE") || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q lacks %q / the variable / the path", path, err, want)
		}
	}
}

// The proxy comes from the environment by default; HTTPS_PROXY is used for
// https URLs and NO_PROXY is honoured (seed defect 1). http.ProxyFromEnvironment
// caches the environment per process, so the test checks the default is that
// function and exercises the same logic through an injected Proxy.
func TestProxyFromEnvironmentIsDefault(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr := c.Transport.(*userAgentTransport).base.(*http.Transport)
	if tr.Proxy == nil {
		t.Fatal("no proxy function")
	}
	req, _ := http.NewRequest("GET", "https://vssps.dev.azure.com/x", nil)
	want, wantErr := http.ProxyFromEnvironment(req)
	got, gotErr := tr.Proxy(req)
	if (want == nil) != (got == nil) || (want != nil && want.String() != got.String()) || (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("default proxy differs from http.ProxyFromEnvironment: %v vs %v", got, want)
	}
}

func TestProxyIsUsed(t *testing.T) {
	var sawConnect bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			sawConnect = true
		}
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	c, err := New(Options{Proxy: http.ProxyURL(pu)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get("https://vssps.dev.azure.com.invalid/")
	if err == nil || !sawConnect {
		t.Fatalf("request did not go through the proxy (err %v, CONNECT seen %v)", err, sawConnect)
	}
}

func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// TestProxyEnvVariables runs a child test process with proxy variables set,
// because http.ProxyFromEnvironment reads the environment once per process.
func TestProxyEnvVariables(t *testing.T) {
	if os.Getenv("PATROL_HTTPX_PROXY_CHILD") == "1" {
		c, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		proxy := c.Transport.(*userAgentTransport).base.(*http.Transport).Proxy
		check := func(rawURL, want string) {
			req, _ := http.NewRequest("GET", rawURL, nil)
			u, err := proxy(req)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if u != nil {
				got = u.String()
			}
			if got != want {
				t.Errorf("proxy for %s = %q, want %q", rawURL, got, want)
			}
		}
		check("https://vssps.dev.azure.com/contoso/_apis/tokens/pats", "http://https-proxy.example:3128")
		check("http://plain.example/", "http://http-proxy.example:8080")
		check("https://login.internal.example/", "") // NO_PROXY suffix match
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestProxyEnvVariables$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		"PATROL_HTTPX_PROXY_CHILD=1",
		"HTTPS_PROXY=http://https-proxy.example:3128",
		"HTTP_PROXY=http://http-proxy.example:8080",
		"NO_PROXY=.internal.example",
		"REQUEST_METHOD=", // not CGI
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
}
