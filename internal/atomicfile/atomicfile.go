// Package atomicfile replaces a file's content all at once: readers see the
// old content or the new one, never a mix, and a failed write leaves the old
// file untouched. Every file patrol writes (secrets, token caches, metrics,
// emulator state) goes through Write.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// StaleAge is how old a temporary file of Write must be before Sweep
// removes it. A Write takes milliseconds; a temporary file this old was
// left by a process that was killed (or crashed) between creating and
// renaming it.
const StaleAge = 15 * time.Minute

// Write stores data at path with permission perm: it writes a temporary file
// in the same directory (created 0700 when missing), sets perm before any
// byte is written, fsyncs it, renames it over path and fsyncs the directory.
// On error the temporary file is removed and path keeps its previous content.
func Write(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	Sweep(path)
	f, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// tempPrefix is the name prefix of path's temporary files; os.CreateTemp
// appends decimal digits.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// Sweep removes temporary files Write left for path when a run was killed:
// only regular files (not symlinks or directories) in path's directory named
// exactly .<base>.tmp-<digits>, and only when last modified more than
// StaleAge ago. Errors are ignored (a file it cannot remove stays; the next
// run tries again). It returns the names it removed.
func Sweep(path string) []string {
	dir, prefix := filepath.Dir(path), tempPrefix(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	cutoff := time.Now().Add(-StaleAge)
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || rest == "" || strings.Trim(rest, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue
		}
		if os.Remove(filepath.Join(dir, name)) == nil {
			removed = append(removed, name)
		}
	}
	return removed
}
