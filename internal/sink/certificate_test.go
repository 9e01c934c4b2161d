package sink

import (
	"crypto/x509"
	"net/url"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// An untrusted Key Vault or Kubernetes API server certificate is the trust
// configuration's problem: usage (exit 2) with the CA hint, not transient.
func TestCertificateFailuresAreConfiguration(t *testing.T) {
	err := &url.Error{Op: "Get", URL: "https://vault.example/", Err: x509.UnknownAuthorityError{}}
	kv := (&KeyVault{}).wrap("get", err)
	kube := kubeErr("get", "secret ns/name", err, "")
	for name, e := range map[string]error{"keyvault": kv, "kubernetes": kube} {
		if errkind.Of(e) != errkind.Usage || !strings.Contains(e.Error(), "--ca-bundle") {
			t.Errorf("%s: kind %v, %q; want usage naming --ca-bundle", name, errkind.Of(e), e)
		}
	}
}
