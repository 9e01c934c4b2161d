package config

import (
	"fmt"
	"strings"
	"testing"
)

// manyInvalid is a patrol.yaml with n credentials, each with two problems:
// one found while decoding (a bad duration) and one by validation (no scopes).
func manyInvalid(n int) []byte {
	var b strings.Builder
	b.WriteString("organization: contoso\ncredentials:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: c%d\n    lifetime: 3x\n    sinks: [{type: file, path: /tmp/c%d}]\n", i, i)
	}
	return []byte(b.String())
}

// BenchmarkValidateManyInvalid validates 20,000 invalid credentials (issue 8
// §4: this took longer than 30 s when the problems were de-duplicated
// pairwise). Run: go test -run ^$ -bench ValidateManyInvalid ./internal/config
func BenchmarkValidateManyInvalid(b *testing.B) {
	data := manyInvalid(20000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ParseFile(data, "patrol.yaml", ValidateOptions{SkipSinks: true}); err == nil {
			b.Fatal("want problems")
		}
	}
}
