// Package httpx builds the *http.Client every patrol component shares: proxy
// from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY via
// http.ProxyFromEnvironment), the system trust store plus an optional extra
// PEM bundle, TLS 1.2 or newer with verification always on, bounded timeouts,
// and a User-Agent of patrol/<version>.
//
// SSL_CERT_FILE and SSL_CERT_DIR work natively: they are read by Go's system
// root loader on Linux, so the emulator's CA can be trusted either way.
package httpx

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/redact"
)

// Defaults for Options fields left zero.
const (
	DefaultTimeout             = 60 * time.Second
	DefaultDialTimeout         = 10 * time.Second
	DefaultTLSHandshakeTimeout = 10 * time.Second
	DefaultResponseHeaderWait  = 45 * time.Second
)

// Options configure New.
type Options struct {
	// CABundle is a path to a PEM file whose certificates are trusted in
	// addition to the system roots (config: endpoints.caBundle,
	// PATROL_CA_BUNDLE, --ca-bundle).
	CABundle string
	// CAPEM is PEM data trusted in addition to the system roots (tests, the
	// in-process emulator).
	CAPEM []byte
	// Timeout bounds a whole request including reading the body
	// (DefaultTimeout if zero; negative means none).
	Timeout time.Duration
	// UserAgent is sent on every request that does not set its own
	// (default "patrol").
	UserAgent string
	// Proxy selects the proxy for a request; nil means
	// http.ProxyFromEnvironment.
	Proxy func(*http.Request) (*url.URL, error)
	// TLSHandshakeTimeout and ResponseHeaderTimeout override
	// DefaultTLSHandshakeTimeout and DefaultResponseHeaderWait (tests).
	TLSHandshakeTimeout   time.Duration
	ResponseHeaderTimeout time.Duration
}

// UserAgent returns the User-Agent patrol sends: patrol/<version>.
func UserAgent(version string) string {
	if version == "" {
		version = "dev"
	}
	return "patrol/" + version
}

// CAError says an extra CA bundle could not be used. It is a usage error.
type CAError struct {
	Path string
	Err  error
}

func (e *CAError) Error() string {
	return fmt.Sprintf("CA bundle %q (endpoints.caBundle / PATROL_CA_BUNDLE / --ca-bundle): %v; point it at a readable PEM file of CA certificates", e.Path, e.Err)
}
func (e *CAError) Unwrap() error      { return e.Err }
func (e *CAError) Kind() errkind.Kind { return errkind.Usage }

// New returns a client configured as the package doc describes.
func New(opts Options) (*http.Client, error) {
	roots, err := RootCAs(opts.CABundle, opts.CAPEM)
	if err != nil {
		return nil, err
	}
	proxy := opts.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	handshake, header := DefaultTLSHandshakeTimeout, DefaultResponseHeaderWait
	if opts.TLSHandshakeTimeout > 0 {
		handshake = opts.TLSHandshakeTimeout
	}
	if opts.ResponseHeaderTimeout > 0 {
		header = opts.ResponseHeaderTimeout
	}
	tr := &http.Transport{
		Proxy: proxy,
		DialContext: (&net.Dialer{
			Timeout:   DefaultDialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   handshake,
		ResponseHeaderTimeout: header,
		ExpectContinueTimeout: 1 * time.Second,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			RootCAs:    roots,
		},
	}
	timeout := opts.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = 0
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "patrol"
	}
	return &http.Client{
		Transport: &userAgentTransport{base: tr, ua: ua},
		Timeout:   timeout,
	}, nil
}

// RootCAs returns the system roots (which honour SSL_CERT_FILE/SSL_CERT_DIR)
// plus the certificates of the PEM file at path and of pemData. With neither
// extra source it returns nil, meaning "system roots" to crypto/tls.
func RootCAs(path string, pemData []byte) (*x509.CertPool, error) {
	if path == "" && len(pemData) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &CAError{Path: path, Err: unwrapPathError(err)}
		}
		if err := addPEM(pool, data); err != nil {
			return nil, &CAError{Path: path, Err: err}
		}
	}
	if len(pemData) > 0 {
		if err := addPEM(pool, pemData); err != nil {
			return nil, &CAError{Path: "<in-memory PEM>", Err: err}
		}
	}
	return pool, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// addPEM adds every CERTIFICATE block of data; it fails when there is none or
// one does not parse, so a wrong file (a key, a DER file) is reported.
func addPEM(pool *x509.CertPool, data []byte) error {
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("certificate %d does not parse: %w", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return errors.New("no PEM CERTIFICATE block found")
	}
	return nil
}

type userAgentTransport struct {
	base http.RoundTripper
	ua   string
}

func (t *userAgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// Whatever credential a request carries is known to the redactor before
	// any answer (or echo of it) can reach an error message.
	for _, h := range []string{"Authorization", "Proxy-Authorization"} {
		for _, v := range req.Header.Values(h) {
			redact.RegisterHeader(v)
		}
	}
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", t.ua)
	}
	return t.base.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the base transport.
func (t *userAgentTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
