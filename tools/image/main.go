package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "patrol-image: error:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("patrol-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var out, sbomOut, push, epoch string
	fs.StringVar(&o.Binary, "binary", "", "static linux patrol binary (scripts/build.sh)")
	fs.StringVar(&o.CABundle, "ca-bundle", "", "PEM CA bundle for the image (default: Mozilla's roots from golang.org/x/crypto/x509roots/fallback)")
	fs.StringVar(&o.Version, "version", "", "image version (label org.opencontainers.image.version, layout ref name)")
	fs.StringVar(&o.Revision, "revision", "", "commit (label org.opencontainers.image.revision)")
	fs.StringVar(&o.Source, "source", "https://github.com/patrol-dev/patrol", "source repository (label org.opencontainers.image.source)")
	fs.StringVar(&epoch, "created-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "creation time, seconds since 1970 (default $SOURCE_DATE_EPOCH)")
	fs.StringVar(&out, "out", "", "OCI image layout directory to write (replaced)")
	fs.StringVar(&sbomOut, "sbom-out", "", "also write the SPDX SBOM to this file")
	fs.StringVar(&push, "push", "", "also push to this reference (registry/repo:tag); credentials from ~/.docker/config.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: every input is a flag (see -h)", fs.Arg(0))
	}
	if o.Binary == "" {
		return errors.New("--binary is missing: give the static linux patrol binary (scripts/build.sh linux/amd64)")
	}
	if out == "" && push == "" {
		return errors.New("nothing to do: give --out DIR (OCI layout) and/or --push REF")
	}
	if epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil || sec < 0 {
			return fmt.Errorf("--created-epoch / SOURCE_DATE_EPOCH %q is not a number of seconds since 1970: use e.g. $(git log -1 --format=%%ct)", epoch)
		}
		o.Created = time.Unix(sec, 0).UTC()
	}
	res, err := build(o)
	if err != nil {
		return err
	}
	digest, err := res.Image.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "patrol-image: built %s (%s, %d CA roots)\n", digest, o.Version, res.Roots)
	if out != "" {
		if err := writeLayout(out, res.Image, o.Version); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "patrol-image: wrote OCI layout %s\n", out)
	}
	if sbomOut != "" {
		if err := os.WriteFile(sbomOut, res.SBOM, 0o644); err != nil {
			return fmt.Errorf("--sbom-out: %w", err)
		}
		fmt.Fprintf(stderr, "patrol-image: wrote SBOM %s\n", sbomOut)
	}
	if push != "" {
		ref, err := pushImage(push, res.Image)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "patrol-image: pushed %s@%s\n", ref, digest)
	}
	fmt.Fprintln(stdout, digest)
	return nil
}

// writeLayout writes img as the only manifest of a fresh OCI layout at dir,
// tagged with version (annotation org.opencontainers.image.ref.name).
func writeLayout(dir string, img v1.Image, version string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": version,
	}))
}

// pushImage pushes img to ref. Plain HTTP (which go-containerregistry picks
// for loopback and private addresses) is allowed only to a loopback registry,
// and then without credentials: no credential travels over plain HTTP.
func pushImage(s string, img v1.Image) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("--push %q: %w: give registry/repository:tag, e.g. registry.example.com/patrol:v0.2.0", s, err)
	}
	auth := remote.WithAuthFromKeychain(authn.DefaultKeychain)
	if ref.Context().Registry.Scheme() == "http" {
		if !isLoopback(ref.Context().RegistryStr()) {
			return nil, fmt.Errorf("--push %q: registry %s would be reached over plain HTTP: serve it over HTTPS (plain HTTP is allowed only on loopback, without credentials)", s, ref.Context().RegistryStr())
		}
		auth = remote.WithAuth(authn.Anonymous)
	}
	if err := remote.Write(ref, img, auth); err != nil {
		return nil, fmt.Errorf("--push %s: %w", ref, err)
	}
	return ref, nil
}

func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
