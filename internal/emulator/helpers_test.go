package emulator

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

func start(t testing.TB, opts Options) *Emulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e, err := Start(ctx, opts)
	if err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { cancel(); e.Close() })
	return e
}

type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %d body %q: %v", r.Status, r.Body, err)
	}
}

// do sends a request; auth is a full Authorization header value or "".
func do(t testing.TB, e *Emulator, method, u, auth string, body any) resp {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	c := *e.HTTPClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

// ropc signs a user in with the password grant (confidential, DefaultClientID).
func ropc(t testing.TB, e *Emulator, upn, scope string) (resp, map[string]any) {
	t.Helper()
	r := do(t, e, "POST", e.URL()+"/"+DefaultTenantID+"/oauth2/v2.0/token", "", url.Values{
		"grant_type": {"password"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
		"username": {upn}, "password": {DefaultPassword}, "scope": {scope}})
	var m map[string]any
	r.json(t, &m)
	return r, m
}

func userToken(t testing.TB, e *Emulator, upn string) string {
	t.Helper()
	r, m := ropc(t, e, upn, api.Scope)
	if r.Status != 200 {
		t.Fatalf("ROPC for %s: %d %s", upn, r.Status, r.Body)
	}
	return "Bearer " + m["access_token"].(string)
}

func basicPAT(secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+secret))
}

func patsURL(e *Emulator, org, query string) string {
	u := e.VSSPSURL() + "/" + org + "/_apis/tokens/pats?api-version=7.1-preview.1"
	if query != "" {
		u += "&" + query
	}
	return u
}

func createPAT(t testing.TB, e *Emulator, auth, org string, req api.PatTokenCreateRequest) api.PatTokenResult {
	t.Helper()
	r := do(t, e, "POST", patsURL(e, org, ""), auth, req)
	if r.Status != 200 {
		t.Fatalf("create PAT: %d %s", r.Status, r.Body)
	}
	var res api.PatTokenResult
	r.json(t, &res)
	return res
}

var future = time.Now().Add(30 * 24 * time.Hour).UTC()

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func itoa(n int) string { return strconv.Itoa(n) }
