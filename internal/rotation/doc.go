// Package rotation keeps managed credentials fresh: a pure Plan (desired
// config + observed state + now → actions) and an Engine that observes,
// plans and applies in a crash-safe order.
//
// Naming: every PAT patrol creates is named
// "patrol:<credential>:<yyyymmddThhmmssZ>-<attempt>" (UTC creation time and
// 8 random hex digits that make the name identify one create attempt; names
// of earlier versions without "-<attempt>" stay managed). Only PATs
// with such a name for a configured credential are ever revoked by patrol.
//
// Observation: what each sink holds (sink.Read: authorizationId, validTo —
// never the secret) and the user's active PATs from ONE paged listing
// (displayFilterOption=active: the "all" listing does not say which PATs are
// revoked, and revoked or expired PATs need no clean-up).
//
// Apply order, per credential (credentials run concurrently, bounded):
//
//  1. create the new PAT (organisation-scoped unless allOrgs);
//  2. check that it authenticates (connectionData with Basic auth) — a PAT
//     that does not work is revoked and never delivered;
//  3. write it to every sink, in config order;
//  4. run sink verifiers (sink.Verifier) where a sink has one;
//  5. revoke the PAT(s) it replaced — only those no sink still holds, only
//     when every sink took the new one and verified, and only when
//     gracePeriod is 0 (otherwise a later run revokes them once gracePeriod
//     has passed since the new PAT was created).
//
// The sink check (guard.go): every revocation goes through revokeUnheld,
// which keeps a PAT that any sink holds or may hold; nothing else calls
// PATClient.RevokePAT.
//
// Invariant: every sink holds a PAT that authenticates, and (after a
// follow-up run) no managed PAT exists that no sink holds. How each failure
// keeps it:
//
//   - create fails: nothing changed; the credential fails (policy errors
//     name the policy), the others continue;
//   - killed after create, before delivery: the new PAT is an orphan (no sink
//     holds it, nothing newer is held); the next run revokes it once it is
//     older than rotation.orphanAge (default 1h);
//   - verification of the new PAT fails: it is revoked, sinks untouched;
//   - every sink write fails: the new PAT is revoked, sinks keep the old one;
//   - some sink writes fail: the new PAT is kept (a sink holds it), the old
//     one too (the failed sinks hold it); the next run sees the sinks
//     disagree ("drift") and rotates again, after which both are revoked;
//   - killed after delivery, before revocation: the next run sees the old PAT
//     unheld and replaced by a newer held one and revokes it (after
//     gracePeriod);
//   - a sink cannot be read: that credential is neither rotated nor cleaned.
//
// entra-token credentials: the token written must stay valid for at least
// TokenNeed (renewBefore applied to the token's lifetime, at least
// MinTokenValidity). The process's TokenSource is cached and shared with the
// Azure DevOps client, so it may hand out a token with minutes left; the
// engine then signs in again through the same flow, bypassing that cache, and
// refuses (TokenTooShortError, nothing written) a token that is still too
// short.
//
// Re-running is idempotent: a freshly rotated credential is not due again
// until validTo − renewBefore, so one window never rotates twice.
package rotation
