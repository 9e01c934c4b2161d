package rotation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
)

// The sink check. Every revocation the engine makes — create-recovery,
// compensation of a PAT that did not authenticate or was not delivered, a
// replaced PAT, a clean-up (orphan) revocation — goes through revokeUnheld,
// which asks the sinks first and keeps the PAT when one of them holds it or
// may hold it. No other code path calls PATClient.RevokePAT.

// revokeCase says which sink states count as "may hold" for a revocation.
type revokeCase int

const (
	// newUnsent: a PAT this run created and has written nowhere (the create
	// response was lost, it carried no secret, or it does not authenticate).
	// Only a sink that reports holding it keeps it.
	newUnsent revokeCase = iota
	// newUndelivered: a PAT this run created whose every sink write failed.
	// A sink of this credential that cannot be read, or holds content of
	// unknown origin, may have taken it before failing.
	newUndelivered
	// older: a PAT created before this run (replaced, orphan). Any sink of
	// any credential that cannot be read or holds content of unknown origin
	// may hold it (a sink moved between credentials keeps its PAT).
	older
)

// sinkRef names one sink of one credential.
type sinkRef struct{ cred, name string }

func (r sinkRef) String() string { return "sink " + r.name + " of credential " + r.cred }

// observation is what every sink (of every credential the engine knows,
// Targets and Watch) reported when the run observed them.
type observation struct {
	held   map[string][]sinkRef // lower-case authorizationId → sinks holding it
	unsure []unsureSink         // sinks that could not be read or hold unknown content
}

type unsureSink struct {
	sinkRef
	why string
}

// newObservation summarises states; tokens lists the entra-token
// credentials, whose sinks normally hold content without an authorizationId.
func newObservation(states map[string][]SinkState, tokens map[string]bool) *observation {
	o := &observation{held: map[string][]sinkRef{}}
	for cred, sts := range states {
		for _, st := range sts {
			ref := sinkRef{cred: cred, name: st.Name}
			switch {
			case st.Err != nil:
				o.unsure = append(o.unsure, unsureSink{ref, "could not be read when this run started"})
			case st.Held.Present && st.Held.AuthorizationID == "" && !tokens[cred]:
				o.unsure = append(o.unsure, unsureSink{ref, "held content of unknown origin when this run started"})
			case st.Held.AuthorizationID != "":
				id := strings.ToLower(st.Held.AuthorizationID)
				o.held[id] = append(o.held[id], ref)
			}
		}
	}
	return o
}

// holder reports which sink holds or may hold the PAT id of credential cred
// ("" when none): cred's own sinks are read now (this run may have changed
// them), every other sink as observed at the start of the run (no other
// credential writes cred's PATs).
func (e *Engine) holder(ctx context.Context, t Target, id string, rc revokeCase) string {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	cred := t.Credential.Name
	var unsure string
	for _, s := range t.Sinks {
		ref := sinkRef{cred: cred, name: s.Name()}
		h, err := s.Read(cctx)
		switch {
		case err != nil:
			if rc != newUnsent && unsure == "" {
				unsure = fmt.Sprintf("%s may hold it (it cannot be read: %v)", ref, err)
			}
		case strings.EqualFold(h.AuthorizationID, id):
			return ref.String() + " holds it"
		case h.Present && h.AuthorizationID == "":
			if rc != newUnsent && unsure == "" {
				unsure = ref.String() + " may hold it (content of unknown origin)"
			}
		}
	}
	o := e.observed()
	for _, ref := range o.held[strings.ToLower(id)] {
		if !strings.EqualFold(ref.cred, cred) {
			return ref.String() + " holds it"
		}
	}
	if unsure != "" {
		return unsure
	}
	if rc == older {
		for _, u := range o.unsure {
			if !strings.EqualFold(u.cred, cred) {
				return u.String() + " may hold it (it " + u.why + ")"
			}
		}
	}
	return ""
}

// observed is the start-of-run observation; an engine whose Apply was not
// preceded by Observe reads every sink once now.
func (e *Engine) observed() *observation {
	e.obsMu.Lock()
	defer e.obsMu.Unlock()
	if e.obs == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		e.obs = newObservation(e.readSinks(ctx), e.tokenCreds())
	}
	return e.obs
}

// HeldError says a revocation was skipped because a sink holds or may hold
// the PAT; the PAT stays valid and a later run revokes it once no sink does.
type HeldError struct {
	AuthorizationID string
	Holder          string
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("PAT %s was not revoked: %s; patrol never revokes a PAT a sink holds or may hold, a later run revokes it once none does", e.AuthorizationID, e.Holder)
}

// revokeUnheld revokes the PAT id of t's credential unless a sink holds or
// may hold it (then it returns *HeldError and revokes nothing). For PATs
// this run created it runs even when ctx was cancelled (SIGTERM mid-run),
// bounded to 30 s; for older PATs it fires the StepRevoked hook.
func (e *Engine) revokeUnheld(ctx context.Context, t Target, id string, rc revokeCase) error {
	if who := e.holder(ctx, t, id, rc); who != "" {
		return &HeldError{AuthorizationID: id, Holder: who}
	}
	if rc != older {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		ctx = cctx
	}
	if err := e.pats(t.Account).RevokePAT(ctx, id); err != nil && !alreadyGone(err) {
		return fmt.Errorf("revoke PAT %s: %w (it stays valid until it expires; the next run retries)", id, err)
	}
	if rc != older {
		return nil
	}
	return e.hook(HookEvent{Credential: t.Credential.Name, Step: StepRevoked, ID: id})
}

// alreadyGone: the PAT does not exist any more; the goal is reached.
func alreadyGone(err error) bool {
	var pe *devops.PATError
	if errors.As(err, &pe) && (pe.Code == api.ErrAuthorizationNotFound || pe.Code == api.ErrHostAuthorizationNotFound) {
		return true
	}
	return errkind.Of(err) == errkind.NotFound
}

// tokenCreds are the entra-token credentials of Targets and Watch.
func (e *Engine) tokenCreds() map[string]bool {
	out := map[string]bool{}
	for _, t := range append(append([]Target(nil), e.Targets...), e.Watch...) {
		if t.Credential.Kind == config.KindEntraToken {
			out[t.Credential.Name] = true
		}
	}
	return out
}

// readSinks reads every sink of Targets and Watch, concurrently (bounded).
func (e *Engine) readSinks(ctx context.Context) map[string][]SinkState {
	all := append(append([]Target(nil), e.Targets...), e.Watch...)
	out := make(map[string][]SinkState, len(all))
	type job struct{ t, s int }
	var jobs []job
	for ti, t := range all {
		out[t.Credential.Name] = make([]SinkState, len(t.Sinks))
		for si := range t.Sinks {
			jobs = append(jobs, job{ti, si})
		}
	}
	res := make([]SinkState, len(jobs))
	each(ctx, len(jobs), e.conc(), func(i int) {
		s := all[jobs[i].t].Sinks[jobs[i].s]
		h, err := s.Read(ctx)
		res[i] = SinkState{Name: s.Name(), Held: h, Err: err}
	})
	for i, j := range jobs {
		out[all[j.t].Credential.Name][j.s] = res[i]
	}
	return out
}
