package scheme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/testtool"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client certificate.
type testPKI struct {
	CAPEM, ServerPEM, ServerKey, ClientPEM, ClientKey []byte
	Pool                                              *x509.CertPool
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "patrol test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, server bool) ([]byte, []byte) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		if server {
			tpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		} else {
			tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalPKCS8PrivateKey(k)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
	}
	p := &testPKI{CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	p.ServerPEM, p.ServerKey = leaf(2, "127.0.0.1", true)
	p.ClientPEM, p.ClientKey = leaf(3, "patrol-client", false)
	p.Pool = x509.NewCertPool()
	p.Pool.AppendCertsFromPEM(p.CAPEM)
	return p
}

func (p *testPKI) client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: p.Pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

const (
	nginxUser  = "svc-user"
	nginxPass  = "pa:ss&wörd"
	nginxToken = "tok&en<1>"
	nginxBear  = "plainbearer123"
)

// startNginx runs /usr/sbin/nginx on a free 127.0.0.1 port with:
//
//	/basic.json  auth_basic (htpasswd {SHA})
//	/token.json  requires Authorization exactly equal to nginxToken
//	/bearer.json requires Authorization: Bearer nginxBear
//	/cert.json   requires a client certificate signed by the test CA
//
// It returns the base URL. Skips when nginx is absent, fails instead under
// CI=true or PATROL_REQUIRE_TOOLS=1 (testtool.Require).
func startNginx(t *testing.T, p *testPKI) string {
	t.Helper()
	bin := testtool.Require(t, "nginx", "apt-get install nginx", "/usr/sbin/nginx")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	sum := sha1.Sum([]byte(nginxPass))
	write("htpasswd", []byte(nginxUser+":{SHA}"+base64.StdEncoding.EncodeToString(sum[:])+"\n"))
	write("ca.pem", p.CAPEM)
	write("server.pem", p.ServerPEM)
	write("server.key", p.ServerKey)
	html := filepath.Join(dir, "html")
	if err := os.MkdirAll(html, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"basic", "token", "bearer", "cert"} {
		if err := os.WriteFile(filepath.Join(html, n+".json"), []byte(`{"value":[{"name":"`+n+`-ok"}]}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf(`
worker_processes 1;
master_process off;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp_body;
  proxy_temp_path %[1]s/tmp_proxy;
  fastcgi_temp_path %[1]s/tmp_fcgi;
  uwsgi_temp_path %[1]s/tmp_uwsgi;
  scgi_temp_path %[1]s/tmp_scgi;
  default_type application/json;
  server {
    listen 127.0.0.1:%[2]d ssl;
    ssl_certificate %[1]s/server.pem;
    ssl_certificate_key %[1]s/server.key;
    ssl_client_certificate %[1]s/ca.pem;
    ssl_verify_client optional;
    root %[1]s/html;
    location = /basic.json { auth_basic "patrol"; auth_basic_user_file %[1]s/htpasswd; }
    location = /token.json { if ($http_authorization != "%[3]s") { return 401; } }
    location = /bearer.json { if ($http_authorization != "Bearer %[4]s") { return 401; } }
    location = /cert.json { if ($ssl_client_verify != SUCCESS) { return 403; } }
  }
}
`, dir, port, nginxToken, nginxBear)
	confPath := write("nginx.conf", []byte(conf))
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"),
		"-g", fmt.Sprintf("daemon off; pid %s/nginx.pid; error_log %s/error.log;", dir, dir))
	out, _ := os.Create(filepath.Join(dir, "stdout.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; i < 100; i++ {
		select {
		case <-done:
			logb, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %s", logb)
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "https://" + addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("nginx did not start listening")
	return ""
}
