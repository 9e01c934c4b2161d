package lock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
)

func TestFileLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "rotate.lock")
	ctx := context.Background()
	a := NewFile(FileOptions{Path: path, Identity: "run-a"})
	rel, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("lock file mode %v %v", st.Mode(), err)
	}
	// A second locker (separate open file description) is refused with who holds it.
	_, err = NewFile(FileOptions{Path: path, Identity: "run-b"}).Acquire(ctx)
	var he *FileHeldError
	if !errors.As(err, &he) || !errors.Is(err, ErrHeld) || errkind.Of(err) != errkind.Conflict {
		t.Fatalf("want FileHeldError/ErrHeld/Conflict, got %T %v", err, err)
	}
	if he.Holder.Identity != "run-a" || he.Holder.PID != os.Getpid() || !strings.Contains(err.Error(), "run-a") || !strings.Contains(err.Error(), "since") {
		t.Fatalf("holder not reported: %v", err)
	}
	if err := rel(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rel(ctx); err != nil {
		t.Fatal("release not idempotent:", err)
	}
	rel2, err := NewFile(FileOptions{Path: path}).Acquire(ctx)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	_ = rel2(ctx)
}

func TestFileLockWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rotate.lock")
	ctx := context.Background()
	rel, err := NewFile(FileOptions{Path: path}).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		r, err := NewFile(FileOptions{Path: path, Wait: 10 * time.Second}).Acquire(ctx)
		if err == nil {
			_ = r(ctx)
		}
		done <- err
	}()
	time.Sleep(150 * time.Millisecond)
	_ = rel(ctx)
	if err := <-done; err != nil {
		t.Fatalf("waiter did not get the lock: %v", err)
	}
}

// TestFileLockReleasedOnExit: a holder process that dies leaves no lock behind.
func TestFileLockReleasedOnExit(t *testing.T) {
	if os.Getenv("PATROL_LOCK_CHILD") != "" {
		_, err := NewFile(FileOptions{Path: os.Getenv("PATROL_LOCK_CHILD"), Identity: "child"}).Acquire(context.Background())
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Hour) // killed by the parent
		return
	}
	path := filepath.Join(t.TempDir(), "rotate.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileLockReleasedOnExit$")
	cmd.Env = append(os.Environ(), "PATROL_LOCK_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil {
		t.Fatal(err)
	}
	_, err = NewFile(FileOptions{Path: path}).Acquire(context.Background())
	var he *FileHeldError
	if !errors.As(err, &he) || he.Holder.Identity != "child" {
		t.Fatalf("child's lock not seen: %v", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	rel, err := NewFile(FileOptions{Path: path}).Acquire(context.Background())
	if err != nil {
		t.Fatalf("lock survived its holder: %v", err)
	}
	_ = rel(context.Background())
}

func TestNone(t *testing.T) {
	r, err := None().Acquire(context.Background())
	if err != nil || r(context.Background()) != nil {
		t.Fatal(err)
	}
}

// A lock path that cannot be a file (under a regular file, a directory, a
// path without write permission) is the configuration's fault: a usage
// error naming the path, the component in the way and rotation.lock.path.
func TestFileLockBadPathNamesPathAndFix(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "hosts")
	if err := os.WriteFile(regular, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(regular, "x"), regular + " is a file, not a directory"},
		{filepath.Join(regular, "a", "b"), regular + " is a file, not a directory"},
		{dir, "is a directory"},
	} {
		_, err := NewFile(FileOptions{Path: tc.path}).Acquire(context.Background())
		if err == nil || errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), tc.path) ||
			!strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "rotation.lock.path") {
			t.Errorf("%s: got %v (kind %v); want a usage error naming the path, %q and rotation.lock.path", tc.path, err, errkind.Of(err), tc.want)
		}
	}
}

// The lock file records the accounts (organisation, identity) the run
// serves; a refused run names them.
func TestFileLockRecordsAccounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rotate.lock")
	ctx := context.Background()
	rel, err := NewFile(FileOptions{Path: path, Identity: "run-a", Accounts: []string{"contoso", "contoso-labs (identity labs-admin)"}}).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rel(ctx) }()
	_, err = NewFile(FileOptions{Path: path, Identity: "run-b"}).Acquire(ctx)
	var he *FileHeldError
	if !errors.As(err, &he) || len(he.Holder.Accounts) != 2 || !strings.Contains(err.Error(), "serving contoso, contoso-labs (identity labs-admin)") {
		t.Fatalf("want the holder's accounts named, got %v", err)
	}
}
