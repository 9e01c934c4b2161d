package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/rotation"
	"github.com/patrol-dev/patrol/internal/sink"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// status.sinks: what each of spec.sinks holds, the http sinks' delivery
// records, and the failures of a run that name a sink.

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
