package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Several organisations and technical users in one file (docs/config.md):
// a credential may name its own organization and an identity, an entry of
// the top-level identities: map of sign-in settings (the fields of auth:).
// Without them a credential uses the top-level organization and auth:, so
// files written before identities existed keep their meaning.

// IdentityNames are the names of f.Identities, sorted.
func (f *File) IdentityNames() []string {
	names := make([]string, 0, len(f.Identities))
	for n := range f.Identities {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// authFields maps a ConfigError's source (auth.<field>) to the field name.
var authFields = []string{"method", "tenantId", "clientId", "username"}

func (f *File) validateIdentities(add func(path, msg string)) {
	for _, name := range f.IdentityNames() {
		p := "identities." + name
		if !nameRE().MatchString(name) {
			add(p, fmt.Sprintf("%q is not a valid identity name; use 1-64 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", name))
			continue
		}
		if err := (Connection{Auth: f.Identities[name]}).Validate(); err != nil {
			path, msg := p, err.Error()
			var ce *ConfigError
			if errors.As(err, &ce) {
				msg = ce.Problem
				if ce.Fix != "" {
					msg += "; " + ce.Fix
				}
				for _, k := range authFields {
					if strings.Contains(ce.Source, "auth."+k+")") {
						path = p + "." + k
					}
				}
			}
			add(path, msg)
		}
	}
}

// validateAccount checks a credential's organization and identity.
func (f *File) validateAccount(p string, c *Credential, add func(path, msg string)) {
	normalizeOrganization(p+".organization", &c.Organization, add)
	if c.Organization != "" && !orgNameRE().MatchString(c.Organization) {
		add(p+".organization", fmt.Sprintf("%q is not an Azure DevOps organisation name; use the name only (e.g. contoso for https://dev.azure.com/contoso): letters, digits and hyphens, 1-50 characters", c.Organization))
	}
	if c.Identity == "" {
		return
	}
	if _, ok := f.Identities[c.Identity]; ok {
		return
	}
	if len(f.Identities) == 0 {
		add(p+".identity", fmt.Sprintf("unknown identity %q: the file defines no identities; add it under identities: (the same fields as auth:) or remove identity: to sign in with auth:", c.Identity))
		return
	}
	add(p+".identity", fmt.Sprintf("unknown identity %q; known identities: %s (defined under identities:); fix the name or add it there", c.Identity, strings.Join(f.IdentityNames(), ", ")))
}

// ForIdentity is the connection an identity of identities: signs in with:
// c's organisation and endpoints (flags and environment applied) with the
// identity's sign-in settings, its secret files read and defaults applied.
// The environment's secrets (AZURE_PASSWORD, …) belong to the default
// identity only: a named identity reads its secrets from its *File fields.
func (c Connection) ForIdentity(name string, a Auth) (Connection, error) {
	out := c
	out.Auth = a
	out.Auth.Password, out.Auth.ClientSecret, out.Auth.CertificatePassword = "", "", ""
	if out.Auth.Method == "" {
		out.Auth.Method = DefaultAuthMethod
	}
	if err := readSecretFiles(&out); err != nil {
		return Connection{}, fmt.Errorf("identities.%s: %w", name, err)
	}
	if err := out.Validate(); err != nil {
		return Connection{}, fmt.Errorf("identities.%s: %w", name, err)
	}
	return out, nil
}
