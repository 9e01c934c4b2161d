package errkind

import (
	"errors"
	"fmt"
	"testing"
)

type hinted struct{ hint string }

func (h hinted) Error() string     { return "failed" }
func (h hinted) ErrorHint() string { return h.hint }

func TestOfAndHintOfFollowTheChain(t *testing.T) {
	err := fmt.Errorf("outer: %w", New(Policy, hinted{"ask an administrator"}))
	if got := Of(err); got != Policy {
		t.Errorf("Of = %v, want policy", got)
	}
	if got := HintOf(err); got != "ask an administrator" {
		t.Errorf("HintOf = %q", got)
	}
	if got := HintOf(errors.New("plain")); got != "" {
		t.Errorf("HintOf(plain) = %q, want empty", got)
	}
	if Of(nil) != Unknown || New(Usage, nil) != nil {
		t.Error("nil handling")
	}
}

func TestExitCodesAreDistinctPerClass(t *testing.T) {
	seen := map[int]Kind{}
	for _, k := range []Kind{Unknown, Usage, Auth, Permission, NotFound, Transient, Conflict, Partial} {
		if prev, dup := seen[k.ExitCode()]; dup {
			t.Errorf("%v and %v share exit code %d", prev, k, k.ExitCode())
		}
		seen[k.ExitCode()] = k
	}
	if Policy.ExitCode() != Permission.ExitCode() {
		t.Error("policy and permission are documented to share exit code 4")
	}
}
