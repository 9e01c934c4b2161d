package devops

import (
	"errors"
	"net"
	"net/url"
	"testing"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// A host that does not resolve is a configuration problem: not retried, exit 2.
func TestNetworkErrorKind(t *testing.T) {
	dns := &NetworkError{Op: "list PATs", URL: "https://vssps.dev.azure.test", Err: &url.Error{Op: "Get", URL: "https://vssps.dev.azure.test", Err: &net.OpError{Op: "dial", Err: &net.DNSError{Name: "vssps.dev.azure.test", Err: "no such host", IsNotFound: true}}}}
	if errkind.Of(dns) != errkind.Usage || isRetryable(dns) || errkind.HintOf(dns) == "" {
		t.Errorf("unresolvable host: kind %v, retryable %v, hint %q", errkind.Of(dns), isRetryable(dns), errkind.HintOf(dns))
	}
	refused := &NetworkError{Op: "list PATs", URL: "https://127.0.0.1:1", Err: &url.Error{Op: "Get", URL: "https://127.0.0.1:1", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}}
	if errkind.Of(refused) != errkind.Transient || !isRetryable(refused) {
		t.Errorf("refused: kind %v", errkind.Of(refused))
	}
}
