package main

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/sink"
)

// tokenCacheScheme prefixes a token cache kept in a Kubernetes Secret:
//
//	k8s-secret://<namespace>/<name>[#key]   key defaults to "refresh-token"
//	k8s-secret:///<name>[#key]              namespace of the kube config / the Pod
//
// Anything else is a file path.
const tokenCacheScheme = "k8s-secret://"

// secretRef names the Secret (and key) of a k8s-secret:// token cache.
type secretRef struct {
	Namespace string // "" = the default namespace of the Kubernetes config
	Name      string
	Key       string
}

func (r secretRef) String() string {
	ns := r.Namespace
	if ns == "" {
		ns = "(default namespace)"
	}
	return "Kubernetes Secret " + ns + "/" + r.Name + " key " + r.Key
}

var (
	dnsLabel     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`) })
	dnsSubdomain = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	})
	secretKeyRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[-._a-zA-Z0-9]+$`) })
)

// parseTokenCache reports whether s is a k8s-secret:// token cache and
// parses it. Errors are usage errors that show the expected syntax.
func parseTokenCache(s string) (secretRef, bool, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(strings.ToLower(s), "k8s-secret:") {
		return secretRef{}, false, nil
	}
	bad := func(format string, a ...any) (secretRef, bool, error) {
		return secretRef{}, true, errkind.New(errkind.Usage, fmt.Errorf("token cache %q: %s; use k8s-secret://<namespace>/<name>[#key] (or k8s-secret:///<name> for the namespace of the Kubernetes config), e.g. k8s-secret://patrol/patrol-token-cache#refresh-token", s, fmt.Sprintf(format, a...)))
	}
	if !strings.HasPrefix(strings.ToLower(s), tokenCacheScheme) {
		return bad("the scheme must be followed by //")
	}
	rest := s[len(tokenCacheScheme):]
	if strings.ContainsAny(rest, "?") {
		return bad("query parameters are not supported (the Kubernetes config comes from the Pod or KUBECONFIG)")
	}
	path, key, hasKey := strings.Cut(rest, "#")
	ref := secretRef{Key: "refresh-token"}
	if hasKey {
		if key == "" {
			return bad("the key after # is empty")
		}
		if len(key) > 253 || !secretKeyRe().MatchString(key) {
			return bad("key %q is not a valid Secret data key (letters, digits, '-', '_', '.'; at most 253)", key)
		}
		ref.Key = key
	}
	parts := strings.Split(path, "/")
	switch {
	case len(parts) == 2:
		ref.Namespace, ref.Name = parts[0], parts[1]
	case len(parts) == 1 && parts[0] != "":
		return bad("missing namespace or name (got one segment %q)", parts[0])
	default:
		return bad("expected exactly <namespace>/<name>, got %q", path)
	}
	if ref.Name == "" {
		return bad("the Secret name is empty")
	}
	if ref.Namespace != "" && (len(ref.Namespace) > 63 || !dnsLabel().MatchString(ref.Namespace)) {
		return bad("namespace %q is not a valid namespace name (lower-case letters, digits and '-', at most 63)", ref.Namespace)
	}
	if len(ref.Name) > 253 || !dnsSubdomain().MatchString(ref.Name) {
		return bad("Secret name %q is not a valid name (lower-case letters, digits, '-' and '.', at most 253)", ref.Name)
	}
	return ref, true, nil
}

// applyTokenCache points opts at the configured refresh-token store: a
// k8s-secret:// URI becomes a sink.KubernetesTokenStore (in-cluster config in
// a Pod, else $KUBECONFIG or ~/.kube/config); a path stays a file cache.
// It returns a description of where the token lives.
func (a *app) applyTokenCache(opts *entra.Options) (string, error) {
	ref, ok, err := parseTokenCache(opts.CachePath)
	if err != nil {
		return "", err
	}
	if !ok {
		if opts.CachePath == "" {
			return entra.DefaultCachePath(), nil
		}
		return opts.CachePath, nil
	}
	a.kubeMu.Lock()
	defer a.kubeMu.Unlock()
	if a.kubeStore == nil || a.kubeStoreRef != ref {
		kubeconfig, _ := a.env("KUBECONFIG")
		cfg, ns, err := sink.KubeClientConfig(kubeconfig, "")
		if err != nil {
			return "", fmt.Errorf("token cache %s: %w", ref, err)
		}
		cs, err := sink.NewKubeClientset(cfg)
		if err != nil {
			return "", errkind.New(errkind.Usage, fmt.Errorf("token cache %s: Kubernetes client: %w", ref, err))
		}
		full := ref
		if full.Namespace == "" {
			full.Namespace = ns
		}
		st, err := sink.NewKubernetesTokenStore(sink.KubernetesSecretOptions{Client: cs, Namespace: full.Namespace, Name: full.Name,
			Key: full.Key, Create: true, Logger: a.logger()}, a.now)
		if err != nil {
			return "", fmt.Errorf("token cache %s: %w", ref, err)
		}
		a.kubeStore, a.kubeStoreRef, a.kubeStoreName = st, ref, full.String()
	}
	opts.Cache = a.kubeStore
	opts.CachePath = ""
	return a.kubeStoreName, nil
}
