package sink

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/patrol-dev/patrol/internal/errkind"
)

const (
	kvTestTenant = "11111111-2222-3333-4444-555555555555"
	kvTestToken  = "kv-test-access-token"
	kvTestPAT    = "kv-test-pat-value-abcdef0123456789"
)

// kvFake is a wire-level Key Vault: the 401 challenge, PUT and GET of
// secrets with versions, tags and attributes.
type kvFake struct {
	mu       sync.Mutex
	versions map[string][]map[string]any
	log      []string // "METHOD path?query auth=<yes|no>"
	status   int      // forced status for authorized requests (0 = none)
	code     string
}

func (f *kvFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	auth := r.Header.Get("Authorization")
	f.log = append(f.log, r.Method+" "+r.URL.RequestURI()+" auth="+map[bool]string{true: "yes", false: "no"}[auth != ""])
	if r.URL.Query().Get("api-version") == "" {
		http.Error(w, "missing api-version", 400)
		return
	}
	if auth == "" {
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/`+kvTestTenant+`", resource="https://vault.azure.net"`)
		w.WriteHeader(401)
		return
	}
	if auth != "Bearer "+kvTestToken {
		kvErr(w, 401, "Unauthorized")
		return
	}
	if f.status != 0 {
		kvErr(w, f.status, f.code)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/secrets/"), "/")
	name := parts[0]
	switch r.Method {
	case http.MethodPut:
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			kvErr(w, 400, "BadParameter")
			return
		}
		v := len(f.versions[name]) + 1
		body["id"] = "https://" + r.Host + "/secrets/" + name + "/v" + string(rune('0'+v))
		f.versions[name] = append(f.versions[name], body)
		_ = json.NewEncoder(w).Encode(body)
	case http.MethodGet:
		vs := f.versions[name]
		if len(vs) == 0 {
			kvErr(w, 404, "SecretNotFound")
			return
		}
		_ = json.NewEncoder(w).Encode(vs[len(vs)-1])
	default:
		kvErr(w, 405, "MethodNotAllowed")
	}
}

func kvErr(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"error":{"code":"`+code+`","message":"fake says `+code+`"}}`)
}

type kvCred struct {
	mu     sync.Mutex
	scopes []string
	tenant string
	calls  int
}

func (c *kvCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.scopes, c.tenant = o.Scopes, o.TenantID
	return azcore.AccessToken{Token: kvTestToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func newKVSinkB(b *testing.B, f *kvFake) (Sink, *httptest.Server) {
	return newKVSink(b, f, &kvCred{}, true, "")
}

func newKVSink(t testing.TB, f *kvFake, cred azcore.TokenCredential, disableVerify bool, extra string) (Sink, *httptest.Server) {
	t.Helper()
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	params := `{"type":"azure-key-vault","vaultUrl":"` + srv.URL + `","secretName":"ado-pat","contentType":"text/plain","tags":{"team":"build"}` + extra
	if disableVerify {
		params += `,"disableChallengeResourceVerification":true`
	}
	params += `}`
	s, err := Build(Spec{Type: KeyVaultTypeName, Params: json.RawMessage(params), Where: "test"}, Deps{TokenCredential: cred, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}

func TestKeyVaultWriteReadWire(t *testing.T) {
	f := &kvFake{versions: map[string][]map[string]any{}}
	cred := &kvCred{}
	s, srv := newKVSink(t, f, cred, true, "")
	ctx := context.Background()
	if s.Name() != "azure-key-vault:"+srv.URL+"/secrets/ado-pat" {
		t.Fatalf("Name() = %s", s.Name())
	}
	held, err := s.Read(ctx)
	if err != nil || held.Present {
		t.Fatalf("Read before write: %+v %v", held, err)
	}
	validTo := time.Date(2027, 2, 3, 4, 5, 6, 0, time.UTC)
	rotated := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	if err := s.Write(ctx, kvTestPAT, Meta{Credential: "build", AuthorizationID: "auth-9", ValidTo: validTo, RotatedAt: rotated, Kind: "pat"}); err != nil {
		t.Fatalf("write: %v", err)
	}
	if len(cred.scopes) != 1 || cred.scopes[0] != "https://vault.azure.net/.default" || cred.tenant != kvTestTenant {
		t.Fatalf("token requested for scopes %v tenant %q", cred.scopes, cred.tenant)
	}
	f.mu.Lock()
	stored := f.versions["ado-pat"][0]
	logs := append([]string(nil), f.log...)
	f.mu.Unlock()
	if stored["value"] != kvTestPAT || stored["contentType"] != "text/plain" {
		t.Fatalf("stored value/contentType wrong: contentType=%v", stored["contentType"])
	}
	tags := stored["tags"].(map[string]any)
	want := map[string]string{"team": "build", KeyVaultTagCredential: "build", KeyVaultTagAuthorizationID: "auth-9", KeyVaultTagValidTo: "2027-02-03T04:05:06Z", KeyVaultTagRotatedAt: "2026-11-23T11:00:00Z"}
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("tag %s = %v, want %s", k, tags[k], v)
		}
	}
	attrs := stored["attributes"].(map[string]any)
	if attrs["exp"] != float64(validTo.Unix()) || attrs["enabled"] != true {
		t.Fatalf("attributes = %v", attrs)
	}
	for _, l := range logs {
		if strings.Contains(l, kvTestPAT) {
			t.Fatal("secret in URL")
		}
	}
	if !strings.HasPrefix(logs[0], "GET /secrets/ado-pat") || !strings.HasSuffix(logs[0], "auth=no") {
		t.Fatalf("first request should be the unauthenticated challenge probe: %v", logs)
	}

	held, err = s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !held.Present || held.AuthorizationID != "auth-9" || !held.ValidTo.Equal(validTo) || !held.RotatedAt.Equal(rotated) {
		t.Fatalf("Read = %+v", held)
	}
	// A second write is a new version; the first stays.
	if err := s.Write(ctx, kvTestPAT+"2", Meta{AuthorizationID: "auth-10", ValidTo: validTo}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	n := len(f.versions["ado-pat"])
	f.mu.Unlock()
	if n != 2 {
		t.Fatalf("versions = %d", n)
	}
	if err := s.Write(ctx, "", Meta{}); errkind.Of(err) != errkind.Usage {
		t.Fatalf("empty write: %v", err)
	}
}

// Without the opt-out, azsecrets refuses a challenge whose resource does not
// match the vault's host (127.0.0.1) — the option is really wired through.
func TestKeyVaultChallengeVerificationDefaultOn(t *testing.T) {
	f := &kvFake{versions: map[string][]map[string]any{}}
	s, _ := newKVSink(t, f, &kvCred{}, false, "")
	err := s.Write(context.Background(), kvTestPAT, Meta{})
	if err == nil || !strings.Contains(err.Error(), "doesn't match") {
		t.Fatalf("want challenge resource mismatch, got %v", err)
	}
	if strings.Contains(err.Error(), kvTestPAT) {
		t.Fatal("secret in error")
	}
}

func TestKeyVaultErrors(t *testing.T) {
	cases := []struct {
		status int
		code   string
		kind   errkind.Kind
		hint   string
	}{
		{403, "Forbidden", errkind.Permission, "Key Vault Secrets Officer"},
		{409, "Conflict", errkind.Conflict, "soft-deleted"},
		{400, "BadParameter", errkind.Usage, ""},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			f := &kvFake{versions: map[string][]map[string]any{}, status: c.status, code: c.code}
			s, _ := newKVSink(t, f, &kvCred{}, true, "")
			err := s.Write(context.Background(), kvTestPAT, Meta{})
			if errkind.Of(err) != c.kind || !strings.Contains(err.Error(), c.hint) || !strings.Contains(err.Error(), "ado-pat") {
				t.Fatalf("err = %v (kind %v), want kind %v with %q", err, errkind.Of(err), c.kind, c.hint)
			}
			if strings.Contains(err.Error(), kvTestPAT) {
				t.Fatal("secret in error")
			}
		})
	}
}

func TestKeyVaultValidate(t *testing.T) {
	cases := []struct{ params, wantErr string }{
		{`{"type":"azure-key-vault","vaultUrl":"https://v.vault.azure.net","secretName":"ado-pat"}`, ""},
		{`{"type":"azure-key-vault","secretName":"a"}`, "vaultUrl: required"},
		{`{"type":"azure-key-vault","vaultUrl":"http://v.vault.azure.net","secretName":"a"}`, "must be https"},
		{`{"type":"azure-key-vault","vaultUrl":"https://v.vault.azure.net","secretName":"bad_name"}`, "0-9, a-z"},
		{`{"type":"azure-key-vault","vaultUrl":"https://v.vault.azure.net","secretName":"` + strings.Repeat("a", 128) + `"}`, "1-127"},
		{`{"type":"azure-key-vault","vaultUrl":"https://v.vault.azure.net","secretName":"a","tags":{"patrol-x":"y"}}`, "reserved"},
		{`{"type":"azure-key-vault","vaultUrl":"https://v.vault.azure.net","secretName":"a","secret":"x"}`, "unknown field"},
	}
	for _, c := range cases {
		err := Validate(Spec{Type: KeyVaultTypeName, Params: json.RawMessage(c.params), Where: "s"})
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: err = %v, want %q", c.params, err, c.wantErr)
		}
	}
	_, err := Build(Spec{Type: KeyVaultTypeName, Params: json.RawMessage(cases[0].params), Where: "s"}, Deps{})
	if err == nil || !strings.Contains(err.Error(), "no Azure credential") {
		t.Fatalf("build without credential: %v", err)
	}
}

func FuzzKeyVaultParams(f *testing.F) {
	f.Add(`{"type":"azure-key-vault","vaultUrl":"https://v.vault.azure.net","secretName":"ado-pat","tags":{"a":"b"}}`)
	f.Add(`{"vaultUrl":"https://[::1]:80/x?y","secretName":"-"}`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseKeyVaultParams(json.RawMessage(s))
		if err == nil && (!keyVaultSecretName().MatchString(p.SecretName) || !strings.HasPrefix(p.VaultURL, "https")) {
			t.Fatalf("accepted invalid params %+v", p)
		}
	})
}

func FuzzKubernetesSecretParams(f *testing.F) {
	f.Add(`{"type":"kubernetes-secret","name":"ado-pat","key":"token","labels":{"a":"b"}}`)
	f.Add(`{"name":"x","key":"x","validToKey":"x"}`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseKubernetesSecretParams(json.RawMessage(s))
		if err == nil && (p.Name == "" || p.Key == "" || p.SecretType == "") {
			t.Fatalf("accepted incomplete params %+v", p)
		}
	})
}
