package entra

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
)

func TestFileTokenCachePermsAndAtomicity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	p := filepath.Join(dir, "cache.json")
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	c := &FileTokenCache{Path: p, TenantID: "t1", ClientID: "c1", Username: "bot@x", Now: func() time.Time { return now }}
	ctx := context.Background()
	if _, err := c.Load(ctx); !errors.Is(err, ErrNoRefreshToken) || !strings.Contains(err.Error(), "patrol login") || errkind.Of(err) != errkind.Auth {
		t.Fatalf("missing cache: %v", err)
	}
	if err := c.Save(ctx, "rt-1"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %o, want 600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %o, want 700", di.Mode().Perm())
	}
	var rec map[string]any
	data, _ := os.ReadFile(p)
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	if rec["refreshToken"] != "rt-1" || rec["tenantId"] != "t1" || rec["clientId"] != "c1" || rec["username"] != "bot@x" || rec["savedAt"] != "2026-11-23T10:00:00Z" {
		t.Fatalf("record %v", rec)
	}
	if err := c.Save(ctx, "rt-2"); err != nil {
		t.Fatal(err)
	}
	got, err := c.Load(ctx)
	if err != nil || got != "rt-2" {
		t.Fatalf("Load = %q, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
	// Another app or tenant must not pick up this token.
	other := &FileTokenCache{Path: p, TenantID: "t2", ClientID: "c1"}
	if _, err := other.Load(ctx); err == nil || !strings.Contains(err.Error(), "tenant t1") {
		t.Fatalf("tenant mismatch: %v", err)
	}
	other = &FileTokenCache{Path: p, TenantID: "t1", ClientID: "c9"}
	if _, err := other.Load(ctx); err == nil || !strings.Contains(err.Error(), "client c1") {
		t.Fatalf("client mismatch: %v", err)
	}
	// Group/other-readable files are refused with the fix.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = c.Load(ctx)
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+p) || errkind.Of(err) != errkind.Usage {
		t.Fatalf("perm check: %v", err)
	}
	if strings.Contains(err.Error(), "rt-2") {
		t.Fatal("token leaked")
	}
	// Corrupt content is not echoed.
	if err := os.WriteFile(p, []byte("rt-secret-garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Load(ctx); err == nil || strings.Contains(err.Error(), "rt-secret") {
		t.Fatalf("corrupt: %v", err)
	}
	if s := (CacheRecord{RefreshToken: "rt-x"}).String(); strings.Contains(s, "rt-x") {
		t.Fatal("CacheRecord prints its token")
	}
}

// deviceFake serves the device-code flow: devicecode, then token polls whose
// answers come from states; refresh grants rotate the refresh token.
func deviceFake(t *testing.T, states []string) *fakeAuthority {
	return newFake(t, func(n int, r *http.Request, form url.Values) (int, any) {
		if strings.HasSuffix(r.URL.Path, "/devicecode") {
			return 200, map[string]any{"device_code": "dev-code-secret", "user_code": "ABCD-EFGH",
				"verification_uri": "https://microsoft.com/devicelogin", "expires_in": "900", "interval": 1,
				"message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-EFGH to authenticate."}
		}
		switch form.Get("grant_type") {
		case grantDeviceCode:
			i := n - 1
			if i < len(states) && states[i] != "ok" {
				return 400, errBody(states[i], 0, "AADSTS70016: OAuth 2.0 device flow error. "+states[i])
			}
			return 200, tokenBody(fakeJWT(map[string]any{"idtyp": "user", "upn": "bot@contoso.example"}), "rt-0", 3599)
		case "refresh_token":
			old := form.Get("refresh_token")
			if !strings.HasPrefix(old, "rt-") {
				return 400, errBody("invalid_grant", 700082, "AADSTS700082: expired")
			}
			return 200, tokenBody("at-refreshed", old+"'", 3599)
		}
		return 400, errBody("unsupported_grant_type", 0, "")
	})
}

func TestDeviceCodeLoginPolling(t *testing.T) {
	f := deviceFake(t, []string{"authorization_pending", "slow_down", "authorization_pending", "ok"})
	o := f.opts()
	o.CachePath = filepath.Join(t.TempDir(), "cache.json")
	var msg string
	tok, err := DeviceCodeLogin(context.Background(), o, func(m string) { msg = m })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "ABCD-EFGH") {
		t.Fatalf("prompt %q", msg)
	}
	if tok.Kind != IdentityUser {
		t.Fatalf("kind %v", tok.Kind)
	}
	if f.count() != 5 {
		t.Fatalf("requests = %d, want 1 devicecode + 4 polls", f.count())
	}
	dc := f.form(0)
	if dc.Get("client_id") != "client-1" || dc.Get("scope") != api.Scope+" offline_access" || dc.Has("client_secret") {
		t.Fatalf("devicecode form %v", dc)
	}
	poll := f.form(1)
	if poll.Get("grant_type") != grantDeviceCode || poll.Get("device_code") != "dev-code-secret" || poll.Get("client_id") != "client-1" {
		t.Fatalf("poll form %v", poll)
	}
	c := &FileTokenCache{Path: o.CachePath}
	rec, err := c.Record()
	if err != nil || rec.RefreshToken != "rt-0" || rec.Username != "bot@contoso.example" || rec.TenantID != "tenant-1" {
		t.Fatalf("cache %v %v", rec, err)
	}
}

func TestDeviceCodeSlowDownAddsFiveSeconds(t *testing.T) {
	f := deviceFake(t, []string{"slow_down", "ok"})
	o := f.opts()
	var waits []time.Duration
	o.waitHook = func(d time.Duration) { waits = append(waits, d) }
	o.CachePath = filepath.Join(t.TempDir(), "cache.json")
	if _, err := DeviceCodeLogin(context.Background(), o, nil); err != nil {
		t.Fatal(err)
	}
	// interval 1 (unit 1ms), then +5 after slow_down.
	if len(waits) != 2 || waits[0] != time.Millisecond || waits[1] != 6*time.Millisecond {
		t.Fatalf("waits %v, want [1ms 6ms]", waits)
	}
}

func TestDeviceCodeTerminalStates(t *testing.T) {
	for _, state := range []string{"authorization_declined", "expired_token", "bad_verification_code"} {
		t.Run(state, func(t *testing.T) {
			f := deviceFake(t, []string{"authorization_pending", state})
			o := f.opts()
			o.CachePath = filepath.Join(t.TempDir(), "cache.json")
			_, err := DeviceCodeLogin(context.Background(), o, nil)
			var se *SignInError
			if !errors.As(err, &se) || se.Code != state || se.Hint == "" {
				t.Fatalf("err %v", err)
			}
			if strings.Contains(err.Error(), "dev-code-secret") {
				t.Fatal("device code leaked")
			}
			if f.count() != 3 {
				t.Fatalf("requests %d", f.count())
			}
			if _, err := os.Stat(o.CachePath); !os.IsNotExist(err) {
				t.Fatal("cache written on failure")
			}
		})
	}
}

func TestDeviceCodeCancel(t *testing.T) {
	f := deviceFake(t, []string{"authorization_pending", "authorization_pending", "authorization_pending"})
	o := f.opts()
	o.pollUnit = time.Hour
	o.CachePath = filepath.Join(t.TempDir(), "cache.json")
	ctx, cancel := context.WithCancel(context.Background())
	_, err := DeviceCodeLogin(ctx, o, func(string) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func TestRefreshRedeemAndRotation(t *testing.T) {
	f := deviceFake(t, nil)
	o := f.opts()
	o.Method = MethodDeviceCode
	o.ClientSecret = "cs-1"
	o.CachePath = filepath.Join(t.TempDir(), "cache.json")
	ctx := context.Background()

	src, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Token(ctx); err == nil || !strings.Contains(err.Error(), "patrol login") || errkind.Of(err) != errkind.Auth {
		t.Fatalf("no cache: %v", err)
	}
	store := &FileTokenCache{Path: o.CachePath, TenantID: "tenant-1", ClientID: "client-1", Username: "bot@x"}
	if err := store.Save(ctx, "rt-A"); err != nil {
		t.Fatal(err)
	}
	o.Now = func() time.Time { return time.Now() }
	src, _ = New(o)
	tok, err := src.Token(ctx)
	if err != nil || tok.AccessToken != "at-refreshed" || tok.Kind != IdentityUser {
		t.Fatalf("tok %v err %v", tok, err)
	}
	form := f.form(f.count() - 1)
	if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != "rt-A" || form.Get("client_secret") != "cs-1" ||
		form.Get("scope") != api.Scope+" offline_access" || form.Get("client_id") != "client-1" {
		t.Fatalf("refresh form %v", form)
	}
	rec, err := (&FileTokenCache{Path: o.CachePath}).Record()
	if err != nil || rec.RefreshToken != "rt-A'" || rec.Username != "bot@x" {
		t.Fatalf("rotated token not saved: %v %v", rec, err)
	}
	// A second source (next run) uses the rotated token, and rotates again.
	src2, _ := New(o)
	if _, err := src2.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.form(f.count() - 1).Get("refresh_token"); got != "rt-A'" {
		t.Fatalf("next run used %q", got)
	}
	if rec, _ := (&FileTokenCache{Path: o.CachePath}).Record(); rec.RefreshToken != "rt-A''" {
		t.Fatalf("second rotation not saved: %v", rec)
	}
}

func TestRefreshExpiredHint(t *testing.T) {
	f := deviceFake(t, nil)
	o := f.opts()
	o.Method = MethodDeviceCode
	o.Cache = &memStore{rt: "bogus"}
	src, _ := New(o)
	_, err := src.Token(context.Background())
	var se *SignInError
	if !errors.As(err, &se) || se.AADSTS != 700082 || !strings.Contains(se.Hint, "patrol login") {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), "bogus") {
		t.Fatal("refresh token leaked")
	}
}

type memStore struct {
	rt    string
	saves int
	err   error
}

func (m *memStore) Load(context.Context) (string, error) {
	if m.rt == "" {
		return "", ErrNoRefreshToken
	}
	return m.rt, nil
}

func (m *memStore) Save(_ context.Context, rt string) error {
	if m.err != nil {
		return m.err
	}
	m.rt = rt
	m.saves++
	return nil
}

func TestRefreshCustomStore(t *testing.T) {
	f := deviceFake(t, nil)
	o := f.opts()
	o.Method = MethodDeviceCode
	st := &memStore{}
	o.Cache = st
	src, _ := New(o)
	if _, err := src.Token(context.Background()); !errors.Is(err, ErrNoRefreshToken) || !strings.Contains(err.Error(), "patrol login") {
		t.Fatalf("empty store: %v", err)
	}
	st.rt = "rt-1"
	src, _ = New(o)
	if _, err := src.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.saves != 1 || st.rt != "rt-1'" {
		t.Fatalf("store %+v", st)
	}
	st.err = errors.New("disk full")
	src, _ = New(o)
	if _, err := src.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "rotated refresh token") {
		t.Fatalf("save failure not reported: %v", err)
	}
}

func TestDeviceCodeLoginChecksSettingsFirst(t *testing.T) {
	f := deviceFake(t, nil)
	o := f.opts()
	o.ClientID = ""
	_, err := DeviceCodeLogin(context.Background(), o, func(string) { t.Fatal("prompted despite bad settings") })
	if err == nil || !strings.Contains(err.Error(), "AZURE_CLIENT_ID (flag --client-id) is required for --auth device-code") || errkind.Of(err) != errkind.Usage {
		t.Fatalf("err %v", err)
	}
	if f.count() != 0 {
		t.Fatalf("requests sent: %d", f.count())
	}
}
