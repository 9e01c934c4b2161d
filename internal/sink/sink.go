// Package sink delivers rotated credentials to where they are used. Sinks are
// dumb: they read what they hold and write what they are given; the rotation
// engine decides when.
package sink

import (
	"context"
	"time"
)

// Held is what a sink currently holds, as recorded by patrol's metadata.
// A sink that holds nothing (never written) returns Held{} and no error.
type Held struct {
	// AuthorizationID of the PAT held (empty for entra-token credentials or
	// when the sink holds nothing patrol wrote).
	AuthorizationID string
	// ValidTo of the credential held.
	ValidTo time.Time
	// RotatedAt is when patrol last wrote it.
	RotatedAt time.Time
	// Present is true when the sink holds a credential at all.
	Present bool
}

// Meta describes the credential being written.
type Meta struct {
	Credential      string    // managed credential name from patrol.yaml
	AuthorizationID string    // PAT authorizationId ("" for entra tokens)
	DisplayName     string    // PAT display name
	ValidTo         time.Time // expiry
	RotatedAt       time.Time // when this write happened
	Kind            string    // "pat" or "entra-token"
}

// Sink is one delivery target.
type Sink interface {
	// Name identifies the sink in logs, plans and errors, e.g.
	// "kubernetes-secret:ns/name" or "file:/var/run/pat".
	Name() string
	// Read reports what the sink holds. It must not return the secret.
	Read(ctx context.Context) (Held, error)
	// Write stores secret with meta. A failed Write must leave the previous
	// credential in place (atomic replace, or no change).
	Write(ctx context.Context, secret string, meta Meta) error
}

// Verifier is implemented by sinks that can check that the consumer sees the
// credential (e.g. a service connection's TestConnection).
type Verifier interface {
	Verify(ctx context.Context, meta Meta) error
}

// Outcome results reported to a Reporter.
const (
	OutcomeRotated = "rotated"
	OutcomeFailed  = "failed"
	OutcomeOK      = "ok"
)

// Outcome is what a run did to the credential a sink serves.
type Outcome struct {
	Credential      string
	Result          string // rotated | failed | ok
	Reason          string // failure reason (verify, sink, create, …)
	Message         string // one line, never a secret
	AuthorizationID string
	At              time.Time
}

// Reporter is implemented by sinks that record a run's outcome where their
// consumers look (the kubernetes-secret sink: annotations and Events on the
// Secret). A Reporter failure is logged, never a failure of the run.
type Reporter interface {
	Report(ctx context.Context, o Outcome) error
}
