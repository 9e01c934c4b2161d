// Package controller is patrol's Kubernetes controller (`patrol controller`):
// controller-runtime reconcilers that keep the PATs declared by
// PersonalAccessToken resources (api/v1alpha1) alive with the same rotation
// engine the CronJob runs (internal/rotation: observe → plan → create →
// verify → deliver → verify → revoke).
//
// One PersonalAccessToken is one rotation credential, named
// <namespace>.<name> (credentialName: hashed to 64 characters when longer),
// with one kubernetes-secret sink: the Secret of spec.secretTarget. Each
// reconcile builds an Engine for that credential alone, plans (forced when
// the patrol.dev/renew-now annotation changed or the issuance-relevant spec
// changed) and applies; the status, the Events and the live metrics derive
// from the engine's report. A failure leaves the Secret as it was (the
// engine never writes an empty or unverified PAT) and is retried with an
// exponential backoff; success requeues at the renewal time.
//
// Finalizers: a PersonalAccessToken carries patrol.dev/revoke: its deletion
// revokes every managed PAT of its credential (deletionPolicy Revoke, the
// default) or leaves them (Retain). An identity carries patrol.dev/in-use:
// its deletion waits, with condition Ready=False reason InUse naming them,
// while PersonalAccessTokens still reference it (they need it to revoke).
//
// Crash safety is the engine's: a reconcile killed between two steps leaves
// state the next reconcile repairs (an undelivered PAT is an orphan revoked
// after OrphanAge; a replaced PAT still listed is revoked once no sink
// holds it).
package controller
