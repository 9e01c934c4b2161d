package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/emulator"
)

// TestPATListAfterSessionRevocation: the process's cached token is refused
// with a claims challenge after the user's sessions are revoked; `pat list`
// signs in afresh once (with the claims request) and succeeds.
func TestPATListAfterSessionRevocation(t *testing.T) {
	e, env := emuEnv(t)
	var out, errb bytes.Buffer
	a := newApp(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, strings.NewReader(""), &out, &errb)
	if _, err := a.userToken(context.Background()); err != nil { // the cached sign-in of this process
		t.Fatal(err)
	}
	if _, err := e.RevokeSignInSessions(emulator.DefaultUser); err != nil {
		t.Fatal(err)
	}
	e.ResetCounters()
	code, stdout, stderr := runApp(a, &out, &errb, "pat", "list", "-o", "json")
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Fatalf("pat list after the revocation: exit %d, %s %s", code, stdout, stderr)
	}
	c := e.Counters()
	if c["POST /{tenant}/oauth2/v2.0/token password claims"] != 1 || c["POST /{tenant}/oauth2/v2.0/token password"] != 0 || c["GET /vssps/{org}/_apis/tokens/pats"] != 2 {
		t.Fatalf("want one fresh sign-in with claims and the list sent twice: %v", c)
	}
}
