package scheme

import (
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkLoadManifest(b *testing.B) {
	paths, _ := filepath.Glob("testdata/manifests/*.json")
	var data [][]byte
	for _, p := range paths {
		d, _ := os.ReadFile(p)
		data = append(data, d)
	}
	b.ResetTimer()
	for b.Loop() {
		for _, d := range data {
			if _, err := LoadManifest(d, "x"); err != nil {
				b.Fatal(err)
			}
		}
	}
}
