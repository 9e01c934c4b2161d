package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/patrol-dev/patrol/internal/atomicfile"
	"github.com/patrol-dev/patrol/internal/errkind"
)

// RefreshTokenStore keeps the device-code refresh token between runs.
// Load returns an error wrapping ErrNoRefreshToken when nothing is stored.
// Implementations (file, Kubernetes Secret, …) must treat the value as a
// password.
type RefreshTokenStore interface {
	Load(ctx context.Context) (string, error)
	Save(ctx context.Context, refreshToken string) error
}

// ErrNoRefreshToken is wrapped by Load errors when no token is stored.
var ErrNoRefreshToken = errors.New("no refresh token stored")

// CacheRecord is the JSON content of a FileTokenCache file.
type CacheRecord struct {
	RefreshToken string    `json:"refreshToken"`
	TenantID     string    `json:"tenantId"`
	ClientID     string    `json:"clientId"`
	Username     string    `json:"username,omitempty"`
	SavedAt      time.Time `json:"savedAt"`
}

// String redacts the refresh token.
func (r CacheRecord) String() string {
	return fmt.Sprintf("entra.CacheRecord{tenant=%s, client=%s, username=%s, savedAt=%s, refreshToken=REDACTED}",
		r.TenantID, r.ClientID, r.Username, r.SavedAt.UTC().Format(time.RFC3339))
}

// GoString redacts too.
func (r CacheRecord) GoString() string { return r.String() }

// FileTokenCache stores the refresh token in a JSON file (CacheRecord),
// written 0600 atomically (temp file in the same directory, fsync, rename).
// Load refuses a file readable or writable by group or others. When TenantID
// or ClientID are set, Load refuses a record made for another tenant or app,
// and Save records them.
type FileTokenCache struct {
	Path     string
	TenantID string
	ClientID string
	// Username is recorded on Save when set (informational).
	Username string
	// Now is the clock for SavedAt; nil means time.Now.
	Now func() time.Time
}

// CacheError is a refresh-token cache problem. Kind is Auth for a missing
// or mismatched token (run `patrol login`), Usage for unsafe permissions or
// unreadable files.
type CacheError struct {
	Path string
	Msg  string
	kind errkind.Kind
	err  error
}

func (e *CacheError) Error() string {
	if e.err != nil {
		return e.Msg + ": " + e.err.Error()
	}
	return e.Msg
}

// Unwrap returns the cause.
func (e *CacheError) Unwrap() error { return e.err }

// Kind classifies the error.
func (e *CacheError) Kind() errkind.Kind { return e.kind }

// Record reads and checks the cache file.
func (c *FileTokenCache) Record() (CacheRecord, error) {
	if c.Path == "" {
		return CacheRecord{}, &CacheError{kind: errkind.Usage, Msg: "no token cache path: set PATROL_TOKEN_CACHE (flag --token-cache)"}
	}
	fi, err := os.Stat(c.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return CacheRecord{}, &CacheError{Path: c.Path, kind: errkind.Auth, err: ErrNoRefreshToken,
			Msg: fmt.Sprintf("no refresh token cached at %s: run `patrol login` (device code) once to sign the technical user in", c.Path)}
	}
	if err != nil {
		return CacheRecord{}, &CacheError{Path: c.Path, kind: errkind.Usage, err: err, Msg: "cannot read token cache " + c.Path}
	}
	if fi.IsDir() {
		return CacheRecord{}, &CacheError{Path: c.Path, kind: errkind.Usage,
			Msg: fmt.Sprintf("token cache %s is a directory: point --token-cache / PATROL_TOKEN_CACHE at a file, e.g. %s", c.Path, filepath.Join(c.Path, "token-cache.json"))}
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return CacheRecord{}, &CacheError{Path: c.Path, kind: errkind.Usage,
			Msg: fmt.Sprintf("token cache %s is accessible by group or others (mode %04o) and holds a refresh token: run `chmod 600 %s`, and consider the token leaked if others could read it", c.Path, fi.Mode().Perm(), c.Path)}
	}
	data, err := os.ReadFile(c.Path)
	if err != nil {
		return CacheRecord{}, &CacheError{Path: c.Path, kind: errkind.Usage, err: err, Msg: "cannot read token cache " + c.Path}
	}
	var rec CacheRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		// never echo the content: it may hold the token
		return CacheRecord{}, &CacheError{Path: c.Path, kind: errkind.Auth,
			Msg: fmt.Sprintf("token cache %s is not valid JSON: delete it and run `patrol login` again", c.Path)}
	}
	if rec.RefreshToken == "" {
		return CacheRecord{}, &CacheError{Path: c.Path, kind: errkind.Auth, err: ErrNoRefreshToken,
			Msg: fmt.Sprintf("token cache %s holds no refresh token: run `patrol login`", c.Path)}
	}
	if c.TenantID != "" && rec.TenantID != "" && rec.TenantID != c.TenantID {
		return CacheRecord{}, &CacheError{Path: c.Path, kind: errkind.Auth,
			Msg: fmt.Sprintf("token cache %s was made for tenant %s, not %s: run `patrol login` for this tenant or point PATROL_TOKEN_CACHE elsewhere", c.Path, rec.TenantID, c.TenantID)}
	}
	if c.ClientID != "" && rec.ClientID != "" && rec.ClientID != c.ClientID {
		return CacheRecord{}, &CacheError{Path: c.Path, kind: errkind.Auth,
			Msg: fmt.Sprintf("token cache %s was made for client %s, not %s: run `patrol login` with this app or point PATROL_TOKEN_CACHE elsewhere", c.Path, rec.ClientID, c.ClientID)}
	}
	return rec, nil
}

// Load returns the stored refresh token.
func (c *FileTokenCache) Load(ctx context.Context) (string, error) {
	rec, err := c.Record()
	if err == nil && c.Username == "" {
		c.Username = rec.Username // keep it across rotations
	}
	return rec.RefreshToken, err
}

// Save replaces the file atomically with mode 0600 (creating the directory 0700).
func (c *FileTokenCache) Save(ctx context.Context, refreshToken string) error {
	if c.Path == "" {
		return &CacheError{kind: errkind.Usage, Msg: "no token cache path: set PATROL_TOKEN_CACHE (flag --token-cache)"}
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	rec := CacheRecord{RefreshToken: refreshToken, TenantID: c.TenantID, ClientID: c.ClientID, Username: c.Username, SavedAt: now().UTC()}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(c.Path, append(data, '\n'), 0o600); err != nil {
		return &CacheError{Path: c.Path, kind: errkind.Usage, err: err, Msg: "cannot save the refresh token to " + c.Path + " (check the directory is writable)"}
	}
	return nil
}
