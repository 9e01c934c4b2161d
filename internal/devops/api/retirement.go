package api

import "time"

// GlobalPATRetirement is when Azure DevOps stopped accepting global PATs
// (allOrgs true, targetAccounts null): from this instant they no longer
// authenticate, and creating one is refused (Azure DevOps blog "Retirement of
// Global Personal Access Tokens"; pat-api.md §10, service-2026.md).
var GlobalPATRetirement = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// GlobalPATsRetired reports whether global PATs are retired at now.
func GlobalPATsRetired(now time.Time) bool { return !now.Before(GlobalPATRetirement) }

// GlobalPATRetiredAdvice is what to do instead of a global PAT.
const GlobalPATRetiredAdvice = "global PATs (all organisations) stopped working on 2026-12-01 and can no longer be created; " +
	"create an organisation-scoped PAT instead (drop --all-orgs / allOrgs: true; patrol's default is organisation-scoped, one PAT per organisation), " +
	"or use Entra access tokens where the consumer accepts them (patrol token, kind: entra-token)"
