package rotation

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/sink"
)

// ReportOutcomes hands every result's outcome to the credential's sinks that
// record it (sink.Reporter: a Kubernetes Secret's annotations and Events).
// It returns the reporting errors for the caller to log; they never change
// the run's result.
func (e *Engine) ReportOutcomes(ctx context.Context, rep Report, at time.Time) []error {
	targets := map[string]Target{}
	for _, t := range e.Targets {
		targets[strings.ToLower(t.Credential.Name)] = t
	}
	var errs []error
	for _, r := range rep.Results {
		o := r.Outcome(at)
		so := sink.Outcome{Credential: r.Credential, Result: o.Result, Reason: o.Reason, Message: redact.String(o.Error), AuthorizationID: o.AuthorizationID, At: o.At}
		for _, s := range targets[strings.ToLower(r.Credential)].Sinks {
			if rp, ok := s.(sink.Reporter); ok {
				if err := rp.Report(ctx, so); err != nil {
					errs = append(errs, fmt.Errorf("report the outcome of %s on %s: %w", r.Credential, s.Name(), err))
				}
			}
		}
	}
	return errs
}
