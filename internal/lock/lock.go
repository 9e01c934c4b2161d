// Package lock keeps rotation runs from overlapping. A Locker is acquired
// before a run plans anything and released after it has applied; a second
// run fails at once with an error wrapping ErrHeld (exit code 7, Conflict)
// that says who holds the lock and since when.
//
// Implementations: File (flock(2) on a local file; for one machine, e.g. a
// systemd timer), Lease (a coordination.k8s.io/v1 Lease; for CronJobs) and
// None.
package lock

import (
	"context"
	"errors"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// Locker serialises rotation runs.
type Locker interface {
	// Acquire takes the lock or fails with an error wrapping ErrHeld. The
	// returned release gives it back (idempotent).
	Acquire(ctx context.Context) (release func(context.Context) error, err error)
}

// ErrHeld is returned (wrapped) when another holder has the lock. Its kind is
// errkind.Conflict.
var ErrHeld error = errkind.New(errkind.Conflict, errors.New("lock held by another run"))

// None is a Locker that never blocks (rotation.lock.type: none).
func None() Locker { return noneLocker{} }

type noneLocker struct{}

func (noneLocker) Acquire(context.Context) (func(context.Context) error, error) {
	return func(context.Context) error { return nil }, nil
}
