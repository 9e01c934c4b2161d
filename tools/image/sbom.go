package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"
	"time"
)

// SPDX 2.3 JSON, the subset patrol's SBOM fills in.
type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string         `json:"name"`
	SPDXID           string         `json:"SPDXID"`
	VersionInfo      string         `json:"versionInfo,omitempty"`
	DownloadLocation string         `json:"downloadLocation"`
	FilesAnalyzed    bool           `json:"filesAnalyzed"`
	Checksums        []spdxChecksum `json:"checksums,omitempty"`
	ExternalRefs     []spdxExtRef   `json:"externalRefs,omitempty"`
	Comment          string         `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExtRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

// readBuildInfo is what `go version -m` prints for the binary.
func readBuildInfo(binary string) (*debug.BuildInfo, error) {
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("binary %s: no Go build information (%w): build it with scripts/build.sh", binary, err)
	}
	return bi, nil
}

// buildSBOM derives an SPDX 2.3 document from the binary's build information:
// the main module (with the binary's SHA-256), the Go standard library at the
// toolchain's version, and every module linked in (replacements resolved),
// each with a purl. Deterministic: created is the image's creation time and
// the namespace is derived from the binary's digest.
func buildSBOM(bi *debug.BuildInfo, binary []byte, version, source string, created time.Time) ([]byte, error) {
	sum := sha256.Sum256(binary)
	digest := hex.EncodeToString(sum[:])
	mainName := bi.Path
	if bi.Main.Path != "" {
		mainName = bi.Main.Path
	}
	doc := spdxDoc{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              "patrol-" + version,
		DocumentNamespace: "https://github.com/patrol-dev/patrol/spdx/" + version + "-" + digest[:16],
		CreationInfo: spdxCreationInfo{
			Created:  created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: patrol-image (tools/image)", "Organization: patrol"},
		},
	}
	mainPkg := spdxPackage{
		Name:             mainName,
		SPDXID:           "SPDXRef-Package-patrol",
		VersionInfo:      version,
		DownloadLocation: orNoAssertion(source),
		Checksums:        []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: digest}},
		ExternalRefs:     []spdxExtRef{purl(mainName, version)},
		Comment:          "the /patrol binary, built from " + bi.Path,
	}
	doc.Packages = append(doc.Packages, mainPkg)
	goVersion := bi.GoVersion
	doc.Packages = append(doc.Packages, spdxPackage{
		Name:             "stdlib",
		SPDXID:           "SPDXRef-Package-stdlib",
		VersionInfo:      goVersion,
		DownloadLocation: "https://go.dev/dl/",
		ExternalRefs:     []spdxExtRef{purl("stdlib", goVersion)},
		Comment:          "the Go standard library and runtime linked into the binary",
	})
	doc.Relationships = append(doc.Relationships,
		spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", mainPkg.SPDXID},
		spdxRelationship{mainPkg.SPDXID, "DEPENDS_ON", "SPDXRef-Package-stdlib"},
	)
	for i, m := range bi.Deps {
		mod := m
		comment := ""
		if m.Replace != nil {
			mod = m.Replace
			comment = "replaces " + m.Path + "@" + m.Version
		}
		id := fmt.Sprintf("SPDXRef-Package-go-%d", i+1)
		p := spdxPackage{
			Name:             mod.Path,
			SPDXID:           id,
			VersionInfo:      mod.Version,
			DownloadLocation: "NOASSERTION",
			ExternalRefs:     []spdxExtRef{purl(mod.Path, mod.Version)},
			Comment:          comment,
		}
		if mod.Sum != "" {
			p.Comment = strings.TrimSpace(p.Comment + " go.sum " + mod.Sum)
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{mainPkg.SPDXID, "DEPENDS_ON", id})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func purl(path, version string) spdxExtRef {
	loc := "pkg:golang/" + path
	if version != "" {
		loc += "@" + version
	}
	return spdxExtRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: loc}
}

func orNoAssertion(s string) string {
	if s == "" {
		return "NOASSERTION"
	}
	return s
}
