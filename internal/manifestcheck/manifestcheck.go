// Package manifestcheck holds the checks that patrol's Kubernetes manifests
// (deploy/) and Helm chart (charts/patrol) share in their tests: the
// patrol.yaml they carry is read exactly as `patrol config validate` reads
// it, and the Pod they run meets patrol's security invariants (restricted
// Pod Security plus patrol's own: uid 65532, resources, no inline secrets).
package manifestcheck

import (
	"fmt"
	"slices"
	"strings"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	corev1 "k8s.io/api/core/v1"
)

// ImageUID is the numeric user of patrol's image (its /home/nonroot belongs to it).
const ImageUID = 65532

// PatrolFile validates src (a patrol.yaml) as `patrol config validate`
// does — strict decoding, sink parameters, scopes — and refuses warnings.
func PatrolFile(src, name string) (*config.File, error) {
	f, err := config.ParseFile([]byte(src), name, config.ValidateOptions{
		Scopes: func(s []string, full bool) error {
			var opts []devops.ScopeOption
			if full {
				opts = append(opts, devops.AllowFullAccess())
			}
			_, err := devops.ParseScopes(s, opts...)
			return err
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%s is invalid: %w", name, err)
	}
	if len(f.Warnings) > 0 {
		return nil, fmt.Errorf("%s draws warnings: %q", name, f.Warnings)
	}
	return f, nil
}

// Pod returns what is wrong with pod as a patrol Pod: non-root uid
// ImageUID, seccomp RuntimeDefault, one container with a read-only root, no
// privilege escalation, all capabilities dropped, requests and limits, the
// image's entrypoint (args only, first arg wantArg) and no inline secret in
// the environment. Empty: nothing.
func Pod(pod corev1.PodSpec, wantArg string) []string {
	var bad []string
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != ImageUID {
		bad = append(bad, fmt.Sprintf("pod must run as non-root with runAsUser %d (the image's user)", ImageUID))
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad = append(bad, "pod seccompProfile must be RuntimeDefault")
	}
	if len(pod.Containers) != 1 {
		return append(bad, fmt.Sprintf("want one container, got %d", len(pod.Containers)))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		bad = append(bad, "readOnlyRootFilesystem must be true")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		bad = append(bad, "allowPrivilegeEscalation must be false")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		bad = append(bad, "capabilities must drop ALL and add none")
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		bad = append(bad, "resources requests and limits must be set")
	}
	if len(c.Command) != 0 {
		bad = append(bad, fmt.Sprintf("container command %q overrides the image's entrypoint [/patrol]: set only args", c.Command))
	}
	if len(c.Args) == 0 || c.Args[0] != wantArg {
		bad = append(bad, fmt.Sprintf("container args %q do not run `patrol %s`", c.Args, wantArg))
	}
	for _, e := range c.Env {
		if e.Value != "" && (strings.Contains(e.Name, "PASSWORD") || strings.Contains(e.Name, "SECRET")) {
			bad = append(bad, fmt.Sprintf("env %s has an inline value; secrets come from a Secret", e.Name))
		}
	}
	return bad
}
