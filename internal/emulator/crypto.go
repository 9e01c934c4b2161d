package emulator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/crc32"
	"math/big"
	"net"
	"strings"
	"time"
)

// pki is the emulator's CA, serving certificate and token-signing key.
type pki struct {
	caCert  *x509.Certificate
	caKey   *ecdsa.PrivateKey
	caPEM   []byte
	signKey *rsa.PrivateKey
	kid     string
}

func newCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               pkix.Name{CommonName: "patrol emulator CA", Organization: []string{"patrol emulator (test only)"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func randSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// leafCert issues the serving certificate: IP SAN 127.0.0.1, DNS localhost.
func (p *pki) leafCert() (crypto.Signer, [][]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(2 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		return nil, nil, err
	}
	return key, [][]byte{der}, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func parseCertPEM(s string) (*x509.Certificate, error) {
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM CERTIFICATE block: give the app certificate's public PEM")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

// parsePublicKeyPEM accepts a PEM certificate or PUBLIC KEY.
func parsePublicKeyPEM(s string) (crypto.PublicKey, error) {
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM CERTIFICATE or PUBLIC KEY block found")
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, err
			}
			return c.PublicKey, nil
		case "PUBLIC KEY":
			return x509.ParsePKIXPublicKey(b.Bytes)
		}
	}
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newPATSecret returns a PAT secret in the seed's format: the 84-character
// identifiable format (default) or, with legacyPatFormat, the 52-character one.
func (e *Emulator) newPATSecret() string {
	if e.seed.LegacyPATFormat {
		return newLegacyPATSecret()
	}
	return newIdentifiablePATSecret(e.now())
}

const base62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newIdentifiablePATSecret returns an 84-character PAT: 52 random base62
// characters, "JQQJ", "99", a year and a month character, 16 reserved 'A's,
// the provider signature "AZDO" at 76–80 and a 4-character checksum (base62
// of the CRC-32 of the first 80 characters). Length and AZDO position are
// the service's; the rest follows Microsoft's public secret-scanning
// patterns where they say something and is the emulator's choice where they
// do not (docs/emulator.md).
func newIdentifiablePATSecret(now time.Time) string {
	var b strings.Builder
	b.Grow(84)
	buf := make([]byte, 64)
	for b.Len() < 52 {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			if c < 248 && b.Len() < 52 { // 248 = 4*62: no modulo bias
				b.WriteByte(base62[int(c)%62])
			}
		}
	}
	y := now.UTC().Year() - 2024
	if y < 0 || y >= len(base62) {
		y = 0
	}
	b.WriteString("JQQJ99")
	b.WriteByte(base62[y])
	b.WriteByte(byte('A' + int(now.UTC().Month()) - 1))
	b.WriteString(strings.Repeat("A", 16))
	b.WriteString("AZDO")
	sum := crc32.ChecksumIEEE([]byte(b.String()))
	for i := 0; i < 4; i++ {
		b.WriteByte(base62[sum%62])
		sum /= 62
	}
	return b.String()
}

// newLegacyPATSecret returns 52 lowercase base32 characters (256 random
// bits), the format of the recorded examples.
func newLegacyPATSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// hashSecret is how PAT and refresh-token secrets are stored.
func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// newGUID returns a random RFC 4122 v4 UUID string.
func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

func marshalKeys(p *pki) (caCertPEM, caKeyPEM, signKeyPEM []byte, err error) {
	ck, err := x509.MarshalECPrivateKey(p.caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	sk := x509.MarshalPKCS1PrivateKey(p.signKey)
	return p.caPEM, pemBlock("EC PRIVATE KEY", ck), pemBlock("RSA PRIVATE KEY", sk), nil
}

func loadKeys(caCertPEM, caKeyPEM, signKeyPEM []byte) (*pki, error) {
	cb, _ := pem.Decode(caCertPEM)
	kb, _ := pem.Decode(caKeyPEM)
	sb, _ := pem.Decode(signKeyPEM)
	if cb == nil || kb == nil || sb == nil {
		return nil, errors.New("state file keys are not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	ck, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	sk, err := x509.ParsePKCS1PrivateKey(sb.Bytes)
	if err != nil {
		return nil, err
	}
	p := &pki{caCert: cert, caKey: ck, caPEM: caCertPEM, signKey: sk}
	p.kid = keyID(&sk.PublicKey)
	return p, nil
}

func newPKI() (*pki, error) {
	cert, key, err := newCA()
	if err != nil {
		return nil, err
	}
	sk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &pki{caCert: cert, caKey: key, caPEM: pemBlock("CERTIFICATE", cert.Raw), signKey: sk, kid: keyID(&sk.PublicKey)}, nil
}

func keyID(pub *rsa.PublicKey) string {
	h := sha256.Sum256(pub.N.Bytes())
	return base64.RawURLEncoding.EncodeToString(h[:12])
}
