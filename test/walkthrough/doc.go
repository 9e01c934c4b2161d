// Package walkthrough executes the shell walk-throughs of README.md and
// docs/*.md as written, against `patrol emulator`, and fails when a step
// fails or prints something other than what the document says.
//
// Markers (HTML comments, invisible when rendered), each on the line right
// before a fenced block:
//
//	<!-- walkthrough: NAME -->         the ```sh block below is part of walk-through NAME
//	                                   (several blocks of one NAME run as one script, in order)
//	<!-- walkthrough-output: NAME -->  the block below is NAME's expected stdout
//	<!-- walkthrough-skip: REASON -->  the ```sh block below is not runnable here (REASON required)
//
// Every ```sh / ```bash / ```shell / ```console block, and every untagged
// block whose first command starts with patrol, ./patrol or kubectl, must
// carry one of the first or the third marker: an unmarked shell block fails
// the test (it would otherwise go untested silently).
//
// Expected output: each line matches one line of stdout; "…" inside a line
// matches any text, a run of spaces matches any run of spaces (table
// columns move with the width of their values), and a line that is only
// "…" matches any number of lines (also none). Trailing spaces are ignored.
// Stderr is not compared.
//
// Each walk-through runs with bash -euo pipefail in a fresh temporary
// directory (also its HOME and TMPDIR), with the patrol binary built from this
// checkout first on PATH, PATROL_EMULATOR_ADDR=127.0.0.1:0 (a free port, so
// parallel test runs never collide), no inherited AZURE_* or PATROL_*
// variables, and a time limit. A walk-through must stop every process it
// started: one still running when the script ends fails the test, because
// the next walk-through would find the emulator's port taken.
package walkthrough
