package emulator

import "strings"

// KnownScopes is the emulator's catalogue of PAT scope strings accepted by
// Create/Update (reference/pat-api.md §14, plus app_token and the 7.2-only
// vso.pats/vso.pats_manage). It is a deliberate copy: the emulator must not
// import the client package internal/devops. Tests may add to it before
// Start to model newly published scopes.
var KnownScopes = map[string]bool{}

func init() {
	for _, s := range strings.Fields(`app_token
vso.advsec vso.advsec_write vso.advsec_manage
vso.agentpools vso.agentpools_manage vso.environment_manage
vso.analytics vso.auditlog vso.auditstreams_manage
vso.build vso.build_execute
vso.code vso.code_write vso.code_manage vso.code_full vso.code_status
vso.connected_server
vso.entitlements vso.memberentitlementmanagement vso.memberentitlementmanagement_write
vso.extension vso.extension_manage vso.extension.data vso.extension.data_write
vso.githubconnections vso.githubconnections_manage
vso.graph vso.graph_manage vso.identity vso.identity_manage
vso.machinegroup_manage
vso.gallery vso.gallery_acquire vso.gallery_publish vso.gallery_manage
vso.notification vso.notification_write vso.notification_manage vso.notification_diagnostics
vso.packaging vso.packaging_write vso.packaging_manage
vso.pipelineresources_use vso.pipelineresources_manage
vso.project vso.project_write vso.project_manage
vso.release vso.release_execute vso.release_manage
vso.securefiles_read vso.securefiles_write vso.securefiles_manage
vso.security_manage
vso.serviceendpoint vso.serviceendpoint_query vso.serviceendpoint_manage
vso.hooks vso.hooks_write vso.hooks_interact
vso.settings vso.settings_write
vso.symbols vso.symbols_write vso.symbols_manage
vso.taskgroups_read vso.taskgroups_write vso.taskgroups_manage
vso.dashboards vso.dashboards_manage
vso.test vso.test_write
vso.threads_full
vso.tokens vso.tokenadministration
vso.profile vso.profile_write
vso.variablegroups_read vso.variablegroups_write vso.variablegroups_manage
vso.wiki vso.wiki_write
vso.work vso.work_write vso.work_full
vso.pats vso.pats_manage`) {
		KnownScopes[s] = true
	}
}

// validScope reports whether every space-separated scope is known.
func validScope(scope string) (bad string, ok bool) {
	f := strings.Fields(scope)
	if len(f) == 0 {
		return "", false
	}
	for _, s := range f {
		if !KnownScopes[s] {
			return s, false
		}
	}
	return "", true
}

// scopeGrants reports whether a PAT scope string grants any of want (app_token grants all).
func scopeGrants(scope string, want ...string) bool {
	for _, s := range strings.Fields(scope) {
		if s == "app_token" {
			return true
		}
		for _, w := range want {
			if s == w {
				return true
			}
		}
	}
	return false
}
