package sink

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/atomicfile"
)

const testSecret = "dip55dwf4vpitomw63jzvomefmi2jluguprzwwqwuc6xq4fhocwq"

func buildFile(t *testing.T, params string) *FileSink {
	t.Helper()
	s, err := Build(Spec{Type: "file", Params: json.RawMessage(params), Where: "test"}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*FileSink)
}

// testSecret84 is a made-up PAT in the 84-character format (AZDO at 76).
const testSecret84 = "Q7mfW2kPz9LcR4tYx8NbV3hJd6GsA1uEoK5iT0pXq2wZyMn7RvBcJQQJ99CLACAAAAAAAAAAAAASAZDO3fKx"

// TestFileSinkFormats writes both PAT formats in every file format.
func TestFileSinkFormats(t *testing.T) {
	for _, secret := range []string{testSecret, testSecret84} {
		t.Run(strconv.Itoa(len(secret)), func(t *testing.T) { testFileSinkFormats(t, secret) })
	}
}

func testFileSinkFormats(t *testing.T, testSecret string) {
	dir := t.TempDir()
	meta := Meta{Credential: "c", AuthorizationID: "4ab5764f-4193-4f1d-b995-64144880b7d7", ValidTo: time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC), RotatedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	cases := map[string]struct{ params, want string }{
		"raw":   {`{"type":"file","path":"%s"}`, testSecret},
		"env":   {`{"type":"file","path":"%s","format":"env","envName":"ADO_PAT"}`, "ADO_PAT=" + testSecret + "\n"},
		"netrc": {`{"type":"file","path":"%s","format":"netrc","username":"bot"}`, "machine dev.azure.com login bot password " + testSecret + "\n"},
		"git":   {`{"type":"file","path":"%s","format":"git-credential"}`, "protocol=https\nhost=dev.azure.com\nusername=patrol\npassword=" + testSecret + "\n"},
		"json":  {`{"type":"file","path":"%s","format":"json"}`, "{\n  \"token\": \"" + testSecret + "\",\n  \"authorizationId\": \"4ab5764f-4193-4f1d-b995-64144880b7d7\",\n  \"validTo\": \"2027-01-02T03:04:05Z\"\n}\n"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name, "pat")
			s := buildFile(t, strings.Replace(tc.params, "%s", path, 1))
			h, err := s.Read(context.Background())
			if err != nil || h.Present {
				t.Fatalf("empty sink: %+v %v", h, err)
			}
			if err := s.Write(context.Background(), testSecret, meta); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			if string(b) != tc.want {
				t.Fatalf("content %q, want %q", b, tc.want)
			}
			for _, p := range []string{path, path + ".meta.json"} {
				st, err := os.Stat(p)
				if err != nil || st.Mode().Perm() != 0o600 {
					t.Fatalf("%s mode %v %v", p, st.Mode(), err)
				}
			}
			mb, _ := os.ReadFile(path + ".meta.json")
			if strings.Contains(string(mb), testSecret) {
				t.Fatal("metadata holds the secret")
			}
			h, err = s.Read(context.Background())
			if err != nil || !h.Present || h.AuthorizationID != meta.AuthorizationID || !h.ValidTo.Equal(meta.ValidTo) || !h.RotatedAt.Equal(meta.RotatedAt) {
				t.Fatalf("read back %+v %v", h, err)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 2 {
				t.Fatalf("temp files left: %v", entries)
			}
		})
	}
}

func TestFileSinkUnknownContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pat")
	os.WriteFile(path, []byte("manual"), 0o600)
	h, err := buildFile(t, `{"type":"file","path":"`+path+`"}`).Read(context.Background())
	if err != nil || !h.Present || h.AuthorizationID != "" {
		t.Fatalf("%+v %v", h, err)
	}
}

// blockPath makes path unusable as a file for anyone, root included: a
// non-empty directory cannot be replaced by a rename.
func blockPath(t *testing.T, path string) {
	t.Helper()
	_ = os.Remove(path)
	if err := os.MkdirAll(filepath.Join(path, "block"), 0o700); err != nil {
		t.Fatal(err)
	}
}

func TestFileSinkWriteFailureKeepsOld(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		block     func(s *FileSink) string // returns the path to block
		wantHeld  string                   // what Read must report afterwards
		wantBytes string                   // what the file must contain
	}{
		// The next metadata cannot be written: nothing changes.
		{"next metadata", func(s *FileSink) string { return s.MetaPath() + ".next" }, "a", "old"},
		// The secret cannot be replaced: nothing changes.
		{"secret", func(s *FileSink) string { return s.p.Path }, "", ""},
		// The metadata cannot be renamed into place: the file holds the new
		// secret and Read must say so (else the PAT it holds would look
		// like an orphan and be revoked).
		{"metadata rename", func(s *FileSink) string { return s.MetaPath() }, "b", "new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "pat")
			s := buildFile(t, `{"type":"file","path":"`+path+`"}`)
			if err := s.Write(ctx, "old", Meta{AuthorizationID: "a"}); err != nil {
				t.Fatal(err)
			}
			if tc.name == "secret" {
				// A directory at the secret's path: the old secret is gone
				// in this case, so only check that Write fails and Read does
				// not claim the new PAT.
				blockPath(t, tc.block(s))
				if err := s.Write(ctx, "new", Meta{AuthorizationID: "b"}); err == nil {
					t.Fatal("Write succeeded with a directory at the secret path")
				}
				if _, err := os.Stat(s.MetaPath() + ".next"); !os.IsNotExist(err) {
					t.Errorf("next metadata left behind after a failed secret write: %v", err)
				}
				if h, _ := s.Read(ctx); h.AuthorizationID == "b" {
					t.Fatal("Read claims the new PAT although the secret was not written")
				}
				return
			}
			blockPath(t, tc.block(s))
			if err := s.Write(ctx, "new", Meta{AuthorizationID: "b"}); err == nil {
				t.Fatal("Write succeeded, want an error")
			}
			if b, _ := os.ReadFile(path); string(b) != tc.wantBytes {
				t.Fatalf("file holds %q, want %q", b, tc.wantBytes)
			}
			h, err := s.Read(ctx)
			if err != nil || h.AuthorizationID != tc.wantHeld {
				t.Fatalf("Read = %+v, %v; want it to report %q (what the file holds)", h, err, tc.wantHeld)
			}
		})
	}
}

func TestFileSinkReadIgnoresMetadataOfOtherContent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pat")
	s := buildFile(t, `{"type":"file","path":"`+path+`"}`)
	if err := s.Write(ctx, "one", Meta{AuthorizationID: "a"}); err != nil {
		t.Fatal(err)
	}
	// Someone replaced the secret by hand: the metadata no longer describes it.
	if err := os.WriteFile(path, []byte("hand-written"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := s.Read(ctx)
	if err != nil || !h.Present || h.AuthorizationID != "" {
		t.Fatalf("Read = %+v, %v; want present content of unknown origin", h, err)
	}
}

func TestFileSinkValidation(t *testing.T) {
	bad := map[string]string{
		`{"type":"file"}`: "path is missing",
		`{"type":"file","path":"/x","format":"yaml"}`:               "format",
		`{"type":"file","path":"/x","mode":"0644"}`:                 "others",
		`{"type":"file","path":"/x","mode":"abc"}`:                  "octal",
		`{"type":"file","path":"/x","envName":"A"}`:                 "format env only",
		`{"type":"file","path":"/x","format":"env","envName":"1A"}`: "not a valid variable",
		`{"type":"file","path":"/x","pth":"/y"}`:                    "unknown field",
		`{"type":"file","path":"/x","username":"u"}`:                "netrc",
	}
	for params, want := range bad {
		err := Validate(Spec{Type: "file", Params: json.RawMessage(params), Where: "credentials[0].sinks[0]"})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "credentials[0].sinks[0]") {
			t.Errorf("%s: got %v, want %q", params, err, want)
		}
	}
}

func TestFileSinkRefusesLineBreaks(t *testing.T) {
	s := buildFile(t, `{"type":"file","path":"`+filepath.Join(t.TempDir(), "p")+`","format":"env"}`)
	if err := s.Write(context.Background(), "a\nB=c", Meta{}); err == nil {
		t.Fatal("secret with a newline accepted (env injection)")
	}
}

func FuzzFileRender(f *testing.F) {
	f.Add(testSecret, "env")
	f.Add(testSecret84, "env")
	f.Add("it's", "env")
	f.Fuzz(func(t *testing.T, secret, format string) {
		fp, err := decodeFileParams(json.RawMessage(`{"type":"file","path":"/x","format":` + jsonString(format) + `}`))
		if err != nil {
			return
		}
		s, _ := NewFile(fp, nil)
		b, err := s.Render(secret, Meta{})
		if err != nil {
			return
		}
		if fp.Format != FormatRaw && strings.Count(string(b), "\n") != strings.Count(mustRender(t, s), "\n") {
			t.Fatalf("secret %q changed the line structure: %q", secret, b)
		}
	})
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

func mustRender(t *testing.T, s *FileSink) string {
	b, err := s.Render("x", Meta{})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Metadata that exists but cannot be read (a directory in its place stands in
// for permission denied, which root would bypass) or is not patrol's JSON
// fails that credential like an unreadable secret file: an error naming the
// metadata file, not "unknown content" renewed early.
func TestFileSinkUnreadableMetadataFails(t *testing.T) {
	ctx := context.Background()
	for name, spoil := range map[string]func(meta string){
		"unreadable": func(meta string) { blockPath(t, meta) },
		"corrupt":    func(meta string) { _ = os.WriteFile(meta, []byte("{not json"), 0o600) },
	} {
		path := filepath.Join(t.TempDir(), "pat")
		s := buildFile(t, `{"type":"file","path":"`+path+`"}`)
		if err := s.Write(ctx, "one", Meta{AuthorizationID: "a"}); err != nil {
			t.Fatal(err)
		}
		spoil(path + ".meta.json")
		h, err := s.Read(ctx)
		if err == nil || !strings.Contains(err.Error(), path+".meta.json") {
			t.Errorf("%s: Read = %+v, %v; want an error naming the metadata file", name, h, err)
		}
	}
}

// The next run's Read removes a stale temporary file a killed write left
// beside the secret (it may hold a secret), even when nothing is rotated.
func TestFileSinkReadSweepsStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pat")
	s := buildFile(t, `{"type":"file","path":"`+path+`"}`)
	if err := s.Write(context.Background(), "one", Meta{AuthorizationID: "a"}); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, ".pat.tmp-4242")
	if err := os.WriteFile(stale, []byte("half-written secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * atomicfile.StaleAge)
	_ = os.Chtimes(stale, old, old)
	if _, err := s.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file kept: %v", err)
	}
}
