package entra

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Claims decodes a JWT's payload WITHOUT verifying it. Use it only for
// best-effort display and classification, never for trust decisions.
// It returns nil when tok is not a JWT.
func Claims(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

func claimString(tok, name string) string {
	s, _ := Claims(tok)[name].(string)
	return s
}

// KindFromClaims classifies an access token by its (unverified) claims:
// idtyp "user"/"app", else upn/unique_name/scp → user, xms_mirid or
// xms_az_rid → managed identity, appid/azp without scp → service principal.
func KindFromClaims(tok string) IdentityKind {
	c := Claims(tok)
	if c == nil {
		return IdentityUnknown
	}
	str := func(k string) string { s, _ := c[k].(string); return s }
	isMI := str("xms_mirid") != "" || str("xms_az_rid") != ""
	switch str("idtyp") {
	case "user":
		return IdentityUser
	case "app":
		if isMI {
			return IdentityManagedIdentity
		}
		return IdentityServicePrincipal
	}
	if str("upn") != "" || str("unique_name") != "" || str("scp") != "" {
		return IdentityUser
	}
	if isMI {
		return IdentityManagedIdentity
	}
	if str("appid") != "" || str("azp") != "" {
		return IdentityServicePrincipal
	}
	return IdentityUnknown
}
