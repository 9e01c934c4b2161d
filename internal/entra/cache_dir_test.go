package entra

import (
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// A token cache path naming a directory gets advice about the path, not
// about file permissions (chmod 600 on a directory fixes nothing).
func TestTokenCacheIsADirectory(t *testing.T) {
	dir := t.TempDir()
	_, err := (&FileTokenCache{Path: dir}).Record()
	if errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), "is a directory") || strings.Contains(err.Error(), "chmod") {
		t.Fatalf("err = %v", err)
	}
}
