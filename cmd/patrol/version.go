package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/patrol-dev/patrol/internal/output"
	"github.com/spf13/cobra"
)

// version and commit are set at build time (scripts/build.sh):
// go build -ldflags "-X main.version=v1.2.3 -X main.commit=<sha>". Without
// them, the module version and VCS stamps of the build info are used.
var (
	version = "dev"
	commit  = ""
)

// VersionInfo is the output of `patrol version`.
type VersionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func versionInfo() VersionInfo {
	v := VersionInfo{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if commit != "" {
		v.Commit, v.Modified = commit, false
	}
	return v
}

// Table implements output.Tabler.
func (v VersionInfo) Table() output.TableData {
	s := "patrol " + v.Version
	if v.Commit != "" {
		c := v.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += " (" + c
		if v.Modified {
			s += ", modified"
		}
		s += ")"
	}
	s += fmt.Sprintf(" %s %s", v.GoVersion, v.Platform)
	return output.TableData{Rows: [][]string{{s}}}
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print patrol's version, commit and Go version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := a.printerFor(output.Table)
			if err != nil {
				return err
			}
			return p.Print(versionInfo())
		},
	}
}
