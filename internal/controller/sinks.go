package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/sink"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// spec.sinks: further deliveries of a PersonalAccessToken's PAT, built by
// internal/sink from the same parameters patrol.yaml's sinks have, and
// delivered by the rotation engine after the target Secret (sink 0), in
// spec order: create → verify → write every sink → verify → revoke.

// Environment names under which an http sink finds its SecretKeyRefs
// (sink.Deps.LookupEnv resolves them; the process environment is never read).
const (
	envHTTPPassword = "PATROL_SINK_PASSWORD"
	envHTTPToken    = "PATROL_SINK_TOKEN"
)

// sinkKind is the kind of s (the member that is set).
func sinkKind(s patrolv1.PATSink) string {
	switch {
	case s.ServiceConnection != nil:
		return patrolv1.SinkKindServiceConnection
	case s.VariableGroup != nil:
		return patrolv1.SinkKindVariableGroup
	case s.KeyVault != nil:
		return patrolv1.SinkKindKeyVault
	case s.HTTP != nil:
		return patrolv1.SinkKindHTTP
	}
	return ""
}

// sinkParams are s's internal/sink parameters (patrol.yaml's shape) and
// the SecretKeyRefs its secrets come from (by environment name).
func sinkParams(s patrolv1.PATSink, where string) (map[string]any, map[string]*patrolv1.SecretKeyRef, error) {
	p := map[string]any{}
	set := func(k string, v any, ok bool) {
		if ok {
			p[k] = v
		}
	}
	refs := map[string]*patrolv1.SecretKeyRef{}
	switch {
	case s.ServiceConnection != nil:
		c := s.ServiceConnection
		p["type"], p["project"], p["parameter"] = "azure-devops-service-endpoint", c.Project, c.Parameter
		set("endpointId", c.EndpointID, c.EndpointID != "")
		set("endpointName", c.EndpointName, c.EndpointName != "")
		set("scheme", c.Scheme, c.Scheme != "")
		set("waitReady", c.WaitReady, c.WaitReady != nil)
		if c.PollInterval != nil {
			p["pollInterval"] = c.PollInterval.Duration.String()
		}
	case s.VariableGroup != nil:
		g := s.VariableGroup
		p["type"], p["project"], p["variable"] = "azure-devops-variable-group", g.Project, g.Variable
		set("groupId", g.GroupID, g.GroupID != 0)
		set("groupName", g.GroupName, g.GroupName != "")
		set("isSecret", g.IsSecret, g.IsSecret != nil)
	case s.KeyVault != nil:
		k := s.KeyVault
		if k.DisableChallengeResourceVerification && !loopbackURL(k.VaultURL) {
			// Admission refuses it too (CEL); an older CRD may not.
			return nil, nil, fmt.Errorf("%s.keyVault.disableChallengeResourceVerification is only for a vault on the loopback address (the emulator), not %s: without the challenge check the identity's Key Vault token could go to another host; remove it", where, k.VaultURL)
		}
		p["type"], p["vaultUrl"], p["secretName"] = sink.KeyVaultTypeName, k.VaultURL, k.SecretName
		set("contentType", k.ContentType, k.ContentType != "")
		set("tags", k.Tags, len(k.Tags) > 0)
		set("disableChallengeResourceVerification", true, k.DisableChallengeResourceVerification)
	case s.HTTP != nil:
		h := s.HTTP
		// stateFile only names the record: it lives in status.sinks (statusHTTPState).
		p["type"], p["url"], p["name"], p["stateFile"] = "http", h.URL, s.Name, "status.sinks["+s.Name+"]"
		set("method", h.Method, h.Method != "")
		set("headers", h.Headers, len(h.Headers) > 0)
		set("body", h.Body, h.Body != "")
		set("contentType", h.ContentType, h.ContentType != "")
		set("expectStatus", h.ExpectStatus, len(h.ExpectStatus) > 0)
		if a := h.Auth; a != nil {
			auth := map[string]any{"type": a.Type}
			switch a.Type {
			case "basic":
				auth["username"], auth["passwordEnv"] = a.Username, envHTTPPassword
				refs[envHTTPPassword] = a.PasswordRef
			case "bearer":
				auth["tokenEnv"] = envHTTPToken
				refs[envHTTPToken] = a.TokenRef
			}
			p["auth"] = auth
		}
	default:
		return nil, nil, fmt.Errorf("%s: set one of serviceConnection, variableGroup, keyVault or http", where)
	}
	return p, refs, nil
}

// loopbackURL says whether raw's host is 127.0.0.1, ::1 or localhost.
func loopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// refField names the spec field a sink's SecretKeyRef is in.
func refField(where, env string) string {
	if env == envHTTPPassword {
		return where + ".http.auth.passwordRef"
	}
	return where + ".http.auth.tokenRef"
}

// buildSinks builds pat's spec.sinks with the identity's clients: its
// Azure DevOps client (service connections, variable groups), its sign-in
// for Key Vault's scope, its HTTP client (proxy and CA settings). Secrets
// are read from pat's namespace now, so a missing one fails before any PAT
// is created.
func (r *PATReconciler) buildSinks(ctx context.Context, pat *patrolv1.PersonalAccessToken, acct *account, id identity, state *sinkState) ([]sink.Sink, error) {
	if err := r.checkDestinations(ctx, pat, id.spec.Organization); err != nil {
		return nil, err
	}
	var out []sink.Sink
	for i, s := range pat.Spec.Sinks {
		where := fmt.Sprintf("spec.sinks[%d] (%s)", i, s.Name)
		params, refs, err := sinkParams(s, where)
		if err != nil {
			return nil, err
		}
		// Sinks of Azure DevOps go to the identity's (allowed) endpoints;
		// Key Vault and http ones to hosts of --allowed-sink-hosts only.
		switch {
		case s.KeyVault != nil:
			err = checkSinkHost(where+".keyVault.vaultUrl", s.KeyVault.VaultURL, r.AllowedSinkHosts)
		case s.HTTP != nil:
			err = checkSinkHost(where+".http.url", s.HTTP.URL, r.AllowedSinkHosts)
		}
		if err != nil {
			return nil, err
		}
		env := map[string]string{}
		for name, ref := range refs {
			field := refField(where, name)
			if ref == nil {
				return nil, fmt.Errorf("%s is missing", field)
			}
			v, err := r.sinkSecret(ctx, pat.Namespace, *ref, field)
			if err != nil {
				return nil, err
			}
			env[name] = v
		}
		raw, err := json.Marshal(params)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		hc := acct.signIn.HTTPClient // the identity's proxy and CA settings (Azure endpoints)
		if s.HTTP != nil {
			if hc, err = r.sinkHTTPClient(ctx, pat.Namespace, s.HTTP.CABundleRef, where+".http.caBundleRef"); err != nil {
				return nil, err
			}
		}
		deps := sink.Deps{Logger: r.log(), HTTPClient: hc, DevOps: acct.pats, Now: r.Now,
			LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			HTTPState: func(string) sink.HTTPStateStore { return &statusHTTPState{st: state, name: s.Name} }}
		if s.KeyVault != nil {
			deps.TokenCredential = r.sinkCredential(id, acct)
		}
		sk, err := sink.Build(sink.Spec{Type: params["type"].(string), Params: raw, Where: where, Organization: id.spec.Organization}, deps)
		if err != nil {
			return nil, err
		}
		out = append(out, sk)
	}
	return out, nil
}

// sinkHTTPClient is the client of an http sink: the system roots plus
// the CAs of ref (a third-party tool is not an Azure endpoint: the
// identity's caBundleRef does not apply).
func (r *PATReconciler) sinkHTTPClient(ctx context.Context, ns string, ref *patrolv1.SecretKeyRef, field string) (*http.Client, error) {
	var ca []byte
	if ref != nil {
		v, err := r.sinkSecret(ctx, ns, *ref, field)
		if err != nil {
			return nil, err
		}
		ca = []byte(v)
	}
	hc, err := httpx.New(httpx.Options{CAPEM: ca, UserAgent: r.userAgent()})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return hc, nil
}

// sinkSecret reads one key of a Secret in namespace ns for field.
func (r *PATReconciler) sinkSecret(ctx context.Context, ns string, ref patrolv1.SecretKeyRef, field string) (string, error) {
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("%s: Secret %s/%s does not exist; create it or fix the reference", field, ns, ref.Name)
		}
		return "", fmt.Errorf("%s: read Secret %s/%s: %w", field, ns, ref.Name, err)
	}
	v := strings.TrimRight(string(s.Data[ref.Key]), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s: Secret %s/%s has no key %q (or it is empty); add it or fix the reference", field, ns, ref.Name, ref.Key)
	}
	return v, nil
}

// sinkCreds caches one Key Vault credential per identity (its token
// sources cache the sign-in), rebuilt with the account.
type sinkCreds struct {
	mu sync.Mutex
	m  map[types.UID]sinkCred
}

type sinkCred struct {
	acct *account
	cred azcore.TokenCredential
}

// sinkCredential signs in as id (acct's sign-in options) for whatever
// scope an Azure SDK client asks, here Key Vault's.
func (r *PATReconciler) sinkCredential(id identity, acct *account) azcore.TokenCredential {
	r.creds.mu.Lock()
	defer r.creds.mu.Unlock()
	if c, ok := r.creds.m[id.uid]; ok && c.acct == acct {
		return c.cred
	}
	if r.creds.m == nil {
		r.creds.m = map[types.UID]sinkCred{}
	}
	c := sinkCred{acct: acct, cred: entra.AzureCredential(acct.signIn)}
	r.creds.m[id.uid] = c
	return c.cred
}
