package emulator

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// refPage is the listing by scan and sort (the emulator's algorithm before
// the index): the oracle the index must agree with.
func refPage(pats map[string]*patRecord, owner, orgID string, opt listOptions, after *sortKey, n int, now time.Time) []string {
	ordered := func(a, b sortKey) bool {
		if opt.Asc {
			return less(opt.Sort, a, b)
		}
		return less(opt.Sort, b, a)
	}
	org := &Org{ID: orgID}
	var keys []sortKey
	for _, rec := range pats {
		if !strings.EqualFold(rec.OwnerOID, owner) || !rec.visibleIn(org) {
			continue
		}
		st := rec.status(now)
		if (opt.Filter == "active" && st != 0) || (opt.Filter == "expired" && st != 1) || (opt.Filter == "revoked" && st != 2) {
			continue
		}
		k := keyOf(rec, now)
		if after != nil && !ordered(*after, k) {
			continue
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return ordered(keys[i], keys[j]) })
	var ids []string
	for _, k := range keys[:min(n+1, len(keys))] {
		ids = append(ids, k.ID)
	}
	return ids
}

func indexPage(st *state, owner, orgID string, opt listOptions, after *sortKey, n int, now time.Time) []string {
	groups := st.pats.listGroups(owner, orgID)
	for _, g := range groups {
		if g.stale(now) {
			g.resplit(now)
		}
	}
	var ids []string
	for _, e := range patPage(groups, opt, after, n, now) {
		ids = append(ids, e.id)
	}
	return ids
}

// TestPATIndexMatchesScan lists random PAT sets (global and per-org PATs of
// two owners, duplicate names and dates, revoked and expired ones) with every
// option and cursor, through changes and a clock moving both ways, and wants
// the index to return exactly what scanning and sorting returns.
func TestPATIndexMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	owners := []string{"0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9", "1b2c3d4e-5f60-4172-8394-a5b6c7d8e9f0"}
	orgs := []string{"38aaa865-2c70-4bf7-a308-0c6539c38c1a", "5b1c6d2e-7f80-4a91-b2c3-d4e5f6a7b8c9"}
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	at := func() time.Time { return base.Add(time.Duration(rng.IntN(40)) * time.Hour) }
	st := newState()
	newRec := func(i int) *patRecord {
		rec := &patRecord{AuthorizationID: fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.Uint32(), i), OwnerOID: owners[rng.IntN(2)],
			DisplayName: []string{"a", "B", "b", "patrol:x", "Zed"}[rng.IntN(5)], ValidTo: at(), Revoked: rng.IntN(5) == 0, Hash: fmt.Sprint(i)}
		if i%2 == 0 {
			rec.OwnerOID = strings.ToUpper(rec.OwnerOID)
		}
		if rng.IntN(4) != 0 {
			rec.TargetAccounts = []string{orgs[rng.IntN(2)]}
		}
		return rec
	}
	for i := range 150 {
		rec := newRec(i)
		st.PATs[rec.AuthorizationID] = rec
	}
	st.reindex()
	now := base.Add(20 * time.Hour)
	for round := range 40 {
		switch round % 4 {
		case 1: // the clock moves, forward or back
			now = at()
		case 2: // changes in place
			for _, id := range slices.Sorted(func(yield func(string) bool) {
				for id := range st.PATs {
					if !yield(id) {
						return
					}
				}
			})[:20] {
				rec := st.PATs[id]
				switch rng.IntN(3) {
				case 0:
					rec.Revoked = true
				case 1:
					rec.DisplayName = "renamed"
				default:
					rec.ValidTo = at()
				}
				st.putPAT(rec)
			}
		case 3:
			for i := range 10 {
				st.putPAT(newRec(1000*round + i))
			}
		}
		for _, filter := range []string{"active", "expired", "revoked", "all"} {
			for _, sortBy := range []string{api.SortDisplayName, api.SortDisplayDate, api.SortStatus} {
				for _, asc := range []bool{true, false} {
					for _, owner := range owners {
						orgID := orgs[rng.IntN(2)]
						opt := listOptions{Filter: filter, Sort: sortBy, Asc: asc, Top: 7}
						var after *sortKey
						for page := 0; ; page++ {
							want := refPage(st.PATs, owner, orgID, opt, after, opt.Top, now)
							got := indexPage(st, owner, orgID, opt, after, opt.Top, now)
							if !slices.Equal(got, want) {
								t.Fatalf("round %d %+v page %d after %+v:\n got %v\nwant %v", round, opt, page, after, got, want)
							}
							if len(got) <= opt.Top {
								break
							}
							k := keyOf(st.PATs[got[opt.Top-1]], now)
							after = &k
						}
					}
				}
			}
		}
	}
}
