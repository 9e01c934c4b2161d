package errkind

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
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
