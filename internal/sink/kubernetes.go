package sink

// The kubernetes-secret sink writes the credential into one key of a
// Kubernetes Secret and records patrol's metadata in annotations:
//
//	patrol.dev/credential        managed credential name
//	patrol.dev/authorization-id  PAT authorizationId
//	patrol.dev/valid-to          expiry (RFC 3339, UTC)
//	patrol.dev/rotated-at        when patrol wrote it (RFC 3339, UTC)
//	patrol.dev/kind              "pat" or "entra-token"
//
// plus the label app.kubernetes.io/managed-by=patrol.
//
// Choices (where the spec is silent):
//   - Write is read-modify-write with the Secret's resourceVersion (optimistic
//     concurrency), retried on 409 Conflict with client-go's default backoff.
//     Only data[key] (and the optional extra keys), patrol's annotations/labels
//     and the configured labels/annotations change; every other key, label and
//     annotation is kept. An empty credential is refused, so a Secret is never
//     emptied.
//   - When the Secret does not exist it is created (create: true, the default)
//     with type secretType (default Opaque). The sink's own "type" field is the
//     sink type, so the Secret type is spelled secretType.
//   - An immutable Secret is refused with advice (immutable Secrets cannot be
//     updated; recreate it mutable).
//   - The client comes from, in order: the kubeconfig parameter; in-cluster
//     configuration when running in a Pod; $KUBECONFIG / ~/.kube/config. The
//     namespace defaults to the kubeconfig context's namespace, in a Pod to the
//     Pod's namespace (/var/run/secrets/kubernetes.io/serviceaccount/namespace).
//   - 403 Forbidden errors name the verb, the Secret and the Role rule to add.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/mustache"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

// Kubernetes metadata keys written by patrol.
const (
	AnnotationCredential      = "patrol.dev/credential"
	AnnotationAuthorizationID = "patrol.dev/authorization-id"
	AnnotationValidTo         = "patrol.dev/valid-to"
	AnnotationRotatedAt       = "patrol.dev/rotated-at"
	AnnotationKind            = "patrol.dev/kind"
	LabelManagedBy            = "app.kubernetes.io/managed-by"
	ManagedByPatrol           = "patrol"
)

// KubernetesSecretTypeName is the sink type name in patrol.yaml.
const KubernetesSecretTypeName = "kubernetes-secret"

// InClusterNamespaceFile holds the Pod's namespace when running in a Pod.
const InClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// KubernetesSecretParams are the patrol.yaml fields of a kubernetes-secret sink.
type KubernetesSecretParams struct {
	Type string `json:"type"`
	// Namespace of the Secret; default: kubeconfig context / Pod namespace.
	Namespace string `json:"namespace,omitempty"`
	// Name of the Secret (required).
	Name string `json:"name"`
	// Key in data that receives the credential; default "token".
	Key string `json:"key,omitempty"`
	// AuthorizationIDKey, if set, also stores the PAT authorizationId in this data key.
	AuthorizationIDKey string `json:"authorizationIdKey,omitempty"`
	// ValidToKey, if set, also stores the expiry (RFC 3339) in this data key.
	ValidToKey string `json:"validToKey,omitempty"`
	// Labels and Annotations are set on the Secret (others are kept).
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Kubeconfig file and Context; default in-cluster, then $KUBECONFIG.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
	// Create the Secret when missing; default true.
	Create *bool `json:"create,omitempty"`
	// SecretType for a created Secret; default "Opaque".
	SecretType string `json:"secretType,omitempty"`
}

// KubernetesSecretOptions configure NewKubernetesSecret.
type KubernetesSecretOptions struct {
	Client             kubernetes.Interface
	Namespace, Name    string
	Key                string // default "token"
	AuthorizationIDKey string
	ValidToKey         string
	Labels             map[string]string
	Annotations        map[string]string
	Create             bool
	SecretType         corev1.SecretType // default Opaque
	// Templates are further data keys rendered at each write (Mustache,
	// internal/mustache) from {{token}}, {{authorizationId}}, {{validTo}}
	// (RFC 3339), {{displayName}} and {{credential}}: e.g. a .git-credentials
	// line. As in Mustache, {{x}} HTML-escapes and {{{x}}} does not (the
	// values patrol provides contain no characters that are escaped). Set by the controller (PersonalAccessToken spec.secretTarget.templates).
	Templates map[string]string
	// Logger gets one debug line per write (never the value); nil = discard.
	Logger *slog.Logger
}

// KubernetesSecret is the kubernetes-secret sink.
type KubernetesSecret struct {
	o         KubernetesSecretOptions
	templates map[string]*mustache.Template
}

// KubeError is a failed Kubernetes API call of the kubernetes-secret sink or
// the Lease lock. Message never contains secret values.
type KubeError struct {
	Verb     string // get, create, update
	Resource string // "Secret ns/name"
	K        errkind.Kind
	Hint     string
	Err      error
}

func (e *KubeError) Error() string {
	msg := fmt.Sprintf("%s %s: %v", e.Verb, e.Resource, e.Err)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}
func (e *KubeError) Unwrap() error      { return e.Err }
func (e *KubeError) Kind() errkind.Kind { return e.K }
func kubeUsageErr(format string, a ...any) error {
	return errkind.New(errkind.Usage, fmt.Errorf(format, a...))
}

func init() {
	Register(Type{Name: KubernetesSecretTypeName, Validate: validateKubernetesSecret, New: newKubernetesSecretFromParams})
}

func kubeDecodeStrict(params json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return kubeUsageErr("invalid parameters: %v", err)
	}
	return nil
}

func parseKubernetesSecretParams(params json.RawMessage) (KubernetesSecretParams, error) {
	var p KubernetesSecretParams
	if err := kubeDecodeStrict(params, &p); err != nil {
		return p, err
	}
	if p.Name == "" {
		return p, kubeUsageErr("name: required; set the name of the Secret to write")
	}
	if errs := validation.IsDNS1123Subdomain(p.Name); len(errs) > 0 {
		return p, kubeUsageErr("name %q: not a valid Secret name (%s)", p.Name, strings.Join(errs, "; "))
	}
	if p.Namespace != "" {
		if errs := validation.IsDNS1123Label(p.Namespace); len(errs) > 0 {
			return p, kubeUsageErr("namespace %q: not a valid namespace (%s)", p.Namespace, strings.Join(errs, "; "))
		}
	}
	if p.Key == "" {
		p.Key = "token"
	}
	seen := map[string]string{}
	for field, k := range map[string]string{"key": p.Key, "authorizationIdKey": p.AuthorizationIDKey, "validToKey": p.ValidToKey} {
		if k == "" {
			continue
		}
		if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
			return p, kubeUsageErr("%s %q: not a valid Secret data key (%s)", field, k, strings.Join(errs, "; "))
		}
		if other, dup := seen[k]; dup {
			return p, kubeUsageErr("%s and %s are both %q; use distinct keys", other, field, k)
		}
		seen[k] = field
	}
	for k, v := range p.Labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return p, kubeUsageErr("labels: key %q invalid (%s)", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return p, kubeUsageErr("labels[%s]: value %q invalid (%s)", k, v, strings.Join(errs, "; "))
		}
		if k == LabelManagedBy {
			return p, kubeUsageErr("labels: %s is set by patrol; remove it", k)
		}
	}
	for k := range p.Annotations {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return p, kubeUsageErr("annotations: key %q invalid (%s)", k, strings.Join(errs, "; "))
		}
		if strings.HasPrefix(k, "patrol.dev/") {
			return p, kubeUsageErr("annotations: %s is reserved for patrol's metadata; use another prefix", k)
		}
	}
	switch p.SecretType {
	case "":
		p.SecretType = string(corev1.SecretTypeOpaque)
	case string(corev1.SecretTypeServiceAccountToken), string(corev1.SecretTypeTLS), string(corev1.SecretTypeDockerConfigJson), string(corev1.SecretTypeDockercfg):
		return p, kubeUsageErr("secretType %q: patrol writes a single token key; use Opaque or a custom type", p.SecretType)
	}
	return p, nil
}

func validateKubernetesSecret(params json.RawMessage) error {
	_, err := parseKubernetesSecretParams(params)
	return err
}

func newKubernetesSecretFromParams(params json.RawMessage, deps Deps) (Sink, error) {
	p, err := parseKubernetesSecretParams(params)
	if err != nil {
		return nil, err
	}
	cfg, ns, err := KubeClientConfig(p.Kubeconfig, p.Context)
	if err != nil {
		return nil, err
	}
	if p.Namespace == "" {
		p.Namespace = ns
	}
	cs, err := NewKubeClientset(cfg)
	if err != nil {
		return nil, kubeUsageErr("kubernetes client: %v", err)
	}
	create := true
	if p.Create != nil {
		create = *p.Create
	}
	return NewKubernetesSecret(KubernetesSecretOptions{
		Client: cs, Namespace: p.Namespace, Name: p.Name, Key: p.Key,
		AuthorizationIDKey: p.AuthorizationIDKey, ValidToKey: p.ValidToKey,
		Labels: p.Labels, Annotations: p.Annotations, Create: create,
		SecretType: corev1.SecretType(p.SecretType), Logger: deps.Logger,
	})
}

// NewKubeClientset builds the clientset every patrol Kubernetes client uses:
// requests are never redirected (the bearer token is added by client-go's
// transport to every request, a redirected one too) and answers are
// bounded (internal/httpx, purpose Kubernetes); a config without a timeout
// gets httpx.DefaultTimeout per request.
func NewKubeClientset(cfg *rest.Config) (*kubernetes.Clientset, error) {
	c := rest.CopyConfig(cfg)
	if c.Timeout == 0 {
		c.Timeout = httpx.DefaultTimeout
	}
	wrap := c.WrapTransport
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if wrap != nil {
			rt = wrap(rt)
		}
		return httpx.LimitTransport(rt, httpx.Kubernetes)
	}
	hc, err := rest.HTTPClientFor(c)
	if err != nil {
		return nil, err
	}
	hc.CheckRedirect = httpx.CheckRedirect(httpx.Kubernetes)
	return kubernetes.NewForConfigAndClient(c, hc)
}

// KubeClientConfig returns the REST config and default namespace: from
// kubeconfig (with context) when given; else in-cluster when running in a
// Pod; else $KUBECONFIG / ~/.kube/config.
func KubeClientConfig(kubeconfig, kubeContext string) (*rest.Config, string, error) {
	if kubeconfig == "" && kubeContext == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, "", errkind.New(errkind.Usage, fmt.Errorf("in-cluster Kubernetes config: %w; mount the ServiceAccount token (automountServiceAccountToken: true) or set kubeconfig", err))
		}
		ns := "default"
		if b, err := os.ReadFile(InClusterNamespaceFile); err == nil && strings.TrimSpace(string(b)) != "" {
			ns = strings.TrimSpace(string(b))
		}
		return cfg, ns, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		where := "$KUBECONFIG or ~/.kube/config"
		if kubeconfig != "" {
			where = kubeconfig
		}
		return nil, "", errkind.New(errkind.Usage, fmt.Errorf("kubeconfig %s (context %q): %w; set kubeconfig/context, or run in a Pod with a ServiceAccount", where, kubeContext, err))
	}
	ns, _, err := cc.Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	return cfg, ns, nil
}

// NewKubernetesSecret builds the sink around an existing client.
func NewKubernetesSecret(o KubernetesSecretOptions) (*KubernetesSecret, error) {
	if o.Client == nil {
		return nil, kubeUsageErr("kubernetes-secret: no Kubernetes client")
	}
	if o.Namespace == "" || o.Name == "" {
		return nil, kubeUsageErr("kubernetes-secret: namespace and name are required")
	}
	if o.Key == "" {
		o.Key = "token"
	}
	if o.SecretType == "" {
		o.SecretType = corev1.SecretTypeOpaque
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	k := &KubernetesSecret{o: o}
	for key, src := range o.Templates {
		if key == o.Key || key == o.AuthorizationIDKey || key == o.ValidToKey {
			return nil, kubeUsageErr("kubernetes-secret: template key %q is also the token, authorizationId or validTo key", key)
		}
		t, err := mustache.Parse(src)
		if err != nil {
			return nil, kubeUsageErr("kubernetes-secret: template %q: %v", key, err)
		}
		if k.templates == nil {
			k.templates = map[string]*mustache.Template{}
		}
		k.templates[key] = t
	}
	return k, nil
}

// Name implements Sink.
func (k *KubernetesSecret) Name() string {
	return KubernetesSecretTypeName + ":" + k.o.Namespace + "/" + k.o.Name
}

func (k *KubernetesSecret) resource() string {
	return fmt.Sprintf("Secret %s/%s", k.o.Namespace, k.o.Name)
}

// Read implements Sink: metadata from annotations, never the value.
func (k *KubernetesSecret) Read(ctx context.Context) (Held, error) {
	s, err := k.o.Client.CoreV1().Secrets(k.o.Namespace).Get(ctx, k.o.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Held{}, nil
	}
	if err != nil {
		return Held{}, k.wrap("get", err)
	}
	h := Held{Present: len(s.Data[k.o.Key]) > 0}
	a := s.Annotations
	h.AuthorizationID = a[AnnotationAuthorizationID]
	if v := a[AnnotationValidTo]; v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			h.ValidTo = t
		}
	}
	if v := a[AnnotationRotatedAt]; v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			h.RotatedAt = t
		}
	}
	return h, nil
}

// Write implements Sink.
func (k *KubernetesSecret) Write(ctx context.Context, secret string, meta Meta) error {
	if secret == "" {
		return kubeUsageErr("%s: refusing to write an empty credential (the Secret keeps its current value)", k.Name())
	}
	extra, err := k.render(ctx, secret, meta)
	if err != nil {
		return err
	}
	return k.update(ctx, func(s *corev1.Secret) {
		k.apply(s, secret, meta)
		maps.Copy(s.Data, extra)
	})
}

// render renders the templates for a write; a failure writes nothing.
func (k *KubernetesSecret) render(ctx context.Context, secret string, meta Meta) (map[string][]byte, error) {
	if len(k.templates) == 0 {
		return nil, nil
	}
	// expiresOn is validTo by the name Entra gives it (EntraAccessToken templates).
	data := map[string]any{"token": secret, "authorizationId": meta.AuthorizationID, "validTo": kubeRFC3339(meta.ValidTo),
		"expiresOn": kubeRFC3339(meta.ValidTo), "displayName": meta.DisplayName, "credential": meta.Credential}
	out := make(map[string][]byte, len(k.templates))
	for key, t := range k.templates {
		v, err := t.RenderContext(ctx, data)
		if err != nil {
			// The error may quote the template, never the data.
			return nil, kubeUsageErr("%s: template %q: %v (the Secret keeps its current value)", k.Name(), key, err)
		}
		out[key] = []byte(v)
	}
	return out, nil
}

// update is the read-modify-write loop shared by Write and the token store:
// Get, mutate, Update with the resourceVersion read; Create when missing and
// allowed; retried on 409 Conflict.
func (k *KubernetesSecret) update(ctx context.Context, mutate func(*corev1.Secret)) error {
	secrets := k.o.Client.CoreV1().Secrets(k.o.Namespace)
	var verb, rv string
	attempts := 0
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		attempts++
		cur, err := secrets.Get(ctx, k.o.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			if !k.o.Create {
				verb = "get"
				return &KubeError{Verb: "get", Resource: k.resource(), K: errkind.NotFound, Err: err,
					Hint: "create the Secret first, or set create: true on the sink"}
			}
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: k.o.Name, Namespace: k.o.Namespace}, Type: k.o.SecretType}
			mutate(s)
			verb = "create"
			created, err := secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: "patrol"})
			if err == nil {
				rv = created.ResourceVersion
			}
			if apierrors.IsAlreadyExists(err) {
				// Someone created it in between: retry as a conflict.
				return apierrors.NewConflict(corev1.Resource("secrets"), k.o.Name, err)
			}
			return err
		}
		if err != nil {
			verb = "get"
			return err
		}
		if cur.Immutable != nil && *cur.Immutable {
			verb = "update"
			return &KubeError{Verb: "update", Resource: k.resource(), K: errkind.Conflict,
				Err:  errors.New("the Secret is immutable"),
				Hint: "delete it (patrol recreates it) or recreate it without immutable: true"}
		}
		mutate(cur)
		verb = "update"
		updated, err := secrets.Update(ctx, cur, metav1.UpdateOptions{FieldManager: "patrol"})
		if err == nil {
			rv = updated.ResourceVersion
		}
		return err
	})
	if err != nil {
		k.o.Logger.Debug("kubernetes secret write failed", "secret", k.o.Namespace+"/"+k.o.Name, "verb", verb, "attempts", attempts)
		var ke *KubeError
		if errors.As(err, &ke) {
			return err
		}
		return k.wrap(verb, err)
	}
	k.o.Logger.Debug("kubernetes secret written", "secret", k.o.Namespace+"/"+k.o.Name, "verb", verb, "attempts", attempts, "resourceVersion", rv)
	return nil
}

func (k *KubernetesSecret) apply(s *corev1.Secret, secret string, meta Meta) {
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Data[k.o.Key] = []byte(secret)
	if k.o.AuthorizationIDKey != "" {
		s.Data[k.o.AuthorizationIDKey] = []byte(meta.AuthorizationID)
	}
	if k.o.ValidToKey != "" && !meta.ValidTo.IsZero() {
		s.Data[k.o.ValidToKey] = []byte(meta.ValidTo.UTC().Format(time.RFC3339))
	}
	// StringData would override Data on the server; never send stale values.
	s.StringData = nil
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	maps.Copy(s.Labels, k.o.Labels)
	s.Labels[LabelManagedBy] = ManagedByPatrol
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	maps.Copy(s.Annotations, k.o.Annotations)
	kubeSetOrDelete(s.Annotations, AnnotationCredential, meta.Credential)
	kubeSetOrDelete(s.Annotations, AnnotationAuthorizationID, meta.AuthorizationID)
	kubeSetOrDelete(s.Annotations, AnnotationKind, meta.Kind)
	kubeSetOrDelete(s.Annotations, AnnotationValidTo, kubeRFC3339(meta.ValidTo))
	kubeSetOrDelete(s.Annotations, AnnotationRotatedAt, kubeRFC3339(meta.RotatedAt))
}

func kubeSetOrDelete(m map[string]string, k, v string) {
	if v == "" {
		delete(m, k)
		return
	}
	m[k] = v
}

func kubeRFC3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// wrap classifies a Kubernetes API error with advice.
func (k *KubernetesSecret) wrap(verb string, err error) error {
	return kubeErr(verb, k.resource(), err, k.roleHint(verb))
}

func (k *KubernetesSecret) roleHint(verb string) string {
	verbs := []string{"get", "update", "patch"}
	if verb == "create" {
		return fmt.Sprintf("the ServiceAccount patrol runs as needs a Role in namespace %q with rule {apiGroups: [\"\"], resources: [\"secrets\"], verbs: [\"create\"]} bound by a RoleBinding "+
			"(create cannot be limited by resourceNames), or pre-create Secret %q and set create: false", k.o.Namespace, k.o.Name)
	}
	if !slices.Contains(verbs, verb) {
		verbs = append(verbs, verb)
	}
	return fmt.Sprintf("the ServiceAccount patrol runs as needs a Role in namespace %q with rule {apiGroups: [\"\"], resources: [\"secrets\"], resourceNames: [%q], verbs: [%s]} bound to it by a RoleBinding (see deploy/rbac.yaml)",
		k.o.Namespace, k.o.Name, kubeQuoteJoin(verbs))
}

func kubeQuoteJoin(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func kubeErr(verb, resource string, err error, forbiddenHint string) error {
	ke := &KubeError{Verb: verb, Resource: resource, Err: err, K: errkind.Unknown}
	switch {
	case apierrors.IsForbidden(err):
		ke.K = errkind.Permission
		ke.Hint = forbiddenHint
	case apierrors.IsUnauthorized(err):
		ke.K = errkind.Auth
		ke.Hint = "the Kubernetes credentials were refused; check the kubeconfig user or the ServiceAccount token"
	case apierrors.IsNotFound(err):
		ke.K = errkind.NotFound
		ke.Hint = "check the namespace exists"
	case apierrors.IsConflict(err):
		ke.K = errkind.Conflict
		ke.Hint = "another writer kept changing it; run again"
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		ke.K = errkind.Usage
	case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		ke.K = errkind.Transient
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		ke.K = errkind.Transient
	case isCertificate(err):
		ke.K = errkind.Usage
		ke.Hint, _ = errkind.Certificate(err)
	default:
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) {
			ke.K = errkind.Transient
		}
	}
	return ke
}

// isCertificate reports a server certificate that failed verification: the
// trust configuration's problem, never transient.
func isCertificate(err error) bool {
	_, ok := errkind.Certificate(err)
	return ok
}
