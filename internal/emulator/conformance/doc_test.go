// Package conformance_test checks the emulator against Microsoft's REST
// specifications of the Azure DevOps areas it serves (testdata/specs, a copy
// of ../shared/specs: tokens, tokenAdmin and serviceEndpoint 7.2 with
// Microsoft's recorded examples, MIT licensed).
//
//   - TestSpecConformance exercises every operation the emulator serves —
//     through patrol's own client (internal/devops, so its decoding is
//     checked too) and raw calls — and validates each request the emulator
//     accepted and each answer with kin-openapi (openapi2conv +
//     openapi3filter). Dates must have at most 7 fractional digits; refused
//     requests must answer the VSS error shape. checkCoverage fails for any
//     served route that coverage does not account for.
//   - TestExamplesReplay replays every recorded example against an emulator
//     seeded with the examples' projects, endpoints and PATs, at their time,
//     and compares status, shape and JSON types (not ids, names, dates or
//     other values; a key the example has as null may be absent). Each
//     recorded answer is also validated against the spec itself, so the
//     spec's defects the examples expose are listed too.
//
// Differences that are defects of the specs or examples are listed, with
// the reason, in exceptions (exceptions_test.go) and in docs/emulator.md;
// an exception that excuses nothing fails the test.
package conformance_test
