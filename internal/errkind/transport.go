package errkind

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
)

// Transport classifies an error returned by an HTTP client's Do (no
// response): a failure of the network — refused or reset connections,
// timeouts, temporary DNS failures — is Transient; a problem retrying cannot
// fix is Usage: a host name that does not exist, a URL the client cannot use
// (unsupported scheme, invalid characters), a server certificate the
// configured roots do not trust. An error that already has a kind keeps it;
// cancellation stays Unknown so the caller's interrupt handling applies.
// hint says what to do; it never contains secrets (only the host name).
func Transport(err error) (k Kind, hint string) {
	if err == nil {
		return Unknown, ""
	}
	var kr Kinder
	if errors.As(err, &kr) && kr.Kind() != Unknown {
		return kr.Kind(), ""
	}
	if errors.Is(err, context.Canceled) {
		return Unknown, ""
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return Usage, "host " + dns.Name + " does not resolve: check the URL's host name (and HTTPS_PROXY/NO_PROXY if a proxy should resolve it)"
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &hostErr):
		return Usage, "the server's certificate is not valid for this host name: use the name the certificate is issued for"
	case errors.As(err, &unknownCA), errors.As(err, &verify), errors.As(err, &invalid):
		return Usage, "the server's certificate is not trusted: add its CA with --ca-bundle / PATROL_CA_BUNDLE (or SSL_CERT_FILE)"
	}
	msg := err.Error()
	for _, local := range []string{"unsupported protocol scheme", "invalid control character in URL", "no Host in request URL", "invalid URL escape", "net/http: invalid header"} {
		if strings.Contains(msg, local) {
			return Usage, "the request cannot be built: fix the URL or header named above"
		}
	}
	return Transient, ""
}
