package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	var out []sink.Sink
	for i, s := range pat.Spec.Sinks {
		where := fmt.Sprintf("spec.sinks[%d] (%s)", i, s.Name)
		params, refs, err := sinkParams(s, where)
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

// sinkState is pat's status.sinks while a reconcile runs: the http sinks'
// records live there (statusHTTPState) and are written at once.
type sinkState struct {
	mu  sync.Mutex
	r   *PATReconciler
	pat *patrolv1.PersonalAccessToken
	// orig is the reconcile's base for its final status patch; it follows
	// what was written here so that patch stays a diff against the server.
	orig *patrolv1.PersonalAccessToken
}

// initSinkStatus gives every sink of spec.sinks its status entry (in spec
// order) and drops the entries of sinks no longer listed.
func initSinkStatus(pat *patrolv1.PersonalAccessToken) {
	old := map[string]patrolv1.SinkStatus{}
	for _, s := range pat.Status.Sinks {
		old[s.Name] = s
	}
	var out []patrolv1.SinkStatus
	for _, s := range pat.Spec.Sinks {
		e, ok := old[s.Name]
		if !ok || e.Kind != sinkKind(s) {
			e = patrolv1.SinkStatus{Name: s.Name}
		}
		e.Kind = sinkKind(s)
		out = append(out, e)
	}
	pat.Status.Sinks = out
}

func (st *sinkState) entry(name string) *patrolv1.SinkStatus {
	for i := range st.pat.Status.Sinks {
		if st.pat.Status.Sinks[i].Name == name {
			return &st.pat.Status.Sinks[i]
		}
	}
	return nil
}

// update changes the entry of sink name and writes status.sinks now
// (a merge patch of that list only).
func (st *sinkState) update(ctx context.Context, name string, f func(*patrolv1.SinkStatus)) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	e := st.entry(name)
	if e == nil {
		return fmt.Errorf("status.sinks has no entry %s", name)
	}
	f(e)
	b, err := json.Marshal(map[string]any{"status": map[string]any{"sinks": st.pat.Status.Sinks}})
	if err != nil {
		return err
	}
	obj := st.pat.DeepCopy()
	if err := st.r.Client.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, b)); err != nil {
		return fmt.Errorf("record the delivery in status.sinks[%s]: %w", name, err)
	}
	// The reconcile's final patch carries the resourceVersion this one left.
	st.pat.ResourceVersion = obj.ResourceVersion
	if st.orig != nil {
		st.orig.Status.Sinks = append([]patrolv1.SinkStatus(nil), st.pat.Status.Sinks...)
		for i := range st.orig.Status.Sinks {
			st.orig.Status.Sinks[i] = *st.pat.Status.Sinks[i].DeepCopy()
		}
	}
	return nil
}

// statusHTTPState is an http sink's record in status.sinks[name]:
// authorizationId, notAfter, lastDeliveredTime and deliveryPending.
type statusHTTPState struct {
	st   *sinkState
	name string
}

func (s *statusHTTPState) Load(context.Context) (*sink.HTTPState, bool, error) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	e := s.st.entry(s.name)
	switch {
	case e == nil || (e.AuthorizationID == "" && e.LastDeliveredTime == nil && !e.DeliveryPending):
		return nil, false, nil
	case e.DeliveryPending:
		return nil, true, nil
	}
	h := &sink.HTTPState{AuthorizationID: e.AuthorizationID}
	if e.NotAfter != nil {
		h.ValidTo = e.NotAfter.Time
	}
	if e.LastDeliveredTime != nil {
		h.RotatedAt = e.LastDeliveredTime.Time
	}
	return h, false, nil
}

func (s *statusHTTPState) Begin(ctx context.Context, _ sink.HTTPState) error {
	return s.st.update(ctx, s.name, func(e *patrolv1.SinkStatus) { e.DeliveryPending = true })
}

func (s *statusHTTPState) Abort(ctx context.Context) error {
	return s.st.update(ctx, s.name, func(e *patrolv1.SinkStatus) { e.DeliveryPending = false })
}

func (s *statusHTTPState) Commit(ctx context.Context, h sink.HTTPState) error {
	return s.st.update(ctx, s.name, func(e *patrolv1.SinkStatus) {
		e.DeliveryPending, e.AuthorizationID = false, h.AuthorizationID
		e.NotAfter, e.LastDeliveredTime = &metav1.Time{Time: h.ValidTo}, &metav1.Time{Time: h.RotatedAt}
	})
}

// recordSinks sets status.sinks from what the sinks hold (view, observed
// after the run when it delivered) and what the run did to them (res);
// sks are every sink, the target Secret first.
func recordSinks(pat *patrolv1.PersonalAccessToken, sks []sink.Sink, view rotation.Item, res rotation.Result, now time.Time) {
	t := &metav1.Time{Time: now}
	for i := range pat.Status.Sinks {
		e := &pat.Status.Sinks[i]
		k := i + 1 // index among every sink
		if k < len(sks) {
			e.Destination = sks[k].Name()
		}
		if k < len(view.Sinks) {
			sp := view.Sinks[k]
			e.AuthorizationID, e.NotAfter = sp.Holds, nil
			if !sp.ValidTo.IsZero() {
				e.NotAfter = &metav1.Time{Time: sp.ValidTo}
			}
			if sp.Status == "error" {
				e.LastError, e.LastErrorTime = truncate(sp.Error, 1024), t
			} else if sp.Status == "ok" && res.Err == nil {
				e.LastError, e.LastErrorTime = "", nil
			}
		}
		if sr, ok := sinkResult(res, sks, k); ok {
			if sr.Written {
				e.LastDeliveredTime = t
			}
			if sr.Error != "" {
				e.LastError, e.LastErrorTime = truncate(sr.Error, 1024), t
			} else if sr.Written {
				e.LastError, e.LastErrorTime = "", nil
			}
		}
	}
}

// sinkFailure is the failure of a run that failed at one of spec.sinks
// (its write or verification, or reading it), nil when the failure is
// elsewhere (the PAT, the target Secret, a revocation). before is the
// plan the run applied.
func sinkFailure(pat *patrolv1.PersonalAccessToken, sks []sink.Sink, before rotation.Item, res rotation.Result) *failure {
	for i, s := range pat.Spec.Sinks {
		k := i + 1
		var msg string
		switch {
		case sinkErr(res, sks, k) != "":
			msg = fmt.Sprintf("sink %s (%s) failed: %s", s.Name, sinkKind(s), sinkErr(res, sks, k))
			if res.AuthorizationID != "" && (before.Current == nil || !strings.EqualFold(res.AuthorizationID, before.Current.AuthorizationID)) {
				msg += fmt.Sprintf("; the new PAT %s reached the other sinks", res.AuthorizationID)
			}
			if len(res.Kept) > 0 {
				msg += "; not revoked while a sink may rely on it: " + strings.Join(res.Kept, ", ")
			}
			msg += "; the next attempt delivers a new PAT to every sink"
		case k < len(before.Sinks) && before.Sinks[k].Status == "error":
			msg = fmt.Sprintf("sink %s (%s) cannot be read: %s; nothing was created or revoked", s.Name, sinkKind(s), before.Sinks[k].Error)
		default:
			continue
		}
		return &failure{reason: patrolv1.ReasonSinkFailed, msg: msg}
	}
	return nil
}

// sinkResult is what the run did to sink k of sks: res.Sinks lists every
// sink after a delivery, only the verifiable ones after a re-verification.
func sinkResult(res rotation.Result, sks []sink.Sink, k int) (rotation.SinkResult, bool) {
	if len(res.Sinks) == len(sks) {
		return res.Sinks[k], true
	}
	for _, sr := range res.Sinks {
		if k < len(sks) && sr.Name == sks[k].Name() {
			return sr, true
		}
	}
	return rotation.SinkResult{}, false
}

func sinkErr(res rotation.Result, sks []sink.Sink, k int) string {
	sr, _ := sinkResult(res, sks, k)
	return sr.Error
}

// reverify asks the engine to verify the sinks again, while the PAT they
// hold is not due, when one of them failed its verification last time
// (status.sinks): a consumer that still refuses it keeps the
// PersonalAccessToken failed and the replaced PAT unrevoked, as the
// CronJob's state does (rotation.Engine.Reverify).
func reverify(pat *patrolv1.PersonalAccessToken, cred string) map[string]bool {
	for _, s := range pat.Status.Sinks {
		if strings.HasPrefix(s.LastError, "verify: ") {
			return map[string]bool{strings.ToLower(cred): true}
		}
	}
	return nil
}

// anyWritten says whether the run delivered its new PAT to at least one sink.
func anyWritten(res rotation.Result) bool {
	for _, sr := range res.Sinks {
		if sr.Written {
			return true
		}
	}
	return false
}
