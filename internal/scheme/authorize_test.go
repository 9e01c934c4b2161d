package scheme

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
)

func endpoint(typ, url, scheme string, params map[string]string, data map[string]string) *api.ServiceEndpoint {
	p := map[string]*string{}
	for k, v := range params {
		v := v
		p[k] = &v
	}
	return &api.ServiceEndpoint{Name: "ep", Type: typ, URL: url, Data: data,
		Authorization: &api.EndpointAuthorization{Scheme: scheme, Parameters: p}}
}

func get(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func authClient(t *testing.T, ep *api.ServiceEndpoint, et *EndpointType, base *http.Client, opts Options) *http.Client {
	t.Helper()
	a, err := New(ep, et, opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Client(base)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNginxBasicTokenCertificate(t *testing.T) {
	pki := newPKI(t)
	base := startNginx(t, pki)
	hc := pki.client()
	if code := get(t, hc, base+"/basic.json"); code != 401 {
		t.Fatalf("unauthenticated basic = %d, want 401", code)
	}
	jenkins, _ := BuiltinType("jenkins")
	good := endpoint("jenkins", base, "UsernamePassword", map[string]string{"username": nginxUser, "password": nginxPass}, nil)
	if code := get(t, authClient(t, good, &jenkins, hc, Options{}), base+"/basic.json"); code != 200 {
		t.Errorf("basic with right password = %d", code)
	}
	bad := endpoint("jenkins", base, "UsernamePassword", map[string]string{"username": nginxUser, "password": "wrong"}, nil)
	if code := get(t, authClient(t, bad, &jenkins, hc, Options{}), base+"/basic.json"); code != 401 {
		t.Errorf("basic with wrong password = %d", code)
	}
	generic, _ := BuiltinType("Generic")
	gen := endpoint("Generic", base, "UsernamePassword", map[string]string{"USERNAME": nginxUser, "Password": nginxPass}, nil)
	a, _ := New(gen, &generic, Options{})
	if a.Method() != MethodGenericBasic {
		t.Errorf("Generic method = %s", a.Method())
	}
	if code := get(t, authClient(t, gen, &generic, hc, Options{}), base+"/basic.json"); code != 200 {
		t.Errorf("generic basic = %d", code)
	}

	// Token scheme default header {{endpoint.apitoken}} HTML-encodes & and <>:
	// the documented Azure DevOps caveat, reproduced.
	tokScheme, _ := Lookup("Token")
	plain := &EndpointType{Name: "tokensvc", AuthenticationSchemes: []Scheme{tokScheme}}
	tokEP := endpoint("tokensvc", base, "Token", map[string]string{"ApiToken": nginxToken}, nil)
	if code := get(t, authClient(t, tokEP, plain, hc, Options{}), base+"/token.json"); code != 401 {
		t.Errorf("default Token header with & in token = %d, want 401 (HTML-encoded)", code)
	}
	h, _ := New(tokEP, plain, Options{})
	hdr, err := h.Headers(context.Background(), "GET", base+"/token.json")
	if err != nil || hdr.Get("Authorization") != "tok&amp;en&lt;1&gt;" {
		t.Errorf("encoded header = %q, %v", hdr.Get("Authorization"), err)
	}
	raw := &EndpointType{Name: "tokensvc", AuthenticationSchemes: []Scheme{MergeScheme(tokScheme, Scheme{Headers: []Header{{Name: "Authorization", Value: "{{{endpoint.apitoken}}}"}}})}}
	if code := get(t, authClient(t, tokEP, raw, hc, Options{}), base+"/token.json"); code != 200 {
		t.Errorf("triple-stash Token header = %d", code)
	}
	// jfrog's real override: Bearer {{ endpoint.apitoken }}.
	jf := loadType(t, "jfrog__jfrog-azure-devops-extension__jfrog.json", "jfrogArtifactoryService")
	jep := endpoint(jf.Name, base, "Token", map[string]string{"apitoken": nginxBear}, nil)
	if code := get(t, authClient(t, jep, jf, hc, Options{}), base+"/bearer.json"); code != 200 {
		t.Errorf("jfrog bearer = %d", code)
	}

	// Certificate scheme: client certificate verified by nginx.
	if code := get(t, hc, base+"/cert.json"); code != 403 {
		t.Fatalf("no client cert = %d, want 403", code)
	}
	certScheme, _ := Lookup("cert")
	ct := &EndpointType{Name: "certsvc", AuthenticationSchemes: []Scheme{certScheme}}
	bundle := string(pki.ClientPEM) + string(pki.ClientKey)
	cep := endpoint("certsvc", base, "Certificate", map[string]string{"certificate": bundle}, nil)
	if code := get(t, authClient(t, cep, ct, hc, Options{}), base+"/cert.json"); code != 200 {
		t.Errorf("client certificate = %d", code)
	}
	// Key in a separate parameter, pasted with literal \n.
	sep := endpoint("certsvc", base, "Certificate", map[string]string{"certificate": string(pki.ClientPEM),
		"privateKey": strings.ReplaceAll(string(pki.ClientKey), "\n", `\n`)}, nil)
	if code := get(t, authClient(t, sep, ct, hc, Options{}), base+"/cert.json"); code != 200 {
		t.Errorf("client certificate with separate key = %d", code)
	}
	// acceptUntrustedCerts is honoured only when exactly "true": without the CA
	// the handshake fails unless it is set.
	untrusted := endpoint("certsvc", base, "Certificate", map[string]string{"certificate": bundle}, map[string]string{"acceptUntrustedCerts": "yes"})
	if _, err := authClient(t, untrusted, ct, nil, Options{}).Get(base + "/cert.json"); err == nil {
		t.Error("unverified server accepted with acceptUntrustedCerts=yes")
	}
	untrusted.Data["acceptUntrustedCerts"] = "True"
	if code := get(t, authClient(t, untrusted, ct, nil, Options{}), base+"/cert.json"); code != 200 {
		t.Errorf("acceptUntrustedCerts=True = %d", code)
	}
}

func TestCertificateErrors(t *testing.T) {
	certScheme, _ := Lookup("cert")
	ct := &EndpointType{Name: "certsvc", AuthenticationSchemes: []Scheme{certScheme}}
	pki := newPKI(t)
	for name, params := range map[string]map[string]string{
		"empty":     {"certificate": ""},
		"no key":    {"certificate": string(pki.ClientPEM)},
		"garbage":   {"certificate": "not a cert!"},
		"wrong key": {"certificate": string(pki.ClientPEM), "privateKey": string(pki.ServerKey)},
	} {
		a, err := New(endpoint("certsvc", "https://x", "Certificate", params, nil), ct, Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = a.TLSMaterial()
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if errkind.Of(err) != errkind.Usage || strings.Contains(err.Error(), "PRIVATE KEY-----\nMI") {
			t.Errorf("%s: %v (kind %v)", name, err, errkind.Of(err))
		}
	}
}

// jwtServer verifies RS256 assertions with pub and returns a token.
type jwtServer struct {
	*httptest.Server
	hits   atomic.Int64
	claims atomic.Value // jwt.MapClaims
}

func newJWTServer(t *testing.T, pub *rsa.PublicKey, issuer, scope string) *jwtServer {
	s := &jwtServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/token":
			s.hits.Add(1)
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
				w.WriteHeader(400)
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": "want a form POST"})
				return
			}
			if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != JWTGrantType {
				json.NewEncoder(w).Encode(map[string]string{"error": "unsupported_grant_type"})
				return
			}
			claims := jwt.MapClaims{}
			tok, err := jwt.ParseWithClaims(r.PostForm.Get("assertion"), claims, func(tk *jwt.Token) (any, error) {
				if tk.Method != jwt.SigningMethodRS256 {
					return nil, errors.New("not RS256")
				}
				return pub, nil
			}, jwt.WithAudience(s.URL+"/token"), jwt.WithIssuer(issuer), jwt.WithIssuedAt())
			if err != nil || !tok.Valid {
				w.WriteHeader(400)
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "bad assertion"})
				return
			}
			exp, _ := claims.GetExpirationTime()
			iat, _ := claims.GetIssuedAt()
			if claims["scope"] != scope || exp.Sub(iat.Time) != time.Hour || tok.Header["typ"] != "JWT" {
				json.NewEncoder(w).Encode(map[string]string{"error": "invalid_scope"})
				return
			}
			s.claims.Store(claims)
			json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + issuer, "token_type": "Bearer", "expires_in": 3600})
		case "/api":
			if r.Header.Get("Authorization") != "Bearer at-"+issuer {
				w.WriteHeader(401)
				return
			}
			w.Write([]byte(`{"items":[{"name":"a"}]}`))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestJWTScheme(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	const iss, scope = "svc@project.iam.example", "https://www.googleapis.com/auth/cloud-platform"
	srv := newJWTServer(t, &key.PublicKey, iss, scope)
	gcp := loadType(t, "microsoft__azure-pipelines-terraform__terraform.json", "GoogleCloudServiceEndpoint")
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	pkcs8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	for name, k := range map[string]string{
		"pkcs8":           pkcs8,
		"pkcs1":           pkcs1,
		"literal-newline": strings.ReplaceAll(pkcs8, "\n", `\n`), // Google JSON key file private_key
		"one-line":        strings.ReplaceAll(pkcs8, "\n", " "),
	} {
		t.Run(name, func(t *testing.T) {
			ep := endpoint(gcp.Name, srv.URL, "JWT", map[string]string{"Issuer": iss, "audience": srv.URL + "/token", "Scope": scope, "PrivateKey": k}, nil)
			before := srv.hits.Load()
			a, err := New(ep, gcp, Options{HTTPClient: srv.Client(), JWTSubject: "sub-1", JWTKeyID: "kid-1"})
			if err != nil {
				t.Fatal(err)
			}
			c, err := a.Client(srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				if code := get(t, c, srv.URL+"/api"); code != 200 {
					t.Fatalf("call %d = %d", i, code)
				}
			}
			if n := srv.hits.Load() - before; n != 1 {
				t.Errorf("token server hit %d times for 3 calls, want 1 (cached by expires_in)", n)
			}
			cl := srv.claims.Load().(jwt.MapClaims)
			if cl["sub"] != "sub-1" {
				t.Errorf("sub = %v", cl["sub"])
			}
		})
	}
	// Azure DevOps behaviour: no cache, no sub.
	ep := endpoint(gcp.Name, srv.URL, "JWT", map[string]string{"Issuer": iss, "Audience": srv.URL + "/token", "Scope": scope, "PrivateKey": pkcs8}, nil)
	a, _ := New(ep, gcp, Options{HTTPClient: srv.Client(), JWTNoCache: true})
	before := srv.hits.Load()
	for i := 0; i < 2; i++ {
		if _, err := a.Headers(context.Background(), "GET", srv.URL+"/api"); err != nil {
			t.Fatal(err)
		}
	}
	if srv.hits.Load()-before != 2 {
		t.Error("JWTNoCache still cached")
	}
	if _, ok := srv.claims.Load().(jwt.MapClaims)["sub"]; ok {
		t.Error("sub sent although not configured")
	}
}

func TestJWTErrors(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv := newJWTServer(t, &key.PublicKey, "iss", "sc")
	jwtS, _ := Lookup("JWT")
	et := &EndpointType{Name: "j", AuthenticationSchemes: []Scheme{jwtS}}
	p8, _ := x509.MarshalPKCS8PrivateKey(other)
	wrongKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	ep := endpoint("j", srv.URL, "JWT", map[string]string{"Issuer": "iss", "Audience": srv.URL + "/token", "Scope": "sc", "PrivateKey": wrongKey}, nil)
	a, _ := New(ep, et, Options{HTTPClient: srv.Client()})
	_, err := a.Headers(context.Background(), "GET", srv.URL)
	var ae *AuthError
	if !errors.As(err, &ae) || errkind.Of(err) != errkind.Auth || !strings.Contains(err.Error(), "invalid_grant") || !strings.Contains(err.Error(), "bad assertion") {
		t.Errorf("wrong key: %v", err)
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Error("key in error")
	}
	delete(ep.Authorization.Parameters, "Scope")
	a, _ = New(ep, et, Options{HTTPClient: srv.Client()})
	if _, err := a.Headers(context.Background(), "GET", srv.URL); err == nil || !strings.Contains(err.Error(), "Scope") || errkind.Of(err) != errkind.Usage {
		t.Errorf("missing scope: %v", err)
	}
	ec := endpoint("j", srv.URL, "JWT", map[string]string{"Issuer": "i", "Audience": srv.URL + "/token", "Scope": "s", "PrivateKey": string(newPKI(t).ClientKey)}, nil)
	a, _ = New(ec, et, Options{HTTPClient: srv.Client()})
	if _, err := a.Headers(context.Background(), "GET", srv.URL); err == nil || !strings.Contains(err.Error(), "RSA") {
		t.Errorf("EC key: %v", err)
	}
}

// fortify mimics Fortify SSC's obtain_token plus a protected API.
type fortify struct {
	*httptest.Server
	hits atomic.Int64
}

func newFortify(t *testing.T, user, pass string) *fortify {
	f := &fortify{}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ssc/api/v1/auth/obtain_token":
			f.hits.Add(1)
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
				w.WriteHeader(401)
				w.Write([]byte(`{"message":"Access Denied","responseCode":401}`))
				return
			}
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			if body["type"] != "UnifiedLoginToken" || body["user"] != user {
				w.WriteHeader(400)
				return
			}
			w.Write([]byte(`{"data":{"token":"FT-123","creationDate":"2015-07-22T16:20:12.000+0000","terminalDate":"` +
				time.Now().Add(24*time.Hour).UTC().Format("2006-01-02T15:04:05.000-0700") + `"},"responseCode":200}`))
		case "/ssc/api/v1/projects":
			if r.Header.Get("Authorization") != "FortifyToken FT-123" {
				w.WriteHeader(401)
				return
			}
			w.Write([]byte(`{"data":[{"name":"p1"}]}`))
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func fortifyType() *EndpointType {
	basic, _ := Lookup("basic")
	s := MergeScheme(basic, Scheme{Headers: []Header{{Name: "Authorization", Value: "FortifyToken {{ #getTokenUsingBasicAuth { 'username' : 'endpoint.username', 'password' : 'endpoint.password', " +
		"'resultSelector' : 'jsonpath:$.data.token', method:'post', 'authServerUrl':'endpoint.url/api/v1/auth/obtain_token', " +
		"'body' : {'type' : 'UnifiedLoginToken', user: 'endpoint.username'} } }}"}}})
	return &EndpointType{Name: "fortify", AuthenticationSchemes: []Scheme{s}}
}

func TestTwoHopFortify(t *testing.T) {
	f := newFortify(t, "ci", "s3cret")
	et := fortifyType()
	ep := endpoint("fortify", f.URL+"/ssc", "UsernamePassword", map[string]string{"username": "ci", "password": "s3cret"}, nil)
	c := authClient(t, ep, et, f.Client(), Options{HTTPClient: f.Client()})
	for i := 0; i < 3; i++ {
		if code := get(t, c, f.URL+"/ssc/api/v1/projects"); code != 200 {
			t.Fatalf("call %d = %d", i, code)
		}
	}
	if f.hits.Load() != 1 {
		t.Errorf("obtain_token called %d times, want 1 (terminalDate caching)", f.hits.Load())
	}
	// Concurrent use of one authorizer (race detector).
	shared, err := New(ep, et, Options{HTTPClient: f.Client()})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			h, err := shared.Headers(context.Background(), "GET", f.URL+"/ssc/api/v1/projects")
			if err == nil && h.Get("Authorization") != "FortifyToken FT-123" {
				err = errors.New("wrong header " + h.Get("Authorization"))
			}
			errs <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	bad := endpoint("fortify", f.URL+"/ssc", "UsernamePassword", map[string]string{"username": "ci", "password": "nope"}, nil)
	a, _ := New(bad, et, Options{HTTPClient: f.Client()})
	_, err = a.Headers(context.Background(), "GET", f.URL+"/ssc/api/v1/projects")
	if err == nil || errkind.Of(err) != errkind.Auth || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "Access Denied") {
		t.Errorf("bad password: %v (kind %v)", err, errkind.Of(err))
	}
	if strings.Contains(err.Error(), "nope") {
		t.Error("password in error")
	}
}

func TestTwoHopJenkinsCrumbIgnoreError(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
	}))
	defer srv.Close()
	basic, _ := Lookup("basic")
	crumb := MergeScheme(basic, Scheme{Headers: []Header{
		{Name: "Authorization", Value: `Basic {{ #base64 endpoint.username ":" endpoint.password }}`},
		{Name: "Jenkins-Crumb", Value: "{{#equals request.Method 'POST' 1}}{{ #getTokenUsingBasicAuth  { 'username' : 'endpoint.username', 'password' : 'endpoint.password', 'resultSelector' : 'jsonpath:$.crumb', 'method':'get', ignoreError:'true', 'authServerUrl':'endpoint.url/crumbIssuer/api/json/' } }}{{/equals}}"}}})
	et := &EndpointType{Name: "jenkins", AuthenticationSchemes: []Scheme{crumb}}
	ep := endpoint("jenkins", srv.URL, "UsernamePassword", map[string]string{"username": "u", "password": "p"}, nil)
	a, err := New(ep, et, Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"GET", "POST"} {
		h, err := a.Headers(context.Background(), m, srv.URL+"/job/x/build")
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if h.Get("Authorization") != "Basic dTpw" || h.Get("Jenkins-Crumb") != "" {
			t.Errorf("%s headers = %v", m, h)
		}
	}
}

func TestDockerRegistryTwoHop(t *testing.T) {
	var gotBody map[string]string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/users/login/" {
			w.WriteHeader(404)
			return
		}
		json.NewDecoder(r.Body).Decode(&gotBody)
		w.Write([]byte(`{"token":"dockerjwt","expires_in":300}`))
	}))
	defer srv.Close()
	dr, _ := BuiltinType("dockerregistry")
	ep := endpoint("dockerregistry", srv.URL, "UsernamePassword", map[string]string{"username": "me", "password": `p"w`}, map[string]string{"registrytype": "Others"})
	a, err := New(ep, &dr, Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := a.Headers(context.Background(), "GET", srv.URL+"/v2/repositories/")
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("Authorization") != "JWT dockerjwt" || gotBody["username"] != "me" || gotBody["password"] != `p"w` {
		t.Errorf("header %q body %v", h.Get("Authorization"), gotBody)
	}
}

func TestRequestContextInHeaders(t *testing.T) {
	basic, _ := Lookup("basic")
	s := MergeScheme(basic, Scheme{Headers: []Header{
		{Name: "X-Req", Value: "  {{request.Method}} {{request.Host}} {{{request.AbsolutePath}}}{{{request.Query}}}  "},
		{Name: "Accept", Value: "application/xml"}}})
	et := &EndpointType{Name: "t", AuthenticationSchemes: []Scheme{s}}
	ep := endpoint("t", "https://svc.example/", "UsernamePassword", map[string]string{"username": "u"}, nil)
	a, _ := New(ep, et, Options{})
	req, _ := http.NewRequest("post", "https://svc.example:8443/a%20b/c?x=1&y=2", nil)
	req.Header.Set("Accept", "application/json")
	if err := a.Authorize(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("X-Req"); got != "POST svc.example /a%20b/c?x=1&y=2" {
		t.Errorf("X-Req = %q", got)
	}
	if req.Header.Get("Accept") != "application/xml" || len(req.Header.Values("Accept")) != 1 {
		t.Errorf("Accept = %v", req.Header.Values("Accept"))
	}
	// endpoint.url is not part of the header context (Azure DevOps): strict error.
	s2 := MergeScheme(basic, Scheme{Headers: []Header{{Name: "X-Url", Value: "{{endpoint.url}}"}}})
	a2, _ := New(ep, &EndpointType{Name: "t", AuthenticationSchemes: []Scheme{s2}}, Options{})
	if _, err := a2.Headers(context.Background(), "GET", "https://svc.example/"); err == nil || !strings.Contains(err.Error(), "endpoint.url") {
		t.Errorf("endpoint.url in header context: %v", err)
	}
}

func TestKubernetesKubeconfig(t *testing.T) {
	pki := newPKI(t)
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	kc := `apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: dev
  context: {cluster: c1, user: u1}
- name: prod
  context: {cluster: c1, user: u2}
clusters:
- name: c1
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: ` + b64(pki.CAPEM) + `}
users:
- name: u1
  user: {token: kube-token}
- name: u2
  user: {client-certificate-data: ` + b64(pki.ClientPEM) + `, client-key-data: ` + b64(pki.ClientKey) + `}
`
	k, _ := Lookup("Kubernetes")
	et := &EndpointType{Name: "kubernetes", AuthenticationSchemes: []Scheme{k}}
	ep := endpoint("kubernetes", "https://127.0.0.1:6443", "Kubernetes", map[string]string{"kubeconfig": kc}, map[string]string{"authorizationType": "Kubeconfig"})
	a, _ := New(ep, et, Options{})
	h, err := a.Headers(context.Background(), "GET", "https://127.0.0.1:6443/api")
	if err != nil || h.Get("Authorization") != "Bearer kube-token" {
		t.Errorf("token user: %v %v", h, err)
	}
	if _, roots, err := a.TLSMaterial(); err != nil || roots == nil {
		t.Errorf("CA: %v", err)
	}
	ep.Authorization.Parameters["clusterContext"] = sp("prod")
	a, _ = New(ep, et, Options{})
	if cert, _, err := a.TLSMaterial(); err != nil || cert == nil {
		t.Errorf("client cert user: %v", err)
	}
	ep.Authorization.Parameters["clusterContext"] = sp("missing")
	a, _ = New(ep, et, Options{})
	if _, err := a.Headers(context.Background(), "GET", "https://x/"); err == nil || !strings.Contains(err.Error(), `"missing" not found`) {
		t.Errorf("missing context: %v", err)
	}
}

func TestLenientJSON(t *testing.T) {
	v, err := ParseLenientJSON(`{ 'username' : 'endpoint.username', method:'post', "n": 5, b: TRUE, 'body' : {'a' : 'x y', arr: [1, 'two',]}, }`)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["username"] != "endpoint.username" || m["method"] != "post" || m["n"] != 5.0 || m["b"] != true {
		t.Errorf("parsed %v", m)
	}
	if m["body"].(map[string]any)["arr"].([]any)[1] != "two" {
		t.Errorf("body %v", m["body"])
	}
	for _, bad := range []string{`{'a': }`, `{'a' 'b'}`, `{'a': 'b'`, `['x'`, `{'a':'b'} extra`, strings.Repeat("[", 100)} {
		if _, err := ParseLenientJSON(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, err := ParseTwoHop(`{method: 'put'}`); err == nil {
		t.Error("PUT accepted")
	}
	if _, err := ParseTwoHop(`{resultSelector: '$.x'}`); err == nil {
		t.Error("selector without jsonpath: accepted")
	}
	r, err := ParseTwoHop(`{}`)
	if err != nil || r.AuthServerURL != "endpoint.url" || r.Method != "GET" || r.ResultSelector != "jsonpath:$.*" || r.Username != "endpoint.username" {
		t.Errorf("defaults = %+v, %v", r, err)
	}
}

func FuzzLenientJSON(f *testing.F) {
	for _, s := range []string{`{ 'username' : 'endpoint.username', 'body' : {'a' : 'b'} }`, `[1,2,'x']`, `{a:b}`, `'\u0041'`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseLenientJSON(s)
		if err != nil {
			return
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("parsed value not marshalable: %v", err)
		}
	})
}

func BenchmarkHeaderRendering(b *testing.B) {
	bb, _ := BuiltinType("externaltfs")
	ep := endpoint("externaltfs", "https://tfs.example/", "Token", map[string]string{"apitoken": strings.Repeat("x", 52)}, nil)
	a, err := New(ep, &bb, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Headers(ctx, "GET", "https://tfs.example/_apis/projects?api-version=7.1"); err != nil {
			b.Fatal(err)
		}
	}
}
