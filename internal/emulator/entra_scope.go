// Requested scopes of token requests.

package emulator

import (
	"errors"
	"fmt"
	"strings"
)

// ---- scopes ----

// resourceOf splits a requested scope into resource (aud), delegated scp and
// whether offline_access/openid were asked for.
func resourceOf(scope string) (resource, scp string, offline, openid bool, err error) {
	for _, s := range strings.Fields(scope) {
		switch strings.ToLower(s) {
		case "offline_access":
			offline = true
			continue
		case "openid":
			openid = true
			continue
		case "profile", "email":
			continue
		}
		if resource != "" {
			continue // one resource per request; extra scopes of the same resource are folded
		}
		i := strings.LastIndex(s, "/")
		if i <= 0 {
			return "", "", false, false, fmt.Errorf("scope %q has no resource: use <resource>/.default", s)
		}
		resource, scp = s[:i], s[i+1:]
		if scp == ".default" {
			scp = "user_impersonation"
		}
	}
	if resource == "" {
		return "", "", offline, openid, errors.New("no resource scope was requested: add e.g. 499b84ac-1321-427f-aa17-267ca6975798/.default")
	}
	return resource, scp, offline, openid, nil
}
