package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/rotation"
)

func TestCredentialName(t *testing.T) {
	if got := credentialName("team-a", "agents"); got != "team-a.agents" {
		t.Errorf("short: %s", got)
	}
	long := credentialName(strings.Repeat("n", 63), strings.Repeat("x", 63))
	other := credentialName(strings.Repeat("n", 63), strings.Repeat("x", 62)+"y")
	if len(long) > 64 || long == other {
		t.Errorf("long names: %q (%d) %q", long, len(long), other)
	}
	// It survives the PAT display name round trip.
	for _, n := range []string{"team-a.agents", long} {
		if c, _, ok := rotation.ParseDisplayName(rotation.DisplayName(n, time.Now())); !ok || c != n {
			t.Errorf("display name of %q parses as %q %v", n, c, ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 10 * time.Second}
	for n, want := range map[int32]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 40: 10 * time.Second} {
		if got := b.Delay(n); got != want {
			t.Errorf("Delay(%d) = %s, want %s", n, got, want)
		}
	}
}
