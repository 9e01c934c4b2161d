package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// mozillaBundle is the image's CA bundle: Mozilla's (NSS) trusted roots as
// golang.org/x/crypto/x509roots/fallback ships them, pinned in go.sum, so the
// bundle changes only when tools/image/go.mod moves (not with the build
// machine). Roots that carry a distrust-after constraint are left out: a PEM
// file cannot express the constraint, and leaving them out errs on the side
// of trusting less.
func mozillaBundle() ([]byte, int, error) {
	var buf bytes.Buffer
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		c, err := x509.ParseCertificate(r.Certificate)
		if err != nil {
			return nil, 0, fmt.Errorf("x509roots bundle: %w", err)
		}
		fmt.Fprintf(&buf, "# %s\n", c.Subject.String())
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}); err != nil {
			return nil, 0, err
		}
		n++
	}
	if n == 0 {
		return nil, 0, fmt.Errorf("x509roots bundle: no roots")
	}
	return buf.Bytes(), n, nil
}

// caBundle returns the bundle at path (a PEM file such as the build machine's
// /etc/ssl/certs/ca-certificates.crt) or, when path is empty, Mozilla's.
func caBundle(path string) ([]byte, int, error) {
	if path == "" {
		return mozillaBundle()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("--ca-bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, 0, fmt.Errorf("--ca-bundle %s: no PEM certificate in it: give a PEM bundle such as /etc/ssl/certs/ca-certificates.crt, or leave the flag out for Mozilla's roots", path)
	}
	return b, bytes.Count(b, []byte("-----BEGIN CERTIFICATE-----")), nil
}
