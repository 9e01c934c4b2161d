package lock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// FileOptions configure NewFile.
type FileOptions struct {
	// Path of the lock file; its directory is created (0700) when missing.
	Path string
	// Identity recorded in the file (default "<hostname>/<pid>").
	Identity string
	// Wait is how long Acquire waits for a held lock (0: fail at once).
	Wait time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Accounts the run serves ("organization" or "organization (identity
	// name)"), recorded in the file so a held lock says what it holds up.
	Accounts []string
}

// FileHolder is what the lock file records about its holder.
type FileHolder struct {
	PID      int       `json:"pid"`
	Host     string    `json:"host"`
	Identity string    `json:"identity"`
	Since    time.Time `json:"since"`
	Accounts []string  `json:"accounts,omitempty"`
}

// FileHeldError says who holds a file lock. It wraps ErrHeld.
type FileHeldError struct {
	Path   string
	Holder FileHolder // zero when the file could not be read
}

func (e *FileHeldError) Error() string {
	who := "another process"
	if e.Holder.PID != 0 {
		who = fmt.Sprintf("%q (pid %d on %s) since %s", e.Holder.Identity, e.Holder.PID, e.Holder.Host, e.Holder.Since.UTC().Format(time.RFC3339))
		if len(e.Holder.Accounts) > 0 {
			who += ", serving " + strings.Join(e.Holder.Accounts, ", ")
		}
	}
	return fmt.Sprintf("lock file %s is held by %s; another patrol run is in progress — wait for it to finish (the lock is released automatically when that process exits)", e.Path, who)
}

func (e *FileHeldError) Unwrap() error { return ErrHeld }

// Kind is errkind.Conflict.
func (e *FileHeldError) Kind() errkind.Kind { return errkind.Conflict }

// NewFile returns a Locker using flock(2) on o.Path. The kernel releases the
// lock when the process dies, so a crashed run never blocks the next one.
// The holder's pid, host, identity and start time are written into the file
// for the error message of a run that finds it held.
func NewFile(o FileOptions) Locker {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &fileLocker{o: o}
}

type fileLocker struct{ o FileOptions }

func (l *fileLocker) Acquire(ctx context.Context) (func(context.Context) error, error) {
	if l.o.Path == "" {
		return nil, errkind.New(errkind.Usage, errors.New("file lock: path is empty; set rotation.lock.path"))
	}
	if err := os.MkdirAll(filepath.Dir(l.o.Path), 0o700); err != nil {
		return nil, pathError(l.o.Path, "create its directory", err)
	}
	f, err := os.OpenFile(l.o.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, pathError(l.o.Path, "open", err)
	}
	deadline := time.Now().Add(l.o.Wait)
	for {
		busy, err := tryLock(f)
		if err == nil && !busy {
			break
		}
		if err != nil {
			f.Close()
			return nil, errkind.New(errkind.Usage, fmt.Errorf("file lock %s: flock: %w; the file system does not support file locks: set rotation.lock.path to a local file system, or use rotation.lock.type lease", l.o.Path, err))
		}
		if l.o.Wait <= 0 || time.Now().After(deadline) {
			held := &FileHeldError{Path: l.o.Path}
			if b, rerr := os.ReadFile(l.o.Path); rerr == nil {
				_ = json.Unmarshal(b, &held.Holder)
			}
			f.Close()
			return nil, held
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	host, _ := os.Hostname()
	h := FileHolder{PID: os.Getpid(), Host: host, Identity: l.o.Identity, Since: l.o.Now().UTC(), Accounts: l.o.Accounts}
	if h.Identity == "" {
		h.Identity = fmt.Sprintf("%s/%d", host, h.PID)
	}
	b, _ := json.Marshal(h)
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
		_ = f.Sync()
	}
	var once sync.Once
	var rerr error
	release := func(context.Context) error {
		once.Do(func() {
			_ = f.Truncate(0)
			if err := unlockFile(f); err != nil {
				rerr = fmt.Errorf("file lock %s: unlock: %w", l.o.Path, err)
			}
			if err := f.Close(); err != nil && rerr == nil {
				rerr = err
			}
		})
		return rerr
	}
	return release, nil
}

// String renders a holder for messages.
func (h FileHolder) String() string {
	return strings.TrimSpace(fmt.Sprintf("%s (pid %d on %s since %s)", h.Identity, h.PID, h.Host, h.Since.UTC().Format(time.RFC3339)))
}

// pathError explains why the lock file at path cannot be created or opened
// (step): a usage error naming the path, what is in the way (an ancestor that
// is a regular file, a directory at path, missing permission) and the fix.
func pathError(path, step string, err error) error {
	why := err.Error()
	switch {
	case errors.Is(err, syscall.ENOTDIR):
		why = "a parent is not a directory"
		for p := filepath.Dir(path); p != filepath.Dir(p); p = filepath.Dir(p) {
			if st, serr := os.Stat(p); serr == nil {
				if !st.IsDir() {
					why = p + " is a file, not a directory"
				}
				break
			}
		}
	case errors.Is(err, syscall.EISDIR):
		why = "it is a directory; name a file in it, e.g. " + filepath.Join(path, "rotate.lock")
	case errors.Is(err, os.ErrPermission):
		why = "permission denied (" + err.Error() + ")"
	case errors.Is(err, syscall.EROFS):
		why = "the file system is read-only"
	}
	return errkind.New(errkind.Usage, fmt.Errorf("file lock %s: cannot %s: %s; set rotation.lock.path to a file in a writable directory (e.g. /var/lib/patrol/rotate.lock)", path, step, why))
}
