package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
)

// A plain-HTTP registry off loopback is refused before any request (no
// credential over plain HTTP); the error names the flag and the fix.
func TestPushRefusesPlainHTTPOffLoopback(t *testing.T) {
	for _, ref := range []string{"10.1.2.3:5000/patrol:v1", "192.168.0.7/patrol:v1"} {
		_, err := pushImage(ref, empty.Image)
		if err == nil || !strings.Contains(err.Error(), "plain HTTP") || !strings.Contains(err.Error(), "--push") {
			t.Errorf("push %s: err = %v, want a refusal naming --push and plain HTTP", ref, err)
		}
	}
	for _, hp := range []string{"127.0.0.1:5000", "localhost:5000", "[::1]:5000"} {
		if !isLoopback(hp) {
			t.Errorf("isLoopback(%s) = false", hp)
		}
	}
	if isLoopback("10.1.2.3:5000") {
		t.Error("isLoopback(10.1.2.3:5000) = true")
	}
}

// Inputs the image cannot be built from are refused, naming the input.
func TestBuildRefusesBadInput(t *testing.T) {
	notGo := filepath.Join(t.TempDir(), "patrol")
	if err := os.WriteFile(notGo, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	created := time.Unix(1767225600, 0)
	cases := []struct {
		name string
		o    options
		want string
	}{
		{"no epoch", options{Binary: notGo, Version: "v1.0.0"}, "SOURCE_DATE_EPOCH"},
		{"no version", options{Binary: notGo, Created: created}, "--version"},
		{"missing binary", options{Binary: notGo + ".absent", Version: "v1.0.0", Created: created}, "--binary"},
		{"not a Go binary", options{Binary: notGo, Version: "v1.0.0", Created: created}, "no Go build information"},
	}
	for _, c := range cases {
		if _, err := build(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one naming %q", c.name, err, c.want)
		}
	}
	if err := run([]string{"--binary", notGo, "--out", t.TempDir(), "--created-epoch", "yesterday", "--version", "v1"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("--created-epoch yesterday: err = %v", err)
	}
	if _, _, err := caBundle(notGo); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("--ca-bundle of a non-PEM file: err = %v", err)
	}
}

// Mozilla's bundle: every certificate parses, the constrained roots are out.
func TestMozillaBundle(t *testing.T) {
	b, n, err := mozillaBundle()
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 || strings.Count(string(b), "-----BEGIN CERTIFICATE-----") != n {
		t.Errorf("bundle: %d roots counted, %d in the PEM", n, strings.Count(string(b), "-----BEGIN CERTIFICATE-----"))
	}
	b2, _, _ := mozillaBundle()
	if string(b) != string(b2) {
		t.Error("the bundle differs between two calls (not reproducible)")
	}
}
