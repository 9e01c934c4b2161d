package devops

import (
	"fmt"
	"slices"
	"strings"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/suggest"
)

// ScopeInfo describes one PAT scope.
type ScopeInfo struct {
	// Name is the wire string (vso.code_write, app_token).
	Name string
	// Friendly is the name the Azure DevOps UI uses, e.g. "Code (read & write)".
	Friendly string
	// Area groups scopes as the UI does.
	Area string
	// HighPrivilege marks scopes Microsoft flags as high-privilege.
	HighPrivilege bool
}

// Scopes is the built-in catalogue of PAT scopes (MicrosoftDocs
// azure-devops-docs scopes.md, 2025-07-16; reference/pat-api.md §14), plus
// app_token (full access). Retired scopes (vso.loadtest*) and the OAuth-only
// user_impersonation are not in it.
var Scopes = []ScopeInfo{
	{api.FullAccessScope, "Full access", "Full access", true},
	{"vso.advsec", "Advanced Security (read)", "Advanced Security", true},
	{"vso.advsec_write", "Advanced Security (read & write)", "Advanced Security", true},
	{"vso.advsec_manage", "Advanced Security (read, write & manage)", "Advanced Security", true},
	{"vso.agentpools", "Agent Pools (read)", "Agent Pools", false},
	{"vso.agentpools_manage", "Agent Pools (read & manage)", "Agent Pools", true},
	{"vso.environment_manage", "Environment (read & manage)", "Agent Pools", true},
	{"vso.analytics", "Analytics (read)", "Analytics", false},
	{"vso.auditlog", "Auditing (read audit log)", "Auditing", false},
	{"vso.auditstreams_manage", "Auditing (manage audit streams)", "Auditing", true},
	{"vso.build", "Build (read)", "Build", false},
	{"vso.build_execute", "Build (read & execute)", "Build", true},
	{"vso.code", "Code (read)", "Code", false},
	{"vso.code_write", "Code (read & write)", "Code", true},
	{"vso.code_manage", "Code (read, write & manage)", "Code", true},
	{"vso.code_full", "Code (full)", "Code", true},
	{"vso.code_status", "Code (status)", "Code", false},
	{"vso.connected_server", "Connected server", "Connected server", false},
	{"vso.entitlements", "Entitlements (read)", "Entitlements", false},
	{"vso.memberentitlementmanagement", "Member Entitlement Management (read)", "Entitlements", false},
	{"vso.memberentitlementmanagement_write", "Member Entitlement Management (read & write)", "Entitlements", true},
	{"vso.extension", "Extensions (read)", "Extensions", false},
	{"vso.extension_manage", "Extensions (read & manage)", "Extensions", true},
	{"vso.extension.data", "Extension Data (read)", "Extensions", false},
	{"vso.extension.data_write", "Extension Data (read & write)", "Extensions", false},
	{"vso.githubconnections", "GitHub Connections (read)", "GitHub connections", false},
	{"vso.githubconnections_manage", "GitHub Connections (read & manage)", "GitHub connections", true},
	{"vso.graph", "Graph (read)", "Graph & identity", false},
	{"vso.graph_manage", "Graph (manage)", "Graph & identity", true},
	{"vso.identity", "Identity (read)", "Graph & identity", false},
	{"vso.identity_manage", "Identity (manage)", "Graph & identity", true},
	{"vso.machinegroup_manage", "Deployment Groups (read & manage)", "Deployment groups", true},
	{"vso.gallery", "Marketplace (read)", "Marketplace", false},
	{"vso.gallery_acquire", "Marketplace (acquire)", "Marketplace", false},
	{"vso.gallery_publish", "Marketplace (publish)", "Marketplace", true},
	{"vso.gallery_manage", "Marketplace (manage)", "Marketplace", true},
	{"vso.notification", "Notifications (read)", "Notifications", false},
	{"vso.notification_write", "Notifications (write)", "Notifications", false},
	{"vso.notification_manage", "Notifications (manage)", "Notifications", false},
	{"vso.notification_diagnostics", "Notifications (diagnostics)", "Notifications", false},
	{"vso.packaging", "Packaging (read)", "Packaging", false},
	{"vso.packaging_write", "Packaging (read & write)", "Packaging", true},
	{"vso.packaging_manage", "Packaging (read, write & manage)", "Packaging", true},
	{"vso.pipelineresources_use", "Pipeline Resources (use)", "Pipeline resources", true},
	{"vso.pipelineresources_manage", "Pipeline Resources (use & manage)", "Pipeline resources", true},
	{"vso.project", "Project and Team (read)", "Project and team", false},
	{"vso.project_write", "Project and Team (read & write)", "Project and team", false},
	{"vso.project_manage", "Project and Team (read, write & manage)", "Project and team", true},
	{"vso.release", "Release (read)", "Release", false},
	{"vso.release_execute", "Release (read, write & execute)", "Release", true},
	{"vso.release_manage", "Release (read, write, execute & manage)", "Release", true},
	{"vso.securefiles_read", "Secure Files (read)", "Secure files", true},
	{"vso.securefiles_write", "Secure Files (read & create)", "Secure files", true},
	{"vso.securefiles_manage", "Secure Files (read, create & manage)", "Secure files", true},
	{"vso.security_manage", "Security (manage)", "Security", true},
	{"vso.serviceendpoint", "Service Connections (read)", "Service connections", false},
	{"vso.serviceendpoint_query", "Service Connections (read & query)", "Service connections", false},
	{"vso.serviceendpoint_manage", "Service Connections (read, query & manage)", "Service connections", true},
	{"vso.hooks", "Service Hooks (read)", "Service hooks", false},
	{"vso.hooks_write", "Service Hooks (read & write)", "Service hooks", false},
	{"vso.hooks_interact", "Service Hooks (interact)", "Service hooks", false},
	{"vso.settings", "Settings (read)", "Settings", false},
	{"vso.settings_write", "Settings (read & write)", "Settings", false},
	{"vso.symbols", "Symbols (read)", "Symbols", false},
	{"vso.symbols_write", "Symbols (read & write)", "Symbols", false},
	{"vso.symbols_manage", "Symbols (read, write & manage)", "Symbols", false},
	{"vso.taskgroups_read", "Task Groups (read)", "Task groups", false},
	{"vso.taskgroups_write", "Task Groups (read & create)", "Task groups", false},
	{"vso.taskgroups_manage", "Task Groups (read, create & manage)", "Task groups", true},
	{"vso.dashboards", "Team Dashboard (read)", "Dashboards", false},
	{"vso.dashboards_manage", "Team Dashboard (manage)", "Dashboards", false},
	{"vso.test", "Test Management (read)", "Test", false},
	{"vso.test_write", "Test Management (read & write)", "Test", false},
	{"vso.threads_full", "PR Threads (read & write)", "PR threads", false},
	{"vso.tokens", "Tokens (read & manage)", "Tokens", true},
	{"vso.tokenadministration", "Token Administration (read & manage)", "Tokens", true},
	{"vso.profile", "User Profile (read)", "User profile", false},
	{"vso.profile_write", "User Profile (write)", "User profile", false},
	{"vso.variablegroups_read", "Variable Groups (read)", "Variable groups", false},
	{"vso.variablegroups_write", "Variable Groups (read & create)", "Variable groups", false},
	{"vso.variablegroups_manage", "Variable Groups (read, create & manage)", "Variable groups", true},
	{"vso.wiki", "Wiki (read)", "Wiki", false},
	{"vso.wiki_write", "Wiki (read & write)", "Wiki", false},
	{"vso.work", "Work Items (read)", "Work items", false},
	{"vso.work_write", "Work Items (read & write)", "Work items", false},
	{"vso.work_full", "Work Items (full)", "Work items", false},
}

// LookupScope finds a catalogue entry by wire name or friendly name
// (case-insensitive, surrounding space ignored).
func LookupScope(s string) (ScopeInfo, bool) {
	key := strings.ToLower(strings.TrimSpace(s))
	for _, sc := range Scopes {
		if strings.ToLower(sc.Name) == key || strings.ToLower(sc.Friendly) == key {
			return sc, true
		}
	}
	return ScopeInfo{}, false
}

// ScopeOption adjusts ParseScopes.
type ScopeOption func(*scopeOpts)

type scopeOpts struct {
	fullAccess bool
	unknown    bool
	// fullAccessSwitch is how the caller's user allows full access, named
	// in the refusal (default the patrol.yaml field).
	fullAccessSwitch string
}

// FullAccessSwitch names the setting that allows app_token in the caller's
// input, for the refusal's fix: "--full-access" on the command line
// (default "allowFullAccess: true", the patrol.yaml field).
func FullAccessSwitch(name string) ScopeOption {
	return func(o *scopeOpts) { o.fullAccessSwitch = name }
}

// AllowFullAccess lets ParseScopes accept app_token ("Full access").
func AllowFullAccess() ScopeOption { return func(o *scopeOpts) { o.fullAccess = true } }

// AllowUnknownScopes lets ParseScopes pass through vso.* strings that are
// not in the catalogue (for scopes Microsoft adds after this release).
func AllowUnknownScopes() ScopeOption { return func(o *scopeOpts) { o.unknown = true } }

// ScopeError is an unusable scope list. It is a usage error.
type ScopeError struct {
	Scope   string
	Problem string
	Fix     string
}

func (e *ScopeError) Error() string {
	return fmt.Sprintf("scope %q %s; %s", e.Scope, e.Problem, e.Fix)
}

// Kind is errkind.Usage.
func (e *ScopeError) Kind() errkind.Kind { return errkind.Usage }

// ParseScopes turns scope names into the space-separated wire string. Each
// element may be a wire name (vso.code_write) or a friendly name
// ("Code (read & write)"), case-insensitively; an element may also hold
// several wire names separated by spaces or commas. Duplicates are dropped
// and the result is sorted. Unknown scopes are refused with the closest
// known names; app_token is refused unless AllowFullAccess is given.
func ParseScopes(in []string, opts ...ScopeOption) (string, error) {
	o := scopeOpts{fullAccessSwitch: "allowFullAccess: true"}
	for _, f := range opts {
		f(&o)
	}
	var out []string
	add := func(s string) error {
		sc, ok := LookupScope(s)
		switch {
		case ok && sc.Name == api.FullAccessScope && !o.fullAccess:
			return &ScopeError{Scope: s, Problem: "grants full access to everything the user can reach",
				Fix: "list the scopes the consumer needs instead (see 'patrol pat scopes'), or allow full access explicitly (" + o.fullAccessSwitch + ")"}
		case ok:
			out = append(out, sc.Name)
		case o.unknown && isWireScope(s):
			out = append(out, strings.ToLower(strings.TrimSpace(s)))
		default:
			return &ScopeError{Scope: s, Problem: "is not a known Azure DevOps PAT scope", Fix: unknownScopeFix(s)}
		}
		return nil
	}
	for _, el := range in {
		el = strings.TrimSpace(el)
		if el == "" {
			continue
		}
		if _, ok := LookupScope(el); ok {
			if err := add(el); err != nil {
				return "", err
			}
			continue
		}
		for _, part := range strings.FieldsFunc(el, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' }) {
			if err := add(part); err != nil {
				return "", err
			}
		}
	}
	if len(out) == 0 {
		return "", &ScopeError{Scope: "", Problem: "is empty", Fix: "give at least one scope, e.g. vso.code or \"Packaging (read)\""}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return strings.Join(out, " "), nil
}

func isWireScope(s string) bool {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "vso.") || len(s) < 5 {
		return false
	}
	for _, r := range s[4:] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// unknownScopeFix proposes the catalogue names closest to s (wire and
// friendly names), not the whole catalogue.
func unknownScopeFix(s string) string {
	names := make([]string, 0, 2*len(Scopes))
	for _, sc := range Scopes {
		names = append(names, sc.Name, sc.Friendly)
	}
	all := fmt.Sprintf("'patrol pat scopes' lists all %d", len(Scopes))
	if c := suggest.Closest(s, names, 4); len(c) > 0 {
		q := make([]string, len(c))
		for i, n := range c {
			q[i] = fmt.Sprintf("%q", n)
		}
		return "did you mean " + strings.Join(q, ", ") + "? (" + all + ")"
	}
	return all
}
