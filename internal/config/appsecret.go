package config

import (
	"fmt"
	"time"
)

// Credentials of kind entra-app-secret (docs/entra-apps.md): patrol rotates
// a client secret of an Entra application through Microsoft Graph
// (addPassword / removePassword), signed in as identity: (or auth:), which
// must be allowed to manage the application's credentials (an owner, an
// app with Application.ReadWrite.OwnedBy that owns it, or
// Application.ReadWrite.All).

// validateSchedule checks lifetime, renewBefore and gracePeriod of c (what
// is the "PAT" or "secret").
func validateSchedule(p string, c *Credential, maxLife, defLife Duration, what string, add func(path, msg string)) {
	switch {
	case c.Lifetime < MinLifetime || c.Lifetime > maxLife:
		add(p+".lifetime", fmt.Sprintf("%s is out of range; use %s..%s (default %s)", c.Lifetime, MinLifetime, maxLife, defLife))
	case c.RenewBefore.Duration > 0 && c.RenewBefore.Duration >= c.Lifetime.D():
		add(p+".renewBefore", fmt.Sprintf("%s is not shorter than the lifetime %s, so every run would rotate; use a smaller value or a percentage such as \"33%%\"", Duration(c.RenewBefore.Duration), c.Lifetime))
	case c.GracePeriod.D() >= c.RenewBefore.For(c.Lifetime.D()):
		add(p+".gracePeriod", fmt.Sprintf("%s is not shorter than renewBefore (%s): the replaced %s expires before the grace period ends; shorten gracePeriod", c.GracePeriod, Duration(c.RenewBefore.For(c.Lifetime.D())), what))
	}
}

func validateAppSecret(p string, c *Credential, add func(path, msg string)) {
	a := c.Application
	switch {
	case a.AppID == "" && a.ObjectID == "":
		add(p+".application", "missing; name the Entra application whose client secret patrol rotates: application: {appId: <Application (client) ID>} (or objectId: <the application object's Object ID>)")
	case a.AppID != "" && a.ObjectID != "":
		add(p+".application", "set appId or objectId, not both (they name the same application; keep appId)")
	case a.AppID != "" && !guidRE().MatchString(a.AppID):
		add(p+".application.appId", fmt.Sprintf("%q is not a GUID; give the application's Application (client) ID, e.g. 3b4c5d6e-7f80-4192-a3b4-c5d6e7f8091a (Entra admin center → App registrations)", a.AppID))
	case a.ObjectID != "" && !guidRE().MatchString(a.ObjectID):
		add(p+".application.objectId", fmt.Sprintf("%q is not a GUID; give the Object ID of the application object (App registrations → Overview), not of its service principal", a.ObjectID))
	}
	if len(c.Scopes) > 0 {
		add(p+".scopes", "not used by kind entra-app-secret (an application secret has no scopes: the application's permissions apply); remove it")
	}
	if c.AllOrgs {
		add(p+".allOrgs", "not used by kind entra-app-secret; remove it")
	}
	if c.AllowFullAccess {
		add(p+".allowFullAccess", "not used by kind entra-app-secret; remove it")
	}
	validateSchedule(p, c, MaxAppSecretLifetime, DefaultAppSecretLifetime, "secret", add)
}

// AppSecretVerifyTimeout bounds how long a run waits for a new application
// secret to sign in (Entra replicates a new password for a while).
const AppSecretVerifyTimeout = 2 * time.Minute
