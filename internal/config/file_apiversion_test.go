package config

import (
	"errors"
	"strings"
	"testing"
)

func TestAPIVersion(t *testing.T) {
	const body = "organization: contoso\n"
	f, err := ParseFile([]byte(body), "p.yaml", ValidateOptions{SkipSinks: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "apiVersion: patrol.dev/v1") {
		t.Fatalf("a file without apiVersion must draw one warning naming the fix, got %q", f.Warnings)
	}

	f, err = ParseFile([]byte("apiVersion: patrol.dev/v1\n"+body), "p.yaml", ValidateOptions{SkipSinks: true})
	if err != nil || len(f.Warnings) != 0 || f.APIVersion != APIVersionV1 {
		t.Fatalf("apiVersion patrol.dev/v1: %v %q %q", err, f.Warnings, f.APIVersion)
	}

	for _, v := range []string{"patrol.dev/v2", "v1", "patrol.dev/V1"} {
		_, err = ParseFile([]byte("apiVersion: "+v+"\n"+body), "p.yaml", ValidateOptions{SkipSinks: true})
		var fe *FileError
		if !errors.As(err, &fe) || len(fe.Problems) != 1 || fe.Problems[0].Path != "apiVersion" || fe.Problems[0].Line != 1 ||
			!strings.Contains(fe.Problems[0].Msg, "write apiVersion: patrol.dev/v1") {
			t.Errorf("apiVersion %s: want one problem at apiVersion (line 1) naming the fix, got %v", v, err)
		}
	}
}
