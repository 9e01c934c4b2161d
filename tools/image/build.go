package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// UID and GID of the image's user ("nonroot", as in distroless).
	nonrootID = 65532
	// Paths inside the image.
	binaryPath = "/patrol"
	caPath     = "/etc/ssl/certs/ca-certificates.crt"
	sbomPath   = "/usr/share/doc/patrol/sbom.spdx.json"
	homePath   = "/home/nonroot"
)

// options is what one image is built from; the same options give the same
// digest.
type options struct {
	Binary   string    // path of the static patrol binary (linux)
	CABundle string    // PEM bundle path; empty: Mozilla's roots (x509roots/fallback)
	Version  string    // org.opencontainers.image.version
	Revision string    // org.opencontainers.image.revision (commit)
	Source   string    // org.opencontainers.image.source
	Created  time.Time // SOURCE_DATE_EPOCH: every timestamp in the image
}

// result is the built image and the artefacts next to it.
type result struct {
	Image v1.Image
	SBOM  []byte
	Roots int
}

type entry struct {
	name     string
	dir      bool
	mode     int64
	uid, gid int
	data     []byte
}

// layerTar writes the entries sorted by name, with fixed owners, modes and
// times and no user/group names, so the tar's bytes depend only on content.
func layerTar(entries []entry, mtime time.Time) ([]byte, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !e.dir {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// build assembles the image: scratch + one layer, OCI media types.
func build(o options) (*result, error) {
	if o.Created.IsZero() {
		return nil, fmt.Errorf("created time missing: set SOURCE_DATE_EPOCH (e.g. git log -1 --format=%%ct) or --created-epoch")
	}
	if o.Version == "" {
		return nil, fmt.Errorf("--version is empty: give the release version (e.g. v0.2.0)")
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("--binary: %w", err)
	}
	bi, err := readBuildInfo(o.Binary)
	if err != nil {
		return nil, err
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["GOOS"] != "linux" {
		return nil, fmt.Errorf("--binary %s is built for GOOS=%q: the image needs a linux binary (scripts/build.sh linux/amd64)", o.Binary, settings["GOOS"])
	}
	if settings["CGO_ENABLED"] != "0" {
		return nil, fmt.Errorf("--binary %s is built with CGO_ENABLED=%q: the scratch image has no libc; build with CGO_ENABLED=0 (scripts/build.sh)", o.Binary, settings["CGO_ENABLED"])
	}
	ca, roots, err := caBundle(o.CABundle)
	if err != nil {
		return nil, err
	}
	sbom, err := buildSBOM(bi, bin, o.Version, o.Source, o.Created)
	if err != nil {
		return nil, err
	}
	id := strconv.Itoa(nonrootID)
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:" + id + ":" + id + ":nonroot:" + homePath + ":/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:" + id + ":\n"
	entries := []entry{
		{name: "etc", dir: true, mode: 0o755},
		{name: "etc/ssl", dir: true, mode: 0o755},
		{name: "etc/ssl/certs", dir: true, mode: 0o755},
		{name: caPath[1:], mode: 0o444, data: ca},
		{name: "etc/passwd", mode: 0o444, data: []byte(passwd)},
		{name: "etc/group", mode: 0o444, data: []byte(group)},
		{name: "home", dir: true, mode: 0o755},
		{name: homePath[1:], dir: true, mode: 0o700, uid: nonrootID, gid: nonrootID},
		{name: "tmp", dir: true, mode: 0o1777},
		{name: "usr", dir: true, mode: 0o755},
		{name: "usr/share", dir: true, mode: 0o755},
		{name: "usr/share/doc", dir: true, mode: 0o755},
		{name: "usr/share/doc/patrol", dir: true, mode: 0o755},
		{name: sbomPath[1:], mode: 0o444, data: sbom},
		{name: binaryPath[1:], mode: 0o555, data: bin},
	}
	tb, err := layerTar(entries, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tb)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.Created.UTC()}
	labels := map[string]string{
		"org.opencontainers.image.title":       "patrol",
		"org.opencontainers.image.description": "keeps Azure DevOps credentials alive",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Revision,
		"org.opencontainers.image.source":      o.Source,
		"org.opencontainers.image.created":     created.Format(time.RFC3339),
	}
	for k, v := range labels {
		if v == "" {
			delete(labels, k)
		}
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   created,
			CreatedBy: "patrol-image: /patrol " + o.Version + ", CA bundle, passwd, SBOM",
			Comment:   "tools/image",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = settings["GOARCH"]
	if v := settings["GOARM"]; cf.Architecture == "arm" && v != "" {
		cf.Variant = "v" + v
	}
	cf.Created = created
	cf.Author = "patrol"
	cf.Config = v1.Config{
		User:       id + ":" + id,
		Entrypoint: []string{binaryPath},
		Env: []string{
			"HOME=" + homePath,
			"SSL_CERT_FILE=" + caPath,
		},
		WorkingDir: homePath,
		Labels:     labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	img = mutate.Annotations(img, labels).(v1.Image)
	return &result{Image: img, SBOM: sbom, Roots: roots}, nil
}
