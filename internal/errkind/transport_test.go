package errkind

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestTransport(t *testing.T) {
	wrap := func(err error) error { return &url.Error{Op: "Get", URL: "https://h/", Err: err} }
	for _, tc := range []struct {
		name string
		err  error
		want Kind
	}{
		{"no such host", wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "h", IsNotFound: true}}), Usage},
		{"dns timeout", wrap(&net.DNSError{Err: "i/o timeout", Name: "h", IsTimeout: true}), Transient},
		{"refused", wrap(&net.OpError{Op: "dial", Err: errors.New("connect: connection refused")}), Transient},
		{"unknown CA", wrap(x509.UnknownAuthorityError{}), Usage},
		{"hostname", wrap(x509.HostnameError{Host: "h", Certificate: &x509.Certificate{}}), Usage},
		{"scheme", wrap(errors.New(`unsupported protocol scheme "ftp"`)), Usage},
		{"typed", wrap(New(Auth, errors.New("token refused"))), Auth},
		{"canceled", wrap(context.Canceled), Unknown},
		{"deadline", wrap(fmt.Errorf("x: %w", context.DeadlineExceeded)), Transient},
	} {
		if k, _ := Transport(tc.err); k != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, k, tc.want)
		}
	}
	if _, hint := Transport(wrap(&net.DNSError{Name: "build.contoso.test", IsNotFound: true})); hint == "" {
		t.Error("no hint for an unresolvable host")
	}
}

// A certificate failure is recognised by type and by Go's message text in
// errors a library flattened (azidentity), with the hint for its cause; it is
// never retried by the azcore predicate.
func TestCertificate(t *testing.T) {
	wrap := func(err error) error { return &url.Error{Op: "Post", URL: "https://h/", Err: err} }
	for _, tc := range []struct {
		name string
		err  error
		want string // hint constant, "" = not a certificate failure
	}{
		{"unknown CA", wrap(x509.UnknownAuthorityError{}), HintCertUntrusted},
		{"hostname", wrap(x509.HostnameError{Host: "h", Certificate: &x509.Certificate{}}), HintCertHostname},
		{"expired", wrap(x509.CertificateInvalidError{Reason: x509.Expired, Cert: &x509.Certificate{}}), HintCertInvalid},
		{"flattened unknown CA", errors.New(`unable to resolve an endpoint: Get "https://h/": tls: failed to verify certificate: x509: certificate signed by unknown authority`), HintCertUntrusted},
		{"flattened hostname", errors.New(`tls: failed to verify certificate: x509: certificate is valid for 127.0.0.1, not localhost`), HintCertHostname},
		{"refused", wrap(&net.OpError{Op: "dial", Err: errors.New("connect: connection refused")}), ""},
	} {
		hint, ok := Certificate(tc.err)
		if ok != (tc.want != "") || hint != tc.want {
			t.Errorf("%s: Certificate = %q, %v; want %q", tc.name, hint, ok, tc.want)
		}
		if k, h := Transport(tc.err); tc.want != "" && (k != Usage || h != tc.want) {
			t.Errorf("%s: Transport = %v %q; want usage with the certificate hint", tc.name, k, h)
		}
		if retry := ShouldRetry(nil, tc.err); retry != (tc.want == "") {
			t.Errorf("%s: ShouldRetry = %v", tc.name, retry)
		}
	}
	for _, hint := range []string{HintCertUntrusted} {
		if !strings.Contains(hint, "--ca-bundle") || !strings.Contains(hint, "SSL_CERT_FILE") {
			t.Errorf("hint %q must name --ca-bundle and SSL_CERT_FILE", hint)
		}
	}
	if !ShouldRetry(&http.Response{StatusCode: 503}, nil) || ShouldRetry(&http.Response{StatusCode: 400}, nil) {
		t.Error("ShouldRetry must keep azcore's status codes")
	}
}
