package main

import (
	"fmt"

	"github.com/patrol-dev/patrol/internal/config"
)

// configFileNamed reports whether a patrol.yaml is named (--config or
// PATROL_CONFIG); commands other than rotate, status and config validate
// read none otherwise.
func (a *app) configFileNamed() bool {
	if a.configFile != "" {
		return true
	}
	if a.env != nil {
		if v, ok := a.env(config.EnvConfig); ok && v != "" {
			return true
		}
	}
	return false
}

// loadRotationFile reads and validates patrol.yaml (rotationConfigPath)
// once per process, as strictly as `patrol config validate`; its warnings
// (a missing apiVersion) are printed once on stderr.
func (a *app) loadRotationFile() (*config.File, error) {
	a.fileOnce.Do(func() {
		// The default organisation of the flags or environment, for the
		// sink duplicate check (a bad value is reported by the connection).
		org := a.flags.Organization
		if org == "" && a.env != nil {
			org, _ = a.env(config.EnvOrganization)
		}
		if name, err := config.OrganizationArg("--org", org); err == nil {
			org = name
		}
		a.file, a.fileErr = config.LoadFile(a.rotationConfigPath(), config.ValidateOptions{Scopes: scopeCheck, Now: a.now, Organization: org})
		if a.file == nil || a.stderr == nil {
			return
		}
		for _, w := range a.file.Warnings {
			fmt.Fprintf(a.stderr, "patrol: warning: %s: %s\n", a.file.Path, w)
		}
	})
	return a.file, a.fileErr
}
