package lock

// TEMPORARY ADAPTER (owned by the Kubernetes engineer): the rotation engineer
// defines Locker and ErrHeld in lock.go. Delete this file as soon as lock.go
// exists with these declarations; nothing else here depends on it.

import (
	"context"
	"errors"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// Locker serialises rotation runs.
type Locker interface {
	Acquire(ctx context.Context) (release func(context.Context) error, err error)
}

// ErrHeld is returned (wrapped) when another holder has the lock.
var ErrHeld error = errkind.New(errkind.Conflict, errors.New("lock held by another run"))
