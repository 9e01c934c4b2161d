package suggest

import (
	"slices"
	"testing"
)

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"vso.code_wirte", "vso.code_write", 2}, {"same", "same", 0}} {
		if got := Distance(tc.a, tc.b); got != tc.d || Distance(tc.b, tc.a) != tc.d {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}

func TestClosest(t *testing.T) {
	names := []string{"vso.code", "vso.code_write", "vso.code_manage", "vso.build", "vso.packaging", "vso.packaging_write"}
	for _, tc := range []struct {
		in   string
		n    int
		want []string
	}{
		{"vso.code_wirte", 3, []string{"vso.code_write"}},
		{"VSO.BUILDS", 3, []string{"vso.build"}},
		{"vso.pack", 3, []string{"vso.packaging", "vso.packaging_write"}},
		{"vso.cod", 2, []string{"vso.code", "vso.code_write"}},
		{"vso.nonsense", 3, []string{}},
		{"vso.code", 3, []string{"vso.code_write", "vso.code_manage"}},
	} {
		if got := Closest(tc.in, names, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("Closest(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
