package sink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patrol-dev/patrol/internal/atomicfile"
	"github.com/patrol-dev/patrol/internal/errkind"
)

// The file sink writes the credential to a local file, atomically (temp file
// in the same directory, fsync, rename, fsync of the directory), mode 0600 by
// default, and its metadata to <path>.meta.json (also atomic, same mode).
// The metadata records the SHA-256 of the file's content, and a write goes
// metadata-next → secret → rename of the next metadata into place, so Read
// always names the PAT the file really holds, whichever step failed or
// was interrupted: a failed write never makes patrol believe the file holds
// a PAT it does not (which would get the held PAT revoked as an orphan).
//
// Formats:
//
//	raw             the secret, no trailing newline
//	env             NAME=secret\n (name: envName, default AZURE_DEVOPS_EXT_PAT)
//	json            {"token":…,"authorizationId":…,"validTo":…}
//	netrc           machine <host> login <username> password <secret>
//	git-credential  protocol=https / host=<host> / username=<username> / password=<secret>
//
// Read returns only the metadata; it never reads the secret back except to
// check that the secret file exists.

// FileParams are the parameters of `type: file`.
type FileParams struct {
	Type     string `json:"type"`
	Path     string `json:"path"`
	Format   string `json:"format,omitempty"`
	EnvName  string `json:"envName,omitempty"`
	Username string `json:"username,omitempty"`
	Host     string `json:"host,omitempty"`
	// Mode is the octal file mode, default "0600"; group/other write and any
	// "other" access are refused.
	Mode string `json:"mode,omitempty"`
}

// File formats.
const (
	FormatRaw           = "raw"
	FormatEnv           = "env"
	FormatJSON          = "json"
	FormatNetrc         = "netrc"
	FormatGitCredential = "git-credential"
)

var (
	envNameRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
	shellSafeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_./:+=@%-]*$`) })
)

func init() {
	Register(Type{
		Name:     "file",
		Validate: func(p json.RawMessage) error { _, err := decodeFileParams(p); return err },
		New: func(p json.RawMessage, deps Deps) (Sink, error) {
			fp, err := decodeFileParams(p)
			if err != nil {
				return nil, err
			}
			return NewFile(fp, deps.Now)
		},
	})
}

// DecodeStrict decodes params into v, refusing unknown fields; used by every sink.
func DecodeStrict(params json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := strings.TrimPrefix(err.Error(), "json: ")
		return errkind.New(errkind.Usage, fmt.Errorf("invalid parameters: %s; check the field names and types in docs/rotation.md", msg))
	}
	return nil
}

func decodeFileParams(p json.RawMessage) (FileParams, error) {
	var fp FileParams
	if err := DecodeStrict(p, &fp); err != nil {
		return fp, err
	}
	usage := func(format string, a ...any) error { return errkind.New(errkind.Usage, fmt.Errorf(format, a...)) }
	if fp.Path == "" {
		return fp, usage("path is missing; set the file to write, e.g. path: /var/run/patrol/pat")
	}
	if strings.HasSuffix(fp.Path, string(os.PathSeparator)) {
		return fp, usage("path %q names a directory; give a file name", fp.Path)
	}
	if fp.Format == "" {
		fp.Format = FormatRaw
	}
	switch fp.Format {
	case FormatRaw, FormatJSON:
	case FormatEnv:
		if fp.EnvName == "" {
			fp.EnvName = "AZURE_DEVOPS_EXT_PAT"
		}
		if !envNameRE().MatchString(fp.EnvName) {
			return fp, usage("envName %q is not a valid variable name; use letters, digits and '_'", fp.EnvName)
		}
	case FormatNetrc, FormatGitCredential:
		if fp.Username == "" {
			fp.Username = "patrol"
		}
		if fp.Host == "" {
			fp.Host = "dev.azure.com"
		}
		if strings.ContainsAny(fp.Username+fp.Host, " \t\r\n") {
			return fp, usage("username and host must not contain whitespace")
		}
	default:
		return fp, usage("format %q is unknown; use raw, env, json, netrc or git-credential", fp.Format)
	}
	if fp.Format != FormatEnv && fp.EnvName != "" {
		return fp, usage("envName applies to format env only; remove it or set format: env")
	}
	if fp.Format != FormatNetrc && fp.Format != FormatGitCredential && (fp.Username != "" || fp.Host != "") {
		return fp, usage("username/host apply to formats netrc and git-credential only; remove them")
	}
	if fp.Mode == "" {
		fp.Mode = "0600"
	}
	m, err := strconv.ParseUint(fp.Mode, 8, 32)
	if err != nil || m > 0o777 {
		return fp, usage("mode %q is not an octal file mode; write e.g. \"0600\"", fp.Mode)
	}
	if m&0o027 != 0 || m&0o600 != 0o600 {
		return fp, usage("mode %s would let others read or write the secret (or the owner not); use 0600 or 0640 (owner read/write, no 'other' access)", fp.Mode)
	}
	return fp, nil
}

// FileSink writes to a local file. Build it with NewFile or sink.Build.
type FileSink struct {
	p    FileParams
	mode os.FileMode
	now  func() time.Time
}

// NewFile builds a file sink from decoded params.
func NewFile(p FileParams, now func() time.Time) (*FileSink, error) {
	m, _ := strconv.ParseUint(p.Mode, 8, 32)
	if now == nil {
		now = time.Now
	}
	return &FileSink{p: p, mode: os.FileMode(m), now: now}, nil
}

// Name is "file:<path>".
func (s *FileSink) Name() string { return "file:" + s.p.Path }

// MetaPath is where the metadata lives.
func (s *FileSink) MetaPath() string { return s.p.Path + ".meta.json" }

// nextMetaPath holds the metadata of a write in progress.
func (s *FileSink) nextMetaPath() string { return s.MetaPath() + ".next" }

// fileMeta is <path>.meta.json.
type fileMeta struct {
	Credential      string    `json:"credential"`
	Kind            string    `json:"kind,omitempty"`
	AuthorizationID string    `json:"authorizationId,omitempty"`
	DisplayName     string    `json:"displayName,omitempty"`
	ValidTo         time.Time `json:"validTo"`
	RotatedAt       time.Time `json:"rotatedAt"`
	// SHA256 of the secret file's content (hex): tells which metadata
	// describes the content after an interrupted write. A digest of a
	// high-entropy token reveals nothing usable.
	SHA256 string `json:"sha256,omitempty"`
}

func contentDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// readMeta reads a metadata file; ok is false when it is absent or unusable.
func readMeta(path string) (fileMeta, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return fileMeta{}, false
	}
	var m fileMeta
	if json.Unmarshal(b, &m) != nil {
		return fileMeta{}, false
	}
	return m, true
}

// Read reports the metadata of what the file holds. A secret file without
// metadata is Present with an empty AuthorizationID (patrol does not know
// what it is and will replace it).
func (s *FileSink) Read(ctx context.Context) (Held, error) {
	// Temporary files a killed run left (they may hold a secret): see
	// atomicfile.Sweep for what exactly is removed.
	for _, p := range []string{s.p.Path, s.MetaPath(), s.nextMetaPath()} {
		atomicfile.Sweep(p)
	}
	content, err := os.ReadFile(s.p.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Held{}, nil
		}
		return Held{}, fmt.Errorf("%s: %w", s.Name(), err)
	}
	digest := contentDigest(content)
	// A write interrupted after the secret was replaced leaves the next
	// metadata, matching the content, beside the old one.
	if m, ok := readMeta(s.nextMetaPath()); ok && m.SHA256 == digest {
		return heldOf(m), nil
	}
	b, err := os.ReadFile(s.MetaPath())
	if errors.Is(err, fs.ErrNotExist) {
		return Held{Present: true}, nil
	}
	if err != nil {
		// Like an unreadable secret file: patrol cannot tell what the sink
		// holds, so it must not act as if it knew (renewing "unknown
		// content" early).
		return Held{}, fmt.Errorf("%s: cannot read its metadata %s: %w; make it readable by patrol (or remove it: the file is then treated as unknown content and replaced)", s.Name(), s.MetaPath(), err)
	}
	var m fileMeta
	if err := json.Unmarshal(b, &m); err != nil {
		// patrol writes it atomically, so this is not an interrupted write.
		return Held{}, errkind.New(errkind.Usage, fmt.Errorf("%s: its metadata %s is not patrol's JSON (%v); something else changed it: remove it (the file is then treated as unknown content and replaced)", s.Name(), s.MetaPath(), err))
	}
	if m.SHA256 != "" && m.SHA256 != digest {
		// Metadata of other content (replaced by hand): unknown content;
		// the next rotation rewrites both.
		return Held{Present: true}, nil
	}
	return heldOf(m), nil
}

func heldOf(m fileMeta) Held {
	return Held{Present: true, AuthorizationID: m.AuthorizationID, ValidTo: m.ValidTo, RotatedAt: m.RotatedAt}
}

// Render returns the file content for secret in the configured format.
func (s *FileSink) Render(secret string, meta Meta) ([]byte, error) {
	if strings.ContainsAny(secret, "\r\n") {
		return nil, errors.New("refusing a secret containing a line break")
	}
	switch s.p.Format {
	case FormatEnv:
		return []byte(s.p.EnvName + "=" + shellQuote(secret) + "\n"), nil
	case FormatJSON:
		v := struct {
			Token           string    `json:"token"`
			AuthorizationID string    `json:"authorizationId,omitempty"`
			ValidTo         time.Time `json:"validTo"`
		}{secret, meta.AuthorizationID, meta.ValidTo.UTC()}
		b, err := json.MarshalIndent(v, "", "  ")
		return append(b, '\n'), err
	case FormatNetrc:
		return []byte(fmt.Sprintf("machine %s login %s password %s\n", s.p.Host, s.p.Username, secret)), nil
	case FormatGitCredential:
		return []byte(fmt.Sprintf("protocol=https\nhost=%s\nusername=%s\npassword=%s\n", s.p.Host, s.p.Username, secret)), nil
	}
	return []byte(secret), nil
}

func shellQuote(s string) string {
	if shellSafeRE().MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Write stores the secret, then the metadata.
func (s *FileSink) Write(ctx context.Context, secret string, meta Meta) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	content, err := s.Render(secret, meta)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	rotated := meta.RotatedAt
	if rotated.IsZero() {
		rotated = s.now()
	}
	m := fileMeta{Credential: meta.Credential, Kind: meta.Kind, AuthorizationID: meta.AuthorizationID,
		DisplayName: meta.DisplayName, ValidTo: meta.ValidTo.UTC(), RotatedAt: rotated.UTC(), SHA256: contentDigest(content)}
	b, _ := json.MarshalIndent(m, "", "  ")
	// Order: next metadata, secret, rename next → metadata. See Read.
	if err := atomicfile.Write(s.nextMetaPath(), append(b, '\n'), s.mode); err != nil {
		return fmt.Errorf("%s: write metadata %s: %w (the file was not changed)", s.Name(), s.nextMetaPath(), err)
	}
	if err := atomicfile.Write(s.p.Path, content, s.mode); err != nil {
		_ = os.Remove(s.nextMetaPath())
		return fmt.Errorf("%s: write secret: %w (the file was not changed)", s.Name(), err)
	}
	if err := os.Rename(s.nextMetaPath(), s.MetaPath()); err != nil {
		return fmt.Errorf("%s: the file holds the new credential, but recording its metadata in %s failed: %w", s.Name(), s.MetaPath(), err)
	}
	return nil
}
