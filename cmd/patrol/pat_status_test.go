package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/emulator"
)

const (
	idActive  = "11111111-1111-4111-8111-111111111111"
	idExpired = "22222222-2222-4222-8222-222222222222"
	idRevoked = "33333333-3333-4333-8333-333333333333"
	idGlobal  = "44444444-4444-4444-8444-444444444444"
	idTwinA   = "55555555-5555-4555-8555-555555555555"
	idTwinB   = "66666666-6666-4666-8666-666666666666"
)

// statusEmu seeds one PAT of each status (and two of one name) at clk, a
// day after global PATs were retired.
func statusEmu(t *testing.T) (map[string]string, time.Time) {
	t.Helper()
	clk := api.GlobalPATRetirement.Add(24 * time.Hour)
	seed := emulator.DefaultSeed()
	pat := func(id, name string, validTo time.Time) emulator.SeedPAT {
		return emulator.SeedPAT{AuthorizationID: id, Owner: emulator.DefaultUser, Org: emulator.DefaultOrg, DisplayName: name, Scope: "vso.code",
			ValidFrom: clk.Add(-40 * 24 * time.Hour), ValidTo: validTo}
	}
	later, earlier := clk.Add(30*24*time.Hour), clk.Add(-24*time.Hour)
	rev := pat(idRevoked, "st-revoked", later)
	rev.Revoked = true
	glob := pat(idGlobal, "st-global", later)
	glob.Global = true
	seed.PATs = append(seed.PATs, pat(idActive, "st-active", later), pat(idExpired, "st-expired", earlier), rev, glob,
		pat(idTwinA, "st-twin", later), pat(idTwinB, "st-twin", later))
	_, env := emuEnvOpts(t, emulator.Options{Seed: &seed, Now: func() time.Time { return clk }})
	return env, clk
}

// PAT views carry the status: a STATUS column (table, wide), a status field
// (json, yaml) and a Status line in the detail view.
func TestPATStatus(t *testing.T) {
	env, clk := statusEmu(t)
	want := map[string]string{idActive: "active", idExpired: "expired", idRevoked: "revoked", idGlobal: "global-retired"}

	code, stdout, stderr := runCLIAt(t, env, clk, "pat", "list", "--filter", "all", "--name-prefix", "st-", "-o", "json")
	if code != 0 {
		t.Fatalf("list json: %d %s", code, stderr)
	}
	var items []PATView
	if err := json.Unmarshal([]byte(stdout), &items); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range items {
		got[v.AuthorizationID] = v.Status
	}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("list --filter all: %s has status %q, want %q", id, got[id], st)
		}
	}
	for _, format := range []string{"table", "wide"} {
		code, stdout, _ = runCLIAt(t, env, clk, "pat", "list", "--filter", "all", "--name-prefix", "st-", "-o", format)
		lines := strings.Split(stdout, "\n")
		if code != 0 || !strings.Contains(lines[0], "STATUS") {
			t.Fatalf("list -o %s: %d, no STATUS column: %q", format, code, stdout)
		}
		col := strings.Index(lines[0], "STATUS")
		for _, l := range lines[1:] {
			for id, st := range want {
				if strings.HasPrefix(l, id) && !strings.HasPrefix(l[col:], st+" ") {
					t.Errorf("-o %s: row of %s shows %q under STATUS, want %q", format, id, l[col:], st)
				}
			}
		}
	}
	code, stdout, _ = runCLIAt(t, env, clk, "pat", "list", "--filter", "revoked", "-o", "yaml")
	if code != 0 || !strings.Contains(stdout, "status: revoked") {
		t.Errorf("list --filter revoked -o yaml: %d %q", code, stdout)
	}
	for id, st := range want {
		code, stdout, _ = runCLIAt(t, env, clk, "pat", "get", id, "-o", "json")
		var v PATView
		if err := json.Unmarshal([]byte(stdout), &v); code != 0 || err != nil || v.Status != st {
			t.Errorf("get %s: %d %v status %q, want %q", id, code, err, v.Status, st)
		}
	}
	code, stdout, _ = runCLIAt(t, env, clk, "pat", "get", idRevoked)
	if code != 0 || !strings.Contains(stdout, "Status:") || !strings.Contains(stdout, "revoked") {
		t.Errorf("get table: %d %q", code, stdout)
	}
}

// get and revoke take a unique display name; an ambiguous one is exit 2
// listing the candidates; revoking a revoked PAT says so and exits 0.
func TestPATByNameAndRevokeTwice(t *testing.T) {
	env, clk := statusEmu(t)
	code, stdout, stderr := runCLIAt(t, env, clk, "pat", "get", "st-active", "-o", "jsonpath={.authorizationId}")
	if code != 0 || stdout != idActive {
		t.Fatalf("get by name: %d %q %s", code, stdout, stderr)
	}
	code, _, stderr = runCLIAt(t, env, clk, "pat", "get", "st-twin")
	if code != 2 || !strings.Contains(stderr, idTwinA) || !strings.Contains(stderr, idTwinB) {
		t.Fatalf("ambiguous name: exit %d, stderr %q; want 2 listing both IDs", code, stderr)
	}
	code, _, stderr = runCLIAt(t, env, clk, "pat", "revoke", "no-such-pat")
	if code != 5 || !strings.Contains(stderr, "no-such-pat") {
		t.Fatalf("unknown name: exit %d, stderr %q; want 5", code, stderr)
	}
	code, stdout, stderr = runCLIAt(t, env, clk, "pat", "revoke", "st-active")
	if code != 0 || !strings.Contains(stdout, "Revoked PAT "+idActive) {
		t.Fatalf("revoke by name: %d %q %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLIAt(t, env, clk, "pat", "revoke", idActive)
	if code != 0 || !strings.Contains(stdout, "already revoked") {
		t.Fatalf("revoke twice: exit %d, stdout %q, stderr %q; want exit 0 saying it was already revoked", code, stdout, stderr)
	}
	code, stdout, _ = runCLIAt(t, env, clk, "pat", "revoke", "st-revoked", "-o", "json")
	var r RevokeResult
	if err := json.Unmarshal([]byte(stdout), &r); code != 0 || err != nil || !r.AlreadyRevoked || !r.Revoked || r.AuthorizationID != idRevoked {
		t.Fatalf("revoke revoked -o json: %d %v %q", code, err, stdout)
	}
}
