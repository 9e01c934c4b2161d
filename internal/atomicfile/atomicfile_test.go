package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteCreatesWithPermAndReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "secret")
	if err := Write(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "two" {
		t.Fatalf("content = %q, %v; want two", got, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("created directory mode = %v (%v), want 0700", di.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the file (temporary files left behind?)", len(entries))
	}
}

func TestWritePermIsNotWidenedByUmaskOrOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v after replacing a 0644 file, want 0600", fi.Mode().Perm())
	}
}

func TestWriteFailureKeepsOldContent(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores directory permissions; use a path whose "directory" is a file instead.
		base := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(base, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Write(filepath.Join(base, "child"), []byte("y"), 0o600); err == nil {
			t.Fatal("Write under a regular file succeeded, want an error")
		}
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := Write(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	if err := Write(path, []byte("new"), 0o600); err == nil {
		t.Fatal("Write into a read-only directory succeeded, want an error")
	}
	got, _ := os.ReadFile(path)
	if string(got) != "old" {
		t.Fatalf("content = %q after a failed write, want old", got)
	}
}

func TestWriteRenameFailureLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := Write(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Renaming onto a non-empty directory fails after the temp file was written.
	bad := filepath.Join(dir, "d")
	if err := os.Mkdir(bad, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(bad, []byte("new"), 0o600); err == nil {
		t.Fatal("want an error renaming onto a non-empty directory")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("temporary file left behind: %v", entries)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("content %q, want old", b)
	}
}

// A killed run leaves its temporary file (which may hold a secret) beside
// the target. The next Write of that target removes it — only names of
// Write's own pattern (.<base>.tmp-<digits>), only regular files, only when
// older than StaleAge — and never anything else.
func TestWriteRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pat")
	old := time.Now().Add(-2 * StaleAge)
	mk := func(name string, mtime time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := mk(".pat.tmp-123456789", old)
	kept := []string{
		mk(".pat.tmp-987654321", time.Now()), // a concurrent write in progress
		mk(".pat.tmp-12ab", old),             // not Write's pattern
		mk(".other.tmp-123", old),            // another target's
		mk("pat.tmp-123", old),               // not hidden
		mk(".pat.meta.json.tmp-123", old),    // the metadata's, swept by its own writes
		mk(".pat.tmp-", old),                 // no digits
	}
	if err := os.Symlink(filepath.Join(dir, "pat.tmp-123"), filepath.Join(dir, ".pat.tmp-555")); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, filepath.Join(dir, ".pat.tmp-555"))
	if err := os.Mkdir(filepath.Join(dir, ".pat.tmp-777"), 0o700); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, filepath.Join(dir, ".pat.tmp-777"))
	if err := Write(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file %s was not removed (%v)", stale, err)
	}
	for _, p := range kept {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s must be kept: %v", p, err)
		}
	}
}
