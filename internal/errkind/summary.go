package errkind

import "errors"

// Summarizer is implemented by errors whose full message repeats details
// already printed elsewhere (a rotation report, a table): Summary is the
// one line to print instead. The full message stays available (Error) for
// --log-level debug and -o json.
type Summarizer interface {
	Summary() string
}

// SummaryOf returns the summary of the first error in err's chain that has
// one, or "".
func SummaryOf(err error) string {
	var s Summarizer
	if errors.As(err, &s) {
		return s.Summary()
	}
	return ""
}

// WithSummary wraps err with a short form (see Summarizer); kind and hint
// come from err.
func WithSummary(err error, summary string) error {
	if err == nil {
		return nil
	}
	return &summaryError{err: err, summary: summary}
}

type summaryError struct {
	err     error
	summary string
}

func (e *summaryError) Error() string   { return e.err.Error() }
func (e *summaryError) Unwrap() error   { return e.err }
func (e *summaryError) Summary() string { return e.summary }
