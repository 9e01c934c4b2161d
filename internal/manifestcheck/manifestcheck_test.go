package manifestcheck

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func ptr[T any](v T) *T { return &v }

func goodPod() corev1.PodSpec {
	return corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(ImageUID)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{
			Name: "patrol", Args: []string{"rotate"},
			Env: []corev1.EnvVar{{Name: "AZURE_PASSWORD", ValueFrom: &corev1.EnvVarSource{}}},
			SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr(true), AllowPrivilegeEscalation: ptr(false),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}},
		}},
	}
}

func TestPod(t *testing.T) {
	if bad := Pod(goodPod(), "rotate"); len(bad) != 0 {
		t.Fatalf("a good pod is flagged: %q", bad)
	}
	for _, c := range []struct {
		name   string
		mutate func(*corev1.PodSpec)
		want   string
	}{
		{"root", func(p *corev1.PodSpec) { p.SecurityContext.RunAsUser = ptr(int64(0)) }, "runAsUser"},
		{"seccomp", func(p *corev1.PodSpec) { p.SecurityContext.SeccompProfile = nil }, "seccompProfile"},
		{"writable root", func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.ReadOnlyRootFilesystem = ptr(false) }, "readOnlyRootFilesystem"},
		{"escalation", func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil }, "allowPrivilegeEscalation"},
		{"caps", func(p *corev1.PodSpec) {
			p.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}, "capabilities"},
		{"resources", func(p *corev1.PodSpec) { p.Containers[0].Resources = corev1.ResourceRequirements{} }, "resources"},
		{"command", func(p *corev1.PodSpec) { p.Containers[0].Command = []string{"/bin/sh"} }, "entrypoint"},
		{"args", func(p *corev1.PodSpec) { p.Containers[0].Args = []string{"status"} }, "patrol rotate"},
		{"inline secret", func(p *corev1.PodSpec) { p.Containers[0].Env[0] = corev1.EnvVar{Name: "AZURE_PASSWORD", Value: "x"} }, "AZURE_PASSWORD"},
		{"two containers", func(p *corev1.PodSpec) { p.Containers = append(p.Containers, p.Containers[0]) }, "one container"},
	} {
		p := goodPod()
		c.mutate(&p)
		bad := Pod(p, "rotate")
		if len(bad) == 0 || !strings.Contains(strings.Join(bad, "; "), c.want) {
			t.Errorf("%s: got %q, want a finding naming %q", c.name, bad, c.want)
		}
	}
}

func TestPatrolFile(t *testing.T) {
	ok := "apiVersion: patrol.dev/v1\norganization: contoso\ncredentials:\n  - name: a\n    scopes: [vso.code]\n    sinks: [{type: file, path: /tmp/a}]\n"
	if _, err := PatrolFile(ok, "ok.yaml"); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{
		"warning (no apiVersion)": strings.TrimPrefix(ok, "apiVersion: patrol.dev/v1\n"),
		"unknown scope":           strings.Replace(ok, "vso.code", "vso.nope", 1),
		"unknown field":           ok + "organisation: typo\n",
		"unknown sink parameter":  strings.Replace(ok, "path: /tmp/a", "path: /tmp/a, colour: red", 1),
	} {
		if _, err := PatrolFile(src, name); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
