// Command patrol-image builds patrol's container image without a Docker
// daemon, with github.com/google/go-containerregistry: an empty (scratch)
// base plus one layer holding the static patrol binary (/patrol), a CA bundle
// (/etc/ssl/certs/ca-certificates.crt, Mozilla's roots from
// golang.org/x/crypto/x509roots/fallback), /etc/passwd and /etc/group naming
// the non-root user 65532, and the SBOM (/usr/share/doc/patrol/sbom.spdx.json).
// No shell, entrypoint ["/patrol"], user 65532:65532, OCI labels.
//
// Reproducible: every timestamp is SOURCE_DATE_EPOCH, tar entries are sorted
// with fixed owners and modes, so the same binary, version and epoch give the
// same digest.
//
// It is a separate Go module so the main go.mod never sees
// go-containerregistry. Run it through scripts/image.sh (which builds the
// binary with scripts/build.sh and caches this tool); see docs/image.md.
package main
