// Package suggest finds the names closest to a misspelt one, for "did you
// mean" hints (edit distance and prefixes, as cobra does for commands).
package suggest

import (
	"slices"
	"strings"
)

// Distance is the Levenshtein distance between a and b (bytes).
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Closest returns at most n of candidates closest to s, case-insensitively:
// those that s is a prefix of (s at least 3 characters), then those within
// an edit distance of max(2, len(s)/4), nearest first, ties in candidate
// order. Nothing when no candidate is close.
func Closest(s string, candidates []string, n int) []string {
	key := strings.ToLower(strings.TrimSpace(s))
	limit := max(2, len(key)/4)
	type hit struct {
		name string
		d, i int
	}
	var hits []hit
	for i, c := range candidates {
		lc := strings.ToLower(c)
		switch {
		case lc == key:
			continue
		case len(key) >= 3 && strings.HasPrefix(lc, key):
			hits = append(hits, hit{c, 0, i})
		default:
			if d := Distance(key, lc); d <= limit {
				hits = append(hits, hit{c, d, i})
			}
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int { return a.d - b.d })
	out := []string{}
	for _, h := range hits {
		if len(out) == n {
			break
		}
		if !slices.Contains(out, h.name) {
			out = append(out, h.name)
		}
	}
	return out
}
