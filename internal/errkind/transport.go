package errkind

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"slices"
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
	if hint, ok := Certificate(err); ok {
		return Usage, hint
	}
	msg := err.Error()
	for _, local := range []string{"unsupported protocol scheme", "invalid control character in URL", "no Host in request URL", "invalid URL escape", "net/http: invalid header"} {
		if strings.Contains(msg, local) {
			return Usage, "the request cannot be built: fix the URL or header named above"
		}
	}
	return Transient, ""
}

// Hints for a server certificate patrol does not accept.
const (
	HintCertUntrusted = "the server's certificate is not trusted: add its CA (PEM) with --ca-bundle / PATROL_CA_BUNDLE, or point SSL_CERT_FILE (or SSL_CERT_DIR) at a bundle that holds it; retrying will not help"
	HintCertHostname  = "the server's certificate is not valid for this host name: use the name the certificate is issued for (or have it reissued with this name); retrying will not help"
	HintCertInvalid   = "the server's certificate is invalid (expired, not yet valid or not for TLS servers): renew it on the server, or check this machine's clock; retrying will not help"
)

// Certificate recognises a TLS server certificate that failed verification
// — an unknown authority, a host name mismatch, an invalid certificate —
// by type, or by Go's message text where a library flattened the error
// (azidentity does), and returns the hint that says how to fix it. It is a
// configuration problem, never transient.
func Certificate(err error) (hint string, ok bool) {
	if err == nil {
		return "", false
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &hostErr):
		return HintCertHostname, true
	case errors.As(err, &invalid):
		return HintCertInvalid, true
	case errors.As(err, &unknownCA), errors.As(err, &verify):
		return HintCertUntrusted, true
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "x509: certificate is valid for"), strings.Contains(msg, "x509: certificate is not valid for any names"):
		return HintCertHostname, true
	case strings.Contains(msg, "x509: certificate has expired or is not yet valid"):
		return HintCertInvalid, true
	case strings.Contains(msg, "x509: certificate signed by unknown authority"), strings.Contains(msg, "tls: failed to verify certificate"):
		return HintCertUntrusted, true
	}
	return "", false
}

// ShouldRetry is azcore's default retry predicate (policy.RetryOptions:
// transport errors and 408, 429, 500, 502, 503, 504) except that a server
// certificate that failed verification is final: retrying cannot make it
// trusted. For azcore clients (azidentity, azsecrets).
func ShouldRetry(resp *http.Response, err error) bool {
	if err != nil {
		_, cert := Certificate(err)
		return !cert
	}
	return resp != nil && slices.Contains([]int{http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}, resp.StatusCode)
}
