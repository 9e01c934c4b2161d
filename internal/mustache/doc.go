// Package mustache implements Azure DevOps' Mustache dialect (the
// Handlebars-like MustacheTemplateParser behind service-endpoint headers,
// data-source URLs, request bodies, result templates and paging callbacks).
// No open-source library implements it; see docs/mustache.md for the full
// dialect, every helper with an example, the limits and the differences from
// Azure DevOps.
//
// Parse once, render many: a *Template is immutable and safe for concurrent
// use. Helpers are resolved from a HelperSet at parse time.
//
// Choices where Azure DevOps is silent or unknown (documented in
// docs/mustache.md):
//   - {{x}} HTML-encodes & " < > ' and U+00A0–U+00FF (.NET WebUtility
//     style: &amp; &quot; &lt; &gt; &#39; &#NNN;); {{{x}}}, {{& x}} and every
//     helper result are written raw.
//   - A path that resolves to nothing renders as "" (Handlebars), unless
//     Options.Strict. Paths do not fall back to enclosing contexts (use ../).
//     Map keys match exactly first, then case-insensitively.
//   - A helper named without arguments ({{date}}) yields to a context value of
//     the same name.
//   - Value helpers used in block form ({{#uriDataEncode 1 x}}{{/uriDataEncode}})
//     write their value and ignore the body; unclosed blocks at the end of a
//     template are accepted.
//   - Numbers are written in shortest form (5000, 3.25), booleans as
//     true/false, null as nothing, objects/arrays as compact JSON; object
//     iteration ({{#each obj}}) is in sorted key order.
//   - Limits: nesting depth 20, 10 s per render, 1 s per #regex, 4 MiB
//     output, 1 MiB template, 1 MiB regex input.
//
// Errors are *Error with line and column; they carry template text, paths and
// helper names but never rendered values, which may be secrets.
package mustache
