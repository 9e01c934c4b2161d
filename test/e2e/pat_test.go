package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/emulator"
)

type patJSON struct {
	AuthorizationID string    `json:"authorizationId"`
	DisplayName     string    `json:"displayName"`
	Scope           string    `json:"scope"`
	TargetAccounts  []string  `json:"targetAccounts"`
	ValidFrom       time.Time `json:"validFrom"`
	ValidTo         time.Time `json:"validTo"`
	Token           *string   `json:"token"`
	Clamped         bool      `json:"clamped"`
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, s)
	}
	return v
}

// patWorks asks the emulator whether secret authenticates (Basic :PAT).
func (w *world) patWorks(secret string) bool {
	w.t.Helper()
	req, _ := http.NewRequest("GET", w.e.DevOpsURL()+"/"+emulator.DefaultOrg+"/_apis/connectionData", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(":"+secret)))
	req.Header.Set("X-TFS-FedAuthRedirect", "Suppress")
	resp, err := w.e.HTTPClient().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == 200 && !strings.Contains(resp.Header.Get("Content-Type"), "html")
}

func TestPATLifecycle(t *testing.T) {
	w := start(t, nil)
	env := w.env

	r := w.patrol(env, "pat", "list", "-o", "json").must(t, "pat list")
	if l := decode[[]patJSON](t, r.stdout); len(l) != 0 {
		t.Fatalf("fresh emulator has PATs: %v", l)
	}
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("an empty list must print [] (not null): %q", r.stdout)
	}

	r = w.patrolOpts(runOpts{secretStdout: true}, env, "pat", "create", "--name", "e2e agents", "--scope", "vso.agentpools", "--scope", "Code (read)", "--expires-in", "7d", "-o", "json").must(t, "pat create")
	created := decode[patJSON](t, r.stdout)
	if created.Token == nil || *created.Token == "" {
		t.Fatalf("create -o json must carry the token: %s", r.stdout)
	}
	secret := *created.Token
	addSecret(secret, "created PAT secret")
	if created.Scope != "vso.agentpools vso.code" || created.DisplayName != "e2e agents" {
		t.Fatalf("created %+v", created)
	}
	if created.TargetAccounts == nil {
		t.Fatal("patrol must create organisation-scoped PATs by default (allOrgs false)")
	}
	if d := time.Until(created.ValidTo); d < 6*24*time.Hour || d > 8*24*time.Hour {
		t.Fatalf("validTo %v is not ~7 days away", created.ValidTo)
	}
	if !w.patWorks(secret) {
		t.Fatal("the created PAT does not authenticate")
	}
	if strings.Contains(r.stderr, "warning") {
		t.Fatalf("no warning expected for an org-scoped PAT: %s", r.stderr)
	}

	// Human create prints the secret alone on stdout, the notes on stderr.
	r = w.patrolOpts(runOpts{secretStdout: true}, env, "pat", "create", "--name", "human", "--scope", "vso.code", "-o", "table").must(t, "pat create table")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 1 || len(lines[0]) < 20 {
		t.Fatalf("table create must print only the secret on stdout: %q", r.stdout)
	}
	addSecret(lines[0], "created PAT secret (table)")
	if !strings.Contains(r.stderr, "shown only this once") {
		t.Fatalf("stderr must say the secret is shown once: %q", r.stderr)
	}

	r = w.patrol(env, "pat", "get", created.AuthorizationID, "-o", "json").must(t, "pat get")
	if strings.Contains(r.stdout, `"token"`) {
		t.Fatalf("get must not have a token field: %s", r.stdout)
	}
	got := decode[patJSON](t, r.stdout)
	if got.AuthorizationID != created.AuthorizationID || got.Scope != created.Scope {
		t.Fatalf("get = %+v", got)
	}

	r = w.patrol(env, "pat", "update", created.AuthorizationID, "--name", "e2e renamed", "--extend-by", "2d", "--scope", "vso.agentpools_manage", "-o", "json").must(t, "pat update")
	up := decode[patJSON](t, r.stdout)
	if up.DisplayName != "e2e renamed" || up.Scope != "vso.agentpools_manage" {
		t.Fatalf("update = %+v", up)
	}
	if diff := up.ValidTo.Sub(created.ValidTo); diff < 48*time.Hour-time.Second || diff > 48*time.Hour+time.Second {
		t.Fatalf("--extend-by 2d moved validTo by %v", diff)
	}
	if up.Clamped {
		t.Fatal("no policy: must not report clamping")
	}

	r = w.patrol(env, "pat", "list", "-o", "table").must(t, "pat list table")
	if !strings.Contains(r.stdout, "AUTHORIZATION ID") || !strings.Contains(r.stdout, "e2e renamed") || !strings.Contains(r.stdout, "human") {
		t.Fatalf("table list:\n%s", r.stdout)
	}
	r = w.patrol(env, "pat", "list", "--name-prefix", "e2e", "-o", "yaml").must(t, "pat list yaml")
	if !strings.Contains(r.stdout, "authorizationId: "+created.AuthorizationID) || strings.Contains(r.stdout, "human") {
		t.Fatalf("yaml list with --name-prefix:\n%s", r.stdout)
	}

	r = w.patrol(env, "pat", "revoke", created.AuthorizationID, "-o", "json").must(t, "pat revoke")
	if rv := decode[map[string]any](t, r.stdout); rv["revoked"] != true || rv["authorizationId"] != created.AuthorizationID {
		t.Fatalf("revoke output %s", r.stdout)
	}
	if w.patWorks(secret) {
		t.Fatal("a revoked PAT still authenticates")
	}
	r = w.patrol(env, "pat", "list", "--filter", "revoked", "-o", "json").must(t, "pat list revoked")
	rl := decode[[]patJSON](t, r.stdout)
	if len(rl) != 1 || rl[0].AuthorizationID != created.AuthorizationID {
		t.Fatalf("revoked list = %+v", rl)
	}
	r = w.patrol(env, "pat", "list", "-o", "json").must(t, "pat list active")
	if al := decode[[]patJSON](t, r.stdout); len(al) != 1 || al[0].DisplayName != "human" {
		t.Fatalf("active list = %+v", al)
	}
}

// The seed's configuration: exactly its six variables plus endpoint
// overrides for the emulator, nothing patrol-specific.
func TestSeedEnvironmentUnchanged(t *testing.T) {
	w := start(t, nil)
	seedEnv := env{}
	for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_DEVOPS_ORG",
		"AZURE_AUTHORITY_HOST", "PATROL_VSSPS_URL", "PATROL_DEVOPS_URL", "PATROL_DISABLE_INSTANCE_DISCOVERY", "SSL_CERT_FILE", "HOME"} {
		v, ok := w.env[k]
		if !ok {
			t.Fatalf("emulator env lacks %s", k)
		}
		seedEnv[k] = v
	}
	w.e.ResetCounters()
	w.patrol(seedEnv, "pat", "list").must(t, "pat list (seed env)")
	c := w.e.Counters()
	if n := counter(c, "oauth2/v2.0/token", "password"); n != 1 {
		t.Fatalf("want exactly one ROPC sign-in, counters %v", c)
	}
}

func counter(c map[string]int64, parts ...string) int64 {
	var n int64
	for k, v := range c {
		ok := true
		for _, p := range parts {
			if !strings.Contains(k, p) {
				ok = false
			}
		}
		if ok {
			n += v
		}
	}
	return n
}

func TestExitCodes(t *testing.T) {
	seed := emulator.DefaultSeed()
	for i := range seed.Orgs {
		if seed.Orgs[i].Name == emulator.DefaultOrg {
			seed.Orgs[i].Policy.BlockFullScope = true
		}
	}
	w := start(t, &seed)

	t.Run("wrong password is auth (3)", func(t *testing.T) {
		r := w.patrol(with(w.env, env{"AZURE_PASSWORD": "definitely-wrong-pw"}), "pat", "list")
		if r.code != 3 || !strings.Contains(r.stderr, "AADSTS50126") {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
		if strings.Contains(r.stderr, "definitely-wrong-pw") {
			t.Fatal("the wrong password is echoed")
		}
		addSecret("definitely-wrong-pw", "wrong password")
	})
	t.Run("full-scope policy is policy (4)", func(t *testing.T) {
		r := w.patrol(w.env, "pat", "create", "--name", "full", "--full-access")
		if r.code != 4 || !strings.Contains(r.stderr, "fullScopePatPolicyViolation") {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
		if r.stdout != "" {
			t.Fatalf("nothing on stdout on failure: %q", r.stdout)
		}
	})
	t.Run("unknown PAT is not found (5)", func(t *testing.T) {
		for _, cmd := range [][]string{{"pat", "get"}, {"pat", "revoke"}, {"pat", "update", "--name", "x"}} {
			args := append([]string{cmd[0], cmd[1], "0f0f0f0f-0000-4000-8000-000000000000"}, cmd[2:]...)
			r := w.patrol(w.env, args...)
			if r.code != 5 {
				t.Fatalf("%q: exit %d, stderr %s", args, r.code, r.stderr)
			}
		}
	})
	t.Run("unknown organisation", func(t *testing.T) {
		r := w.patrol(with(w.env, env{"AZURE_DEVOPS_ORG": "no-such-org"}), "pat", "list")
		if r.code == 0 {
			t.Fatalf("listing in an unknown org succeeded: %s", r.stdout)
		}
	})
	t.Run("usage (2)", func(t *testing.T) {
		r := w.patrol(with(w.env, env{"AZURE_DEVOPS_ORG": ""}), "pat", "list")
		if r.code != 2 || !strings.Contains(r.stderr, "AZURE_DEVOPS_ORG") {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
	})
	t.Run("transient (6)", func(t *testing.T) {
		w.e.SetFaults(emulator.Faults{ServerErrorRate: 1, Routes: []string{"tokens/pats"}})
		defer w.e.SetFaults(emulator.Faults{})
		r := w.patrol(w.env, "pat", "list", "--timeout", "5s")
		if r.code != 6 {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
	})
}

// A service principal's token cannot use the PAT API: patrol fails before
// calling it and says why.
func TestServicePrincipalFailsFast(t *testing.T) {
	w := start(t, nil)
	spEnv := with(w.env, env{"AZURE_USERNAME": "", "AZURE_PASSWORD": "", "AZURE_CLIENT_ID": emulator.DefaultSPClientID, "AZURE_CLIENT_SECRET": emulator.DefaultSPSecret})
	w.e.ResetCounters()
	r := w.patrol(spEnv, "pat", "list")
	if r.code == 0 || !strings.Contains(r.stderr, "only user identities") || !strings.Contains(r.stderr, "patrol token") {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	if n := counter(w.e.Counters(), "tokens/pats"); n != 0 {
		t.Fatalf("patrol called the PAT API %d times with an SP token", n)
	}
	// The same identity can get a token for consumers that accept Entra tokens.
	r = w.patrolOpts(runOpts{secretStdout: true}, spEnv, "token", "-o", "json").must(t, "token (SP)")
	var tv struct {
		AccessToken string    `json:"accessToken"`
		ExpiresOn   time.Time `json:"expiresOn"`
		Identity    string    `json:"identity"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tv); err != nil || tv.AccessToken == "" || tv.Identity != "service principal" || time.Until(tv.ExpiresOn) < 10*time.Minute {
		t.Fatalf("token json: %v %+v", err, tv)
	}
	addSecret(tv.AccessToken, "SP access token")
}

func TestTokenCommand(t *testing.T) {
	w := start(t, nil)
	r := w.patrolOpts(runOpts{secretStdout: true}, w.env, "token").must(t, "token")
	tok := strings.TrimSpace(r.stdout)
	if strings.Count(tok, ".") != 2 || strings.Contains(tok, "\n") {
		t.Fatalf("token prints one bare JWT: %q", r.stdout)
	}
	addSecret(tok, "user access token")
	// It is accepted by Azure DevOps as a Bearer token.
	req, _ := http.NewRequest("GET", w.e.DevOpsURL()+"/"+emulator.DefaultOrg+"/_apis/connectionData", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := w.e.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("connectionData with the printed token: %d", resp.StatusCode)
	}
}

func TestPagingFollowsEveryPage(t *testing.T) {
	seed := emulator.DefaultSeed()
	const n = 230
	for i := 0; i < n; i++ {
		seed.PATs = append(seed.PATs, seedPAT(i))
	}
	w := start(t, &seed)
	w.e.ResetCounters()
	r := w.patrol(w.env, "pat", "list", "-o", "json").must(t, "pat list")
	if l := decode[[]patJSON](t, r.stdout); len(l) != n {
		t.Fatalf("listed %d PATs, want %d", len(l), n)
	}
	if calls := counter(w.e.Counters(), "GET", "tokens/pats"); calls != 3 {
		t.Fatalf("want 3 list pages of ≤100, got %d calls", calls)
	}
	w.e.ResetCounters()
	r = w.patrol(w.env, "pat", "list", "--top", "5", "-o", "json").must(t, "pat list --top")
	if l := decode[[]patJSON](t, r.stdout); len(l) != 5 {
		t.Fatalf("--top 5 listed %d", len(l))
	}
	if calls := counter(w.e.Counters(), "GET", "tokens/pats"); calls != 1 {
		t.Fatalf("--top 5 must stop paging early, made %d calls", calls)
	}
}

func TestDemo(t *testing.T) {
	w := start(t, nil) // only for the temp HOME; demo runs its own emulator
	r := w.patrol(env{"HOME": w.dir, "PATROL_LOG_LEVEL": "debug"}, "demo").must(t, "demo")
	for _, want := range []string{"signing in", "creating PAT", "****", "revoked", "done:", "1 sign-in"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestGlobalPATRetired: today is past 2026-12-01, so --all-orgs is a usage
// error (exit 2) explaining the retirement, and a surviving global PAT is
// listed with "global": true, "retired": true and a warning.
func TestGlobalPATRetired(t *testing.T) {
	if time.Now().Before(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Skip("the machine's clock is before the global-PAT retirement")
	}
	seed := emulator.DefaultSeed()
	const survivor = "survivingglobalpatsurvivingglobalpatsurvivingglobal"
	addSecret(survivor, "surviving global PAT secret")
	seed.PATs = []emulator.SeedPAT{{Owner: emulator.DefaultUser, Org: emulator.DefaultOrg, DisplayName: "old-global", Scope: "vso.code",
		Global: true, ValidFrom: time.Now().Add(-60 * 24 * time.Hour), ValidTo: time.Now().Add(30 * 24 * time.Hour), Token: survivor}}
	w := start(t, &seed)
	r := w.patrol(w.env, "pat", "create", "--name", "g", "--scope", "vso.code", "--all-orgs", "-o", "json")
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "2026-12-01") || !strings.Contains(r.stderr, "organisation-scoped") {
		t.Fatalf("create --all-orgs: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	r = w.patrol(w.env, "pat", "list", "-o", "json").must(t, "list")
	var items []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &items); err != nil || len(items) != 1 {
		t.Fatalf("list: %v %s", err, r.stdout)
	}
	if items[0]["global"] != true || items[0]["retired"] != true || !strings.Contains(r.stderr, "global PAT") {
		t.Fatalf("surviving global PAT not marked: %v, stderr %q", items[0], r.stderr)
	}
}

func seedPAT(i int) emulator.SeedPAT {
	return emulator.SeedPAT{
		Owner:       emulator.DefaultUser,
		Org:         emulator.DefaultOrg,
		DisplayName: "bulk-" + time.Duration(i).String(),
		Scope:       "vso.code",
		ValidTo:     time.Now().Add(24 * time.Hour).UTC(),
	}
}

// The maximum-lifespan policy clamps create and update; patrol reports it.
func TestLifespanClampReported(t *testing.T) {
	seed := emulator.DefaultSeed()
	for i := range seed.Orgs {
		if seed.Orgs[i].Name == emulator.DefaultOrg {
			seed.Orgs[i].Policy.MaxLifespanDays = 10
		}
	}
	w := start(t, &seed)
	r := w.patrolOpts(runOpts{secretStdout: true}, w.env, "pat", "create", "--name", "long", "--scope", "vso.code", "--expires-in", "30d", "-o", "json").must(t, "create 30d")
	p := decode[patJSON](t, r.stdout)
	addSecret(*p.Token, "clamped PAT secret")
	if !p.Clamped || !strings.Contains(r.stderr, "clamped") {
		t.Fatalf("create: clamped=%v stderr %q", p.Clamped, r.stderr)
	}
	if d := time.Until(p.ValidTo); d > 10*24*time.Hour+time.Minute || d < 9*24*time.Hour {
		t.Fatalf("validTo %v not clamped to ~10 days", p.ValidTo)
	}
	r = w.patrol(w.env, "pat", "update", p.AuthorizationID, "--extend-by", "5d", "-o", "json").must(t, "update --extend-by")
	u := decode[patJSON](t, r.stdout)
	if !u.Clamped || !strings.Contains(r.stderr, "creation date + maximum lifespan") {
		t.Fatalf("update: clamped=%v stderr %q", u.Clamped, r.stderr)
	}
	r = w.patrol(w.env, "pat", "update", p.AuthorizationID, "--extend-by", "5d", "-o", "table").must(t, "update table")
	if !strings.Contains(r.stdout, "Clamped:") {
		t.Fatalf("table update must show the clamp:\n%s", r.stdout)
	}
	// Shortening is not clamping.
	r = w.patrol(w.env, "pat", "update", p.AuthorizationID, "--valid-to", time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339), "-o", "json").must(t, "update shorter")
	if decode[patJSON](t, r.stdout).Clamped {
		t.Fatal("a shorter validTo is not clamped")
	}
}
