// Package errkind classifies errors so the CLI can map them to documented exit
// codes and one-line advice. Typed errors of other packages implement Kinder.
package errkind

import "errors"

// Kind is a class of failure.
type Kind int

const (
	// Unknown is any error that does not say what it is.
	Unknown Kind = iota
	// Usage: bad flags, bad config, invalid input. Fix the input.
	Usage
	// Auth: sign-in failed or the token was refused (401, 203 sign-in page, AADSTS).
	Auth
	// Permission: authenticated but not allowed (403, accessDenied).
	Permission
	// Policy: an organisation or tenant policy refused the operation.
	Policy
	// NotFound: the thing named does not exist.
	NotFound
	// Transient: throttling, 5xx, network; retrying later may succeed.
	Transient
	// Conflict: someone else changed the thing, or a lock is held.
	Conflict
	// Partial: a batch where some items failed (rotation runs).
	Partial
)

func (k Kind) String() string {
	switch k {
	case Usage:
		return "usage"
	case Auth:
		return "auth"
	case Permission:
		return "permission"
	case Policy:
		return "policy"
	case NotFound:
		return "not-found"
	case Transient:
		return "transient"
	case Conflict:
		return "conflict"
	case Partial:
		return "partial"
	}
	return "error"
}

// ExitCode is the process exit code documented in the README for each kind.
func (k Kind) ExitCode() int {
	switch k {
	case Usage:
		return 2
	case Auth:
		return 3
	case Permission, Policy:
		return 4
	case NotFound:
		return 5
	case Transient:
		return 6
	case Conflict:
		return 7
	case Partial:
		return 8
	}
	return 1
}

// Kinder is implemented by typed errors that know their kind.
type Kinder interface {
	Kind() Kind
}

// Of returns the kind of the first error in err's chain that has one.
func Of(err error) Kind {
	if err == nil {
		return Unknown
	}
	var k Kinder
	if errors.As(err, &k) {
		return k.Kind()
	}
	return Unknown
}

// New wraps err with kind k. Use it for errors that have no typed form.
func New(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{k: k, err: err}
}

type kindError struct {
	k   Kind
	err error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }
func (e *kindError) Kind() Kind    { return e.k }

// Hinter is implemented by errors that know better advice than their kind's
// generic one (e.g. a third-party tool refusing an endpoint's credentials is
// Auth, but the fix is the endpoint, not patrol's own sign-in).
type Hinter interface {
	ErrorHint() string
}

// HintOf returns the advice of the first error in err's chain that has one,
// or "".
func HintOf(err error) string {
	var h Hinter
	if errors.As(err, &h) {
		return h.ErrorHint()
	}
	return ""
}

// WithHint wraps err with kind k and the advice hint (see Hinter).
func WithHint(k Kind, err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hintError{kindError: kindError{k: k, err: err}, hint: hint}
}

type hintError struct {
	kindError
	hint string
}

func (e *hintError) ErrorHint() string { return e.hint }
