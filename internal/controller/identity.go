package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/atomicfile"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/rotation"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// identity is a resolved identity: the object and where its Secrets live.
type identity struct {
	kind, namespace, name string
	spec                  patrolv1.AzureDevOpsIdentitySpec
	generation            int64
	uid                   types.UID
	secretNS              string // namespace of its SecretKeyRefs
}

func (id identity) String() string {
	if id.kind == kindCluster {
		return id.kind + "/" + id.name
	}
	return id.kind + " " + id.namespace + "/" + id.name
}

const (
	kindNamespaced = "AzureDevOpsIdentity"
	kindCluster    = "ClusterAzureDevOpsIdentity"
)

// refKind is ref's kind with the default applied.
func refKind(ref patrolv1.IdentityRef) string {
	if ref.Kind == "" {
		return kindNamespaced
	}
	return ref.Kind
}

// IdentityMissingError: the identityRef names no identity.
type IdentityMissingError struct{ Ref string }

func (e *IdentityMissingError) Error() string {
	return e.Ref + " does not exist; create it or fix spec.identityRef"
}

// getIdentity reads the identity pat references.
func (r *PATReconciler) getIdentity(ctx context.Context, pat *patrolv1.PersonalAccessToken) (identity, error) {
	return r.resolveIdentity(ctx, pat.Namespace, pat.Spec.IdentityRef)
}

// resolveIdentity reads the identity ref names from namespace ns (a
// PersonalAccessToken's or an EntraAccessToken's).
func (r *PATReconciler) resolveIdentity(ctx context.Context, ns string, ref patrolv1.IdentityRef) (identity, error) {
	switch refKind(ref) {
	case kindCluster:
		var o patrolv1.ClusterAzureDevOpsIdentity
		if err := r.Client.Get(ctx, client.ObjectKey{Name: ref.Name}, &o); err != nil {
			if apierrors.IsNotFound(err) {
				return identity{}, &IdentityMissingError{Ref: kindCluster + " " + ref.Name}
			}
			return identity{}, err
		}
		return identity{kind: kindCluster, name: o.Name, spec: o.Spec, generation: o.Generation, uid: o.UID, secretNS: r.ClusterResourceNamespace}, nil
	default:
		var o patrolv1.AzureDevOpsIdentity
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &o); err != nil {
			if apierrors.IsNotFound(err) {
				return identity{}, &IdentityMissingError{Ref: kindNamespaced + " " + ns + "/" + ref.Name}
			}
			return identity{}, err
		}
		return identity{kind: kindNamespaced, namespace: o.Namespace, name: o.Name, spec: o.Spec, generation: o.Generation, uid: o.UID, secretNS: o.Namespace}, nil
	}
}

// IdentityInvalidError: the identity cannot be used (a referenced Secret or
// key is missing, a setting is refused).
type IdentityInvalidError struct {
	Identity string
	Err      error
}

func (e *IdentityInvalidError) Error() string { return e.Identity + ": " + e.Err.Error() }
func (e *IdentityInvalidError) Unwrap() error { return e.Err }

// account is a signed-in Azure DevOps client of one identity.
type account struct {
	key  string // identity UID, generation and the Secrets' resourceVersions
	pats rotation.PATClient
	org  string
	// ts is the sign-in (Azure DevOps scope) pats uses; signIn its options,
	// for tokens of other scopes (EntraAccessToken, entratoken.go).
	ts     entra.TokenSource
	signIn entra.Options
	scoped scopedTokens
	// sat supplies the ServiceAccount tokens of a
	// workloadIdentity.serviceAccountRef (nil: none).
	sat *saTokens
}

// accounts caches one account per identity (a TokenSource caches its
// sign-in; rebuilding it per reconcile would sign in every time).
type accounts struct {
	mu sync.Mutex
	m  map[types.UID]*account
	// dir holds certificate files written for client-certificate identities.
	dir string
}

// secretValue reads one key of a Secret (uncached: Secrets' data is never
// cached, only their metadata is watched).
func (r *PATReconciler) secretValue(ctx context.Context, id identity, ref *patrolv1.SecretKeyRef, field string) ([]byte, string, error) {
	if ref == nil {
		return nil, "", nil
	}
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: id.secretNS, Name: ref.Name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "", &IdentityInvalidError{Identity: id.String(), Err: fmt.Errorf("%s: Secret %s/%s does not exist", field, id.secretNS, ref.Name)}
		}
		return nil, "", &IdentityInvalidError{Identity: id.String(), Err: fmt.Errorf("%s: read Secret %s/%s: %w", field, id.secretNS, ref.Name, err)}
	}
	v, ok := s.Data[ref.Key]
	if !ok || len(v) == 0 {
		return nil, "", &IdentityInvalidError{Identity: id.String(), Err: fmt.Errorf("%s: Secret %s/%s has no key %q (or it is empty)", field, id.secretNS, ref.Name, ref.Key)}
	}
	return v, s.ResourceVersion, nil
}

// signedIn returns the signed-in client of id, built again when the identity
// or one of its Secrets changed (account adds the ServiceAccount check).
func (r *PATReconciler) signedIn(ctx context.Context, id identity) (*account, error) {
	// Before anything is read or sent: the endpoints must be allowed hosts.
	if err := checkEndpoints(id, r.AllowedHosts); err != nil {
		return nil, err
	}
	sp := id.spec
	vals := map[string][]byte{}
	key := fmt.Sprintf("%s/%d", id.uid, id.generation)
	for field, ref := range identitySecretRefs(sp) {
		v, rv, err := r.secretValue(ctx, id, ref, field)
		if err != nil {
			return nil, err
		}
		if v != nil {
			vals[field] = v
			key += "/" + field + "=" + rv
		}
	}
	r.accts.mu.Lock()
	defer r.accts.mu.Unlock()
	if a := r.accts.m[id.uid]; a != nil && a.key == key {
		return a, nil
	}
	a, err := r.connect(id, vals)
	if err != nil {
		return nil, &IdentityInvalidError{Identity: id.String(), Err: err}
	}
	a.key = key
	if r.accts.m == nil {
		r.accts.m = map[types.UID]*account{}
	}
	r.accts.m[id.uid] = a
	return a, nil
}

// identitySecretRefs are the Secrets an identity references, by field
// (the nil ones left out). Its Secret watch (secretwatch.go) indexes them.
func identitySecretRefs(sp patrolv1.AzureDevOpsIdentitySpec) map[string]*patrolv1.SecretKeyRef {
	out := map[string]*patrolv1.SecretKeyRef{}
	for field, ref := range map[string]*patrolv1.SecretKeyRef{
		"passwordRef": sp.PasswordRef, "clientSecretRef": sp.ClientSecretRef, "certificateRef": sp.CertificateRef,
		"certificatePasswordRef": sp.CertificatePasswordRef, "endpoints.caBundleRef": caRef(sp.Endpoints),
	} {
		if ref != nil {
			out[field] = ref
		}
	}
	return out
}

// cachedAccount is the account last built for id (nil when none).
func (r *PATReconciler) cachedAccount(id identity) *account {
	r.accts.mu.Lock()
	defer r.accts.mu.Unlock()
	return r.accts.m[id.uid]
}

func caRef(e *patrolv1.Endpoints) *patrolv1.SecretKeyRef {
	if e == nil {
		return nil
	}
	return e.CABundleRef
}

// connect builds the token source and Azure DevOps client of id. Called
// with r.accts.mu held.
func (r *PATReconciler) connect(id identity, vals map[string][]byte) (*account, error) {
	sp := id.spec
	ep := patrolv1.Endpoints{}
	if sp.Endpoints != nil {
		ep = *sp.Endpoints
	}
	hc := r.HTTPClient
	if ca := vals["endpoints.caBundleRef"]; ca != nil || hc == nil {
		var err error
		if hc, err = httpx.New(httpx.Options{CAPEM: ca, UserAgent: r.userAgent()}); err != nil {
			return nil, fmt.Errorf("endpoints.caBundleRef: %w", err)
		}
	}
	m, err := entra.ParseMethod(sp.Method)
	if err != nil {
		return nil, err
	}
	opts := entra.Options{
		Method: m, AuthorityHost: ep.AuthorityHost, TenantID: sp.TenantID, ClientID: sp.ClientID,
		Username: sp.Username, Password: string(vals["passwordRef"]), ClientSecret: string(vals["clientSecretRef"]),
		CertificatePassword: string(vals["certificatePasswordRef"]), ManagedIdentityClientID: sp.ManagedIdentityClientID,
		DisableInstanceDiscovery: ep.DisableInstanceDiscovery, HTTPClient: hc, Logger: r.log(), Now: r.Now,
	}
	opts.Settings = signInSettings(sp)
	if sp.WorkloadIdentity != nil {
		opts.FederatedTokenFile = sp.WorkloadIdentity.FederatedTokenFile
	}
	sat, err := r.serviceAccountTokens(id)
	if err != nil {
		return nil, err
	}
	if sat != nil {
		opts.FederatedToken = sat.get
	}
	if m == entra.MethodWorkloadIdentity && opts.FederatedTokenFile == "" && sat == nil {
		opts.FederatedTokenFile = os.Getenv("AZURE_FEDERATED_TOKEN_FILE")
	}
	if cert := vals["certificateRef"]; cert != nil {
		if opts.CertificatePath, err = r.accts.writeCert(id, cert); err != nil {
			return nil, err
		}
	}
	ts, err := entra.New(opts)
	if err != nil {
		return nil, err
	}
	dc, err := devops.New(devops.Options{
		Organization: sp.Organization, VSSPSURL: ep.VSSPS, DevOpsURL: ep.DevOps,
		Token: ts, HTTPClient: hc, Logger: r.log(), UserAgent: r.userAgent(), Now: r.Now,
	})
	if err != nil {
		return nil, err
	}
	return &account{pats: dc, org: sp.Organization, ts: ts, signIn: opts, sat: sat}, nil
}

// writeCert writes a client certificate (entra reads it from a file) into
// a private directory, 0600, atomically.
func (a *accounts) writeCert(id identity, pem []byte) (string, error) {
	if a.dir == "" {
		d, err := os.MkdirTemp("", "patrol-controller-")
		if err != nil {
			return "", err
		}
		a.dir = d
	}
	sum := sha256.Sum256([]byte(string(id.uid)))
	p := filepath.Join(a.dir, hex.EncodeToString(sum[:8])+".pem")
	if err := atomicfile.Write(p, pem, 0o600); err != nil {
		return "", fmt.Errorf("certificateRef: write the certificate for sign-in: %w", err)
	}
	return p, nil
}

func (r *PATReconciler) userAgent() string { return httpx.UserAgent(r.Version) }

// credentialName is the rotation credential of a PersonalAccessToken:
// <namespace>.<name> (namespaces have no '.', so it is unique), or, when
// longer than a credential name may be (64), its first 55 characters, '-'
// and 8 hex digits of a hash of the whole.
func credentialName(namespace, name string) string {
	n := namespace + "." + name
	if len(n) <= 64 {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	return strings.TrimRight(n[:55], ".-_") + "-" + hex.EncodeToString(sum[:4])
}

// signInSettings renames the environment variables sign-in hints name
// (entra.Options.Settings) to the identity's fields, which are what the
// controller reads: "check spec.passwordRef (Secret ado-login, key
// password)", never "check AZURE_PASSWORD".
func signInSettings(sp patrolv1.AzureDevOpsIdentitySpec) map[string]string {
	ref := func(field string, r *patrolv1.SecretKeyRef) string {
		if r == nil {
			return field
		}
		return fmt.Sprintf("%s (Secret %s, key %s)", field, r.Name, r.Key)
	}
	m := map[string]string{
		"AZURE_TENANT_ID": "spec.tenantId", "AZURE_CLIENT_ID": "spec.clientId", "AZURE_USERNAME": "spec.username",
		"AZURE_PASSWORD":                    ref("spec.passwordRef", sp.PasswordRef),
		"AZURE_CLIENT_SECRET":               ref("spec.clientSecretRef", sp.ClientSecretRef),
		"AZURE_CLIENT_CERTIFICATE_PATH":     ref("spec.certificateRef", sp.CertificateRef),
		"AZURE_CLIENT_CERTIFICATE_PASSWORD": ref("spec.certificatePasswordRef", sp.CertificatePasswordRef),
		"AZURE_FEDERATED_TOKEN_FILE":        "spec.workloadIdentity",
		"AZURE_AUTHORITY_HOST":              "spec.endpoints.authorityHost",
	}
	return m
}
