package sink

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

func TestFileSinkFormats(t *testing.T) {
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

func TestFileSinkWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pat")
	s := buildFile(t, `{"type":"file","path":"`+path+`"}`)
	if err := s.Write(context.Background(), "old", Meta{AuthorizationID: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	if err := s.Write(context.Background(), "new", Meta{AuthorizationID: "b"}); err == nil {
		t.Fatal("write into a read-only directory succeeded")
	}
	b, _ := os.ReadFile(path)
	if string(b) != "old" {
		t.Fatalf("old content lost: %q", b)
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
