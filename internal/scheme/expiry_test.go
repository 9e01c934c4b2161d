package scheme

import (
	"encoding/json"
	"testing"
	"time"
)

// A token server's expires_in that is negative, absurd or overflows a
// time.Duration gives no lifetime (the token is not cached), never a
// wrapped-around one.
func TestExpiresInBounded(t *testing.T) {
	for _, v := range []any{-5.0, "-5", 1e10, "1e300", json.Number("9223372036854775807"), 400 * 24 * 3600.0} {
		if d := expiresIn(v); d != 0 {
			t.Errorf("expiresIn(%v) = %s, want 0", v, d)
		}
	}
	if d := expiresIn(3599.0); d != 3599*time.Second {
		t.Errorf("expiresIn(3599) = %s", d)
	}
}
