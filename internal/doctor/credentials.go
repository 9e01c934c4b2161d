package doctor

import (
	"context"
	"fmt"
	"time"

	"github.com/patrol-dev/patrol/internal/sink"
)

// AccessChecker is implemented by sinks that can ask their store whether
// patrol may write there without writing (a Kubernetes
// SelfSubjectAccessReview, say).
type AccessChecker interface {
	CheckAccess(ctx context.Context) error
}

// checkCredential reports, for each sink: whether it can be read and what it
// holds, whether patrol may write to it (where the store can tell), and
// whether the consumer can verify a new credential.
func checkCredential(ctx context.Context, c Credential) []Result {
	prefix := "credential " + c.Name
	if c.BuildErr != nil {
		return []Result{failed(prefix, c.BuildErr, "")}
	}
	if len(c.Sinks) == 0 {
		return []Result{{Check: prefix, Status: Warn, Message: "no sinks: a rotated credential would go nowhere", Fix: "add a sink under sinks:"}}
	}
	var out []Result
	verifiable := 0
	for _, s := range c.Sinks {
		name := prefix + " sink " + s.Name()
		held, err := s.Read(ctx)
		switch {
		case err != nil:
			out = append(out, failed(name, err, ""))
			continue
		case !held.Present:
			out = append(out, Result{Check: name, Status: OK, Message: "readable; holds nothing yet (the next `patrol rotate` fills it)"})
		default:
			msg := "readable; holds"
			if held.AuthorizationID != "" {
				msg += " PAT " + held.AuthorizationID
			} else {
				msg += " a credential"
			}
			if !held.ValidTo.IsZero() {
				msg += fmt.Sprintf(", valid to %s", held.ValidTo.UTC().Format(time.RFC3339))
			}
			out = append(out, Result{Check: name, Status: OK, Message: msg})
		}
		if ac, ok := s.(AccessChecker); ok {
			if err := ac.CheckAccess(ctx); err != nil {
				out = append(out, failed(name+" write access", err, ""))
			} else {
				out = append(out, Result{Check: name + " write access", Status: OK, Message: "patrol may write here"})
			}
		}
		if _, ok := s.(sink.Verifier); ok {
			verifiable++
		}
	}
	v := Result{Check: prefix + " verification", Status: OK}
	if verifiable > 0 {
		v.Message = fmt.Sprintf("%d of %d sink(s) let the consumer verify a new credential before the old one is revoked", verifiable, len(c.Sinks))
	} else {
		v.Message = "no sink can verify with its consumer: a new PAT is checked against Azure DevOps only"
	}
	return append(out, v)
}
