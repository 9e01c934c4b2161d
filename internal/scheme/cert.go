package scheme

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/mustache"
)

// certificate builds the Certificate scheme's client certificate from
// parameters certificate (PEM; may also hold the key) and optional privateKey.
func (a *EndpointAuthorizer) certificate() (*tls.Certificate, error) {
	c := Param(a.ep, "certificate")
	if strings.TrimSpace(c) == "" {
		return nil, authErr(a.scheme.Name, "client certificate", errkind.Usage,
			"authorization.parameters.certificate is empty; paste the PEM certificate (and key) there")
	}
	cert, err := ParseClientCertificate(c, Param(a.ep, "privateKey"))
	if err != nil {
		return nil, &AuthError{Scheme: a.scheme.Name, Step: "client certificate", Err: err, kind: errkind.Usage}
	}
	return cert, nil
}

// noneClientCert renders the None scheme's templated clientCertificates.
func (a *EndpointAuthorizer) noneClientCert() (*tls.Certificate, error) {
	if len(a.scheme.ClientCertificates) == 0 {
		return nil, nil
	}
	var parts []string
	for _, cc := range a.scheme.ClientCertificates {
		tpl, err := mustache.ParseWith(strings.TrimSpace(cc.Value), mustache.Options{Helpers: Helpers()})
		if err != nil {
			return nil, authErr(a.scheme.Name, "clientCertificates "+cc.Name, errkind.Usage, "%v", err)
		}
		v, err := tpl.Render(map[string]any{"endpoint": a.endCtx})
		if err != nil {
			return nil, authErr(a.scheme.Name, "clientCertificates "+cc.Name, errkind.Usage, "%v", err)
		}
		parts = append(parts, v)
	}
	all := strings.Join(parts, "\n")
	cert, err := ParseClientCertificate(all, "")
	if err != nil {
		return nil, &AuthError{Scheme: a.scheme.Name, Step: "client certificate", Err: err, kind: errkind.Usage}
	}
	return cert, nil
}

// ParseClientCertificate accepts a certificate as PEM (literal "\n"
// sequences allowed), base64 of PEM, or base64 DER, and the key either in
// the same text or in keyText (PEM PKCS#8/PKCS#1/EC, or base64 DER).
// Encrypted keys and PFX are not supported.
func ParseClientCertificate(certText, keyText string) (*tls.Certificate, error) {
	certPEM, err := toPEM(certText, "CERTIFICATE")
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	keyPEM := certPEM
	if strings.TrimSpace(keyText) != "" {
		keyPEM, err = toPEM(keyText, "PRIVATE KEY")
		if err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
	}
	if strings.Contains(string(keyPEM), "ENCRYPTED") || strings.Contains(string(keyPEM), "Proc-Type: 4,ENCRYPTED") {
		return nil, errors.New("the private key is encrypted; supply an unencrypted PEM key (patrol does not take key passwords)")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if !strings.Contains(string(keyPEM), "PRIVATE KEY") {
			return nil, errors.New("no private key found; put the PEM key after the certificate or in the privateKey parameter")
		}
		return nil, fmt.Errorf("certificate and key do not form a pair: %w", err)
	}
	return &cert, nil
}

func normalizeText(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, `\r\n`, "\n")
	s = strings.ReplaceAll(s, `\n`, "\n")
	return s
}

// toPEM returns PEM bytes for s, converting base64 text.
func toPEM(s, kind string) ([]byte, error) {
	s = normalizeText(s)
	if strings.Contains(s, "-----BEGIN") {
		return []byte(repairPEM(s)), nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return nil, errors.New("neither PEM (-----BEGIN …) nor base64")
	}
	if strings.Contains(string(raw), "-----BEGIN") {
		return []byte(repairPEM(string(raw))), nil
	}
	if kind == "CERTIFICATE" {
		if _, err := x509.ParseCertificate(raw); err != nil {
			return nil, errors.New("base64 content is not a DER certificate (PFX/PKCS#12 is not supported; convert to PEM)")
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: raw}), nil
	}
	if _, err := x509.ParsePKCS8PrivateKey(raw); err == nil {
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: raw}), nil
	}
	if _, err := x509.ParsePKCS1PrivateKey(raw); err == nil {
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: raw}), nil
	}
	if _, err := x509.ParseECPrivateKey(raw); err == nil {
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: raw}), nil
	}
	return nil, errors.New("base64 content is not a DER private key")
}

// repairPEM rebuilds PEM blocks whose line breaks were lost (pasted on one
// line with spaces): every BEGIN/END pair gets its body re-wrapped.
func repairPEM(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "-----BEGIN ")
		if i < 0 {
			break
		}
		rest := s[i+len("-----BEGIN "):]
		j := strings.Index(rest, "-----")
		if j < 0 {
			break
		}
		label := rest[:j]
		body := rest[j+5:]
		endMark := "-----END " + label + "-----"
		k := strings.Index(body, endMark)
		if k < 0 {
			break
		}
		content := body[:k]
		s = body[k+len(endMark):]
		var headers []string
		lines := strings.Split(strings.TrimSpace(content), "\n")
		var data []string
		for _, l := range lines {
			l = strings.TrimSpace(l)
			if strings.Contains(l, ":") {
				headers = append(headers, l)
				continue
			}
			data = append(data, strings.Join(strings.Fields(l), ""))
		}
		joined := strings.Join(data, "")
		b.WriteString("-----BEGIN " + label + "-----\n")
		for _, h := range headers {
			b.WriteString(h + "\n")
		}
		if len(headers) > 0 {
			b.WriteString("\n")
		}
		for len(joined) > 64 {
			b.WriteString(joined[:64] + "\n")
			joined = joined[64:]
		}
		if joined != "" {
			b.WriteString(joined + "\n")
		}
		b.WriteString(endMark + "\n")
	}
	return b.String()
}
