package emulator

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// The PAT listing indexes. The PATs of one owner in one organisation (and the
// owner's global PATs, which every organisation lists) form a patGroup; a
// group keeps its PATs in sorted slices, one per order a listing can ask for,
// so a page is a binary-search seek plus the page itself: O(page + log P),
// not a scan or sort of P. Sorted slices (not a tree) because listings are
// the hot path and a slice seeks and walks fastest; an insert or delete is a
// memmove of the slice (a few µs at P = 100,000), and bulk loads (seed,
// state file, TokenAdmin rules) rebuild the index with one sort per slice.
//
// Active and expired depend on the clock: a group splits its non-revoked PATs
// at split (a PAT with validTo <= split is expired). A listing at another
// time first moves the PATs whose validTo lies between split and now, found by
// seek in the date order; with a moving clock that is each PAT once.

// patEntry is a PAT's position in the indexes: a snapshot of its sort keys,
// so a PAT changed in place can still be found and removed.
type patEntry struct {
	rec     *patRecord
	id      string    // authorizationId
	name    string    // lower-case display name
	to      time.Time // validTo
	revoked bool
}

func byNameCmp(a, b *patEntry) int {
	if c := strings.Compare(a.name, b.name); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

func byDateCmp(a, b *patEntry) int {
	if c := a.to.Compare(b.to); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

func byIDCmp(a, b *patEntry) int { return strings.Compare(a.id, b.id) }

// patSet is a slice of entries sorted by cmp.
type patSet struct {
	s   []*patEntry
	cmp func(a, b *patEntry) int
}

func (ps *patSet) insert(e *patEntry) {
	i, _ := slices.BinarySearchFunc(ps.s, e, ps.cmp)
	ps.s = slices.Insert(ps.s, i, e)
}

func (ps *patSet) remove(e *patEntry) {
	if i, ok := slices.BinarySearchFunc(ps.s, e, ps.cmp); ok {
		ps.s = slices.Delete(ps.s, i, i+1)
	}
}

// rank of the entries of a name set.
const (
	rankActive = iota
	rankExpired
	rankRevoked
)

type patGroup struct {
	name    [3]patSet // by (name, id), one per rank
	allName patSet
	live    patSet // not revoked, by (validTo, id)
	dead    patSet // revoked, by (validTo, id)
	allDate patSet
	byID    patSet
	split   time.Time // name[rankActive] holds live entries with validTo > split, name[rankExpired] the rest
}

func newPATGroup() *patGroup {
	g := &patGroup{allName: patSet{cmp: byNameCmp}, live: patSet{cmp: byDateCmp}, dead: patSet{cmp: byDateCmp},
		allDate: patSet{cmp: byDateCmp}, byID: patSet{cmp: byIDCmp}}
	for i := range g.name {
		g.name[i].cmp = byNameCmp
	}
	return g
}

func (g *patGroup) rankOf(e *patEntry) int {
	switch {
	case e.revoked:
		return rankRevoked
	case !g.split.Before(e.to):
		return rankExpired
	}
	return rankActive
}

func (g *patGroup) sets(e *patEntry) []*patSet {
	date := &g.live
	if e.revoked {
		date = &g.dead
	}
	return []*patSet{&g.name[g.rankOf(e)], &g.allName, date, &g.allDate, &g.byID}
}

// between returns the live entries with lo < validTo <= hi.
func (g *patGroup) between(lo, hi time.Time) []*patEntry {
	s := g.live.s
	i, _ := slices.BinarySearchFunc(s, lo, func(e *patEntry, t time.Time) int {
		if e.to.After(t) {
			return 1
		}
		return -1
	})
	j, _ := slices.BinarySearchFunc(s, hi, func(e *patEntry, t time.Time) int {
		if e.to.After(t) {
			return 1
		}
		return -1
	})
	return s[i:j]
}

// stale reports whether the active/expired split must move to list at now.
func (g *patGroup) stale(now time.Time) bool {
	lo, hi := g.split, now
	if now.Before(g.split) {
		lo, hi = now, g.split
	}
	return len(g.between(lo, hi)) > 0
}

// resplit moves the active/expired split to now.
func (g *patGroup) resplit(now time.Time) {
	from, to := rankActive, rankExpired
	lo, hi := g.split, now
	if now.Before(g.split) {
		from, to, lo, hi = rankExpired, rankActive, now, g.split
	}
	for _, e := range g.between(lo, hi) {
		g.name[from].remove(e)
		g.name[to].insert(e)
	}
	g.split = now
}

type patGroupKey struct{ owner, org string } // lower case; org "" = global PATs

// patIndex indexes the PATs of a state.
type patIndex struct {
	groups  map[patGroupKey]*patGroup
	entries map[string]*patEntry // by authorizationId
}

func groupKeys(rec *patRecord) []patGroupKey {
	owner := strings.ToLower(rec.OwnerOID)
	if rec.TargetAccounts == nil {
		return []patGroupKey{{owner, ""}}
	}
	keys := make([]patGroupKey, 0, len(rec.TargetAccounts))
	for _, t := range rec.TargetAccounts {
		keys = append(keys, patGroupKey{owner, strings.ToLower(t)})
	}
	return keys
}

func entryOf(rec *patRecord) *patEntry {
	return &patEntry{rec: rec, id: rec.AuthorizationID, name: strings.ToLower(rec.DisplayName), to: rec.ValidTo, revoked: rec.Revoked}
}

// buildPATIndex indexes pats with one sort per slice.
func buildPATIndex(pats map[string]*patRecord) *patIndex {
	ix := &patIndex{groups: map[patGroupKey]*patGroup{}, entries: make(map[string]*patEntry, len(pats))}
	for _, rec := range pats {
		e := entryOf(rec)
		ix.entries[rec.AuthorizationID] = e
		for _, k := range groupKeys(rec) {
			g := ix.group(k)
			for _, ps := range g.sets(e) {
				ps.s = append(ps.s, e)
			}
		}
	}
	for _, g := range ix.groups {
		for _, ps := range []*patSet{&g.name[0], &g.name[1], &g.name[2], &g.allName, &g.live, &g.dead, &g.allDate, &g.byID} {
			slices.SortFunc(ps.s, ps.cmp)
		}
	}
	return ix
}

func (ix *patIndex) group(k patGroupKey) *patGroup {
	g := ix.groups[k]
	if g == nil {
		g = newPATGroup()
		ix.groups[k] = g
	}
	return g
}

// put (re)indexes rec after it was added or changed.
func (ix *patIndex) put(rec *patRecord) {
	if old := ix.entries[rec.AuthorizationID]; old != nil {
		for _, k := range groupKeys(old.rec) {
			if g := ix.groups[k]; g != nil {
				for _, ps := range g.sets(old) {
					ps.remove(old)
				}
			}
		}
	}
	e := entryOf(rec)
	ix.entries[rec.AuthorizationID] = e
	for _, k := range groupKeys(rec) {
		g := ix.group(k)
		for _, ps := range g.sets(e) {
			ps.insert(e)
		}
	}
}

// listGroups returns the groups an organisation's listing of owner reads.
func (ix *patIndex) listGroups(owner, orgID string) []*patGroup {
	var gs []*patGroup
	for _, k := range []patGroupKey{{strings.ToLower(owner), strings.ToLower(orgID)}, {strings.ToLower(owner), ""}} {
		if g := ix.groups[k]; g != nil {
			gs = append(gs, g)
		}
	}
	return gs
}

// run is a sorted slice walked forward (asc) or backward, with the rank
// (status) of its entries, -1 when mixed.
type run struct {
	s    []*patEntry
	asc  bool
	rank int
}

func (r *run) empty() bool { return len(r.s) == 0 }

func (r *run) head() *patEntry {
	if r.asc {
		return r.s[0]
	}
	return r.s[len(r.s)-1]
}

func (r *run) pop() {
	if r.asc {
		r.s = r.s[1:]
	} else {
		r.s = r.s[:len(r.s)-1]
	}
}

func keyAt(e *patEntry, rank int, now time.Time) sortKey {
	if rank < 0 {
		rank = e.rec.status(now)
	}
	return sortKey{Name: e.name, Date: e.to, Rank: rank, ID: e.id}
}

// runs returns the runs (in listing order) a group's listing with opt reads at
// now; the group's split must be at now (or not stale).
func (g *patGroup) runs(opt listOptions, now time.Time) []run {
	live := func(expired bool) []*patEntry {
		i, _ := slices.BinarySearchFunc(g.live.s, now, func(e *patEntry, t time.Time) int {
			if e.to.After(t) {
				return 1
			}
			return -1
		})
		if expired {
			return g.live.s[:i]
		}
		return g.live.s[i:]
	}
	rank := -1 // "all"
	switch opt.Filter {
	case "active":
		rank = rankActive
	case "expired":
		rank = rankExpired
	case "revoked":
		rank = rankRevoked
	}
	var rs []run
	switch {
	case opt.Sort == api.SortDisplayDate && rank == rankRevoked:
		rs = []run{{g.dead.s, opt.Asc, rank}}
	case opt.Sort == api.SortDisplayDate && rank >= 0:
		rs = []run{{live(rank == rankExpired), opt.Asc, rank}}
	case opt.Sort == api.SortDisplayDate:
		rs = []run{{g.allDate.s, opt.Asc, rank}}
	case rank >= 0:
		rs = []run{{g.name[rank].s, opt.Asc, rank}}
	case opt.Sort == api.SortStatus:
		rs = []run{{g.name[0].s, opt.Asc, 0}, {g.name[1].s, opt.Asc, 1}, {g.name[2].s, opt.Asc, 2}}
		if !opt.Asc {
			slices.Reverse(rs)
		}
	default:
		rs = []run{{g.allName.s, opt.Asc, rank}}
	}
	return rs
}

// seek drops the entries of r up to and including after in the order ordered.
func (r *run) seek(after sortKey, ordered func(a, b sortKey) bool, now time.Time) {
	// Entries past the cursor form a suffix of the walk: in slice terms
	// s[i:] (asc) or s[:i] (desc).
	i, _ := slices.BinarySearchFunc(r.s, after, func(e *patEntry, k sortKey) int {
		if ordered(k, keyAt(e, r.rank, now)) == r.asc {
			return 1
		}
		return -1
	})
	if r.asc {
		r.s = r.s[i:]
	} else {
		r.s = r.s[:i]
	}
}

// patPage returns up to n+1 entries of the listing of groups with opt after
// the cursor (nil = from the start), in listing order.
func patPage(groups []*patGroup, opt listOptions, after *sortKey, n int, now time.Time) []*patEntry {
	ordered := func(a, b sortKey) bool {
		if opt.Asc {
			return less(opt.Sort, a, b)
		}
		return less(opt.Sort, b, a)
	}
	type stream struct{ rs []run }
	var streams []*stream
	for _, g := range groups {
		st := &stream{}
		for _, r := range g.runs(opt, now) {
			if after != nil {
				r.seek(*after, ordered, now)
			}
			if !r.empty() {
				st.rs = append(st.rs, r)
			}
		}
		if len(st.rs) > 0 {
			streams = append(streams, st)
		}
	}
	out := make([]*patEntry, 0, n+1)
	for len(out) <= n && len(streams) > 0 {
		best := 0
		for i := 1; i < len(streams); i++ {
			a, b := streams[i].rs[0], streams[best].rs[0]
			if ordered(keyAt(a.head(), a.rank, now), keyAt(b.head(), b.rank, now)) {
				best = i
			}
		}
		st := streams[best]
		out = append(out, st.rs[0].head())
		st.rs[0].pop()
		if st.rs[0].empty() {
			st.rs = st.rs[1:]
		}
		if len(st.rs) == 0 {
			streams = slices.Delete(streams, best, best+1)
		}
	}
	return out
}

// tokenAdminPage returns up to n+1 entries of groups by authorizationId after
// after ("" = from the start).
func tokenAdminPage(groups []*patGroup, after string, n int) []*patEntry {
	var runs []run
	for _, g := range groups {
		s := g.byID.s
		if after != "" {
			i, _ := slices.BinarySearchFunc(s, after, func(e *patEntry, id string) int {
				if e.id > id {
					return 1
				}
				return -1
			})
			s = s[i:]
		}
		if len(s) > 0 {
			runs = append(runs, run{s: s, asc: true})
		}
	}
	out := make([]*patEntry, 0, n+1)
	for len(out) <= n && len(runs) > 0 {
		best := 0
		for i := 1; i < len(runs); i++ {
			if cmp.Less(runs[i].head().id, runs[best].head().id) {
				best = i
			}
		}
		out = append(out, runs[best].head())
		runs[best].pop()
		if runs[best].empty() {
			runs = slices.Delete(runs, best, best+1)
		}
	}
	return out
}
