package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Fixed inputs of the image under test.
const (
	testVersion = "v0.0.0-imagetest"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
	testEpoch   = "1767225600" // 2026-01-01T00:00:00Z
)

// runImageScript runs scripts/image.sh (the way a release builds the image)
// with OUT=out and the fixed inputs; it returns the digest it printed.
func runImageScript(t *testing.T, out string) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts/image.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"VERSION="+testVersion, "COMMIT="+testCommit, "SOURCE_DATE_EPOCH="+testEpoch,
		"GOARCH="+runtime.GOARCH, "OUT="+out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/image.sh: %v\nstderr:\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	digest := lines[len(lines)-1]
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("scripts/image.sh: last stdout line %q is not a digest\nstderr:\n%s", digest, stderr.String())
	}
	return digest
}

func layoutImage(t *testing.T, dir string) v1.Image {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("%s holds %d manifests, want 1", dir, len(m.Manifests))
	}
	if got := m.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != testVersion {
		t.Errorf("layout ref name = %q, want %q", got, testVersion)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestImage builds the image twice with scripts/image.sh, pushes it to an
// in-process registry on 127.0.0.1, pulls it back, checks its config and
// contents and runs the patrol binary it contains.
func TestImage(t *testing.T) {
	tmp := t.TempDir()
	d1 := runImageScript(t, filepath.Join(tmp, "a"))
	d2 := runImageScript(t, filepath.Join(tmp, "b"))
	if d1 != d2 {
		t.Fatalf("two builds of the same input gave different digests: %s and %s (not reproducible)", d1, d2)
	}
	for _, f := range []string{"index.json", "oci-layout"} {
		a, errA := os.ReadFile(filepath.Join(tmp, "a", f))
		b, errB := os.ReadFile(filepath.Join(tmp, "b", f))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the two builds (%v, %v)", f, errA, errB)
		}
	}
	sbomA, err := os.ReadFile(filepath.Join(tmp, "a.spdx.json"))
	if err != nil {
		t.Fatalf("the SBOM beside the layout: %v", err)
	}

	img := layoutImage(t, filepath.Join(tmp, "a"))
	if got, err := img.Digest(); err != nil || got.String() != d1 {
		t.Fatalf("layout image digest = %v (%v), the script printed %s", got, err, d1)
	}

	// Push over loopback HTTP, pull back by tag.
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	if !strings.HasPrefix(host, "127.0.0.1:") {
		t.Fatalf("registry listens on %s, want 127.0.0.1", host)
	}
	refStr := host + "/patrol:" + testVersion
	if _, err := pushImage(refStr, img); err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(refStr)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if got, _ := pulled.Digest(); got.String() != d1 {
		t.Fatalf("pulled digest %s, pushed %s", got, d1)
	}

	cf, err := pulled.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform = %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("User = %q, want 65532:65532", cf.Config.User)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/patrol"}) || len(cf.Config.Cmd) != 0 {
		t.Errorf("Entrypoint = %q, Cmd = %q; want [/patrol] and none", cf.Config.Entrypoint, cf.Config.Cmd)
	}
	wantCreated := time.Unix(1767225600, 0).UTC()
	if !cf.Created.Time.Equal(wantCreated) {
		t.Errorf("Created = %s, want SOURCE_DATE_EPOCH %s", cf.Created.Time, wantCreated)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/patrol-dev/patrol",
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.revision": testCommit,
		"org.opencontainers.image.created":  "2026-01-01T00:00:00Z",
	}
	for k, v := range wantLabels {
		if got := cf.Config.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	mf, err := pulled.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if mf.MediaType != "application/vnd.oci.image.manifest.v1+json" || mf.Config.MediaType != "application/vnd.oci.image.config.v1+json" {
		t.Errorf("media types %s / %s, want OCI", mf.MediaType, mf.Config.MediaType)
	}

	files := layerFiles(t, pulled, wantCreated)
	want := []string{
		"etc/", "etc/group", "etc/passwd", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt",
		"home/", "home/nonroot/", "patrol", "tmp/", "usr/", "usr/share/", "usr/share/doc/", "usr/share/doc/patrol/",
		"usr/share/doc/patrol/sbom.spdx.json",
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Errorf("image files = %q\nwant %q", names, want)
	}
	for n := range files {
		if base := filepath.Base(n); base == "sh" || base == "bash" || base == "busybox" {
			t.Errorf("the image holds a shell: %s", n)
		}
	}
	if !strings.Contains(string(files["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd does not name uid 65532:\n%s", files["etc/passwd"])
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(files["etc/ssl/certs/ca-certificates.crt"]) {
		t.Error("/etc/ssl/certs/ca-certificates.crt holds no certificate")
	}
	if n := bytes.Count(files["etc/ssl/certs/ca-certificates.crt"], []byte("BEGIN CERTIFICATE")); n < 100 {
		t.Errorf("CA bundle holds %d roots, want Mozilla's (> 100)", n)
	}
	if !bytes.Equal(files["usr/share/doc/patrol/sbom.spdx.json"], sbomA) {
		t.Error("the SBOM in the image differs from the one beside the layout")
	}
	checkSBOM(t, sbomA)

	// Run the binary the image carries.
	bin := filepath.Join(tmp, "patrol")
	if err := os.WriteFile(bin, files["patrol"], 0o755); err != nil {
		t.Fatal(err)
	}
	checkSBOMAgainstGoVersion(t, sbomA, bin)
	out, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("patrol version from the image: %v", err)
	}
	var v struct{ Version, GoVersion, Platform string }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("patrol version -o json: %v\n%s", err, out)
	}
	if v.Version != testVersion || v.Platform != "linux/"+runtime.GOARCH {
		t.Errorf("patrol version = %+v, want version %s on linux/%s", v, testVersion, runtime.GOARCH)
	}

	// The same binary through build() in-process gives the script's digest;
	// another epoch or version gives another digest (the inputs count).
	o := options{Binary: bin, Version: testVersion, Revision: testCommit,
		Source: "https://github.com/patrol-dev/patrol", Created: wantCreated}
	if got := buildDigest(t, o); got != d1 {
		t.Errorf("build() of the same binary = %s, the script gave %s", got, d1)
	}
	later := o
	later.Created = wantCreated.Add(time.Second)
	if got := buildDigest(t, later); got == d1 {
		t.Error("another SOURCE_DATE_EPOCH gave the same digest")
	}
}

func buildDigest(t *testing.T, o options) string {
	t.Helper()
	res, err := build(o)
	if err != nil {
		t.Fatal(err)
	}
	d, err := res.Image.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// layerFiles reads every layer: name → content; it checks owners, times and
// that nothing but regular files and directories is there.
func layerFiles(t *testing.T, img v1.Image, mtime time.Time) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Errorf("%d layers, want 1 (scratch + patrol)", len(layers))
	}
	files := map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		var prev string
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Name < prev {
				t.Errorf("tar entries not sorted: %s after %s", h.Name, prev)
			}
			prev = h.Name
			if !h.ModTime.Equal(mtime) {
				t.Errorf("%s: mtime %s, want %s", h.Name, h.ModTime, mtime)
			}
			if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeDir {
				t.Errorf("%s: type %q, want only files and directories (no links)", h.Name, h.Typeflag)
			}
			if h.Uname != "" || h.Gname != "" {
				t.Errorf("%s: owner names %q/%q, want none", h.Name, h.Uname, h.Gname)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = b
		}
		rc.Close()
	}
	return files
}

// checkSBOM: SPDX 2.3 naming patrol, the standard library at this Go and
// the modules of the main go.mod (cobra among them) with versions and purls.
func checkSBOM(t *testing.T, b []byte) {
	t.Helper()
	var doc spdxDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("SBOM: %v", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "2026-01-01T00:00:00Z" {
		t.Errorf("SBOM version %q created %q", doc.SPDXVersion, doc.CreationInfo.Created)
	}
	byName := map[string]spdxPackage{}
	for _, p := range doc.Packages {
		byName[p.Name] = p
	}
	if p := byName["github.com/patrol-dev/patrol"]; p.VersionInfo != testVersion || len(p.Checksums) != 1 {
		t.Errorf("SBOM main package = %+v", p)
	}
	if p := byName["stdlib"]; p.VersionInfo != runtime.Version() {
		t.Errorf("SBOM stdlib version %q, want %q", p.VersionInfo, runtime.Version())
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range []string{"github.com/spf13/cobra", "k8s.io/client-go", "github.com/Azure/azure-sdk-for-go/sdk/azidentity"} {
		p, ok := byName[mod]
		if !ok {
			t.Errorf("SBOM lacks %s", mod)
			continue
		}
		if !strings.Contains(string(gomod), mod+" "+p.VersionInfo+"\n") {
			t.Errorf("SBOM has %s %s, go.mod another version", mod, p.VersionInfo)
		}
		if len(p.ExternalRefs) != 1 || p.ExternalRefs[0].ReferenceLocator != "pkg:golang/"+mod+"@"+p.VersionInfo {
			t.Errorf("SBOM %s purl = %+v", mod, p.ExternalRefs)
		}
	}
	if len(doc.Relationships) != len(doc.Packages) {
		t.Errorf("SBOM: %d relationships for %d packages", len(doc.Relationships), len(doc.Packages))
	}
}

// checkSBOMAgainstGoVersion: the SBOM lists exactly the modules `go version
// -m` prints for the image's binary (dep lines, => replacements resolved),
// at the same versions.
func checkSBOMAgainstGoVersion(t *testing.T, sbom []byte, bin string) {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	want := map[string]string{}
	last := ""
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "dep":
			want[f[1]] = f[2]
			last = f[1]
		case len(f) >= 3 && f[0] == "=>":
			// replaces the dep line before it: the SBOM names the replacement
			delete(want, last)
			want[f[1]] = f[2]
		}
	}
	if len(want) < 20 {
		t.Fatalf("go version -m lists %d modules; parsing went wrong:\n%s", len(want), out)
	}
	var doc spdxDoc
	if err := json.Unmarshal(sbom, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range doc.Packages {
		if p.Name != "github.com/patrol-dev/patrol" && p.Name != "stdlib" {
			got[p.Name] = p.VersionInfo
		}
	}
	for mod, v := range want {
		if got[mod] != v {
			t.Errorf("SBOM: %s = %q, go version -m says %q", mod, got[mod], v)
		}
	}
	for mod := range got {
		if _, ok := want[mod]; !ok {
			t.Errorf("SBOM lists %s, which go version -m does not", mod)
		}
	}
}
