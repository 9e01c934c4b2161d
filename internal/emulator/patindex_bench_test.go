package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// benchSeed is DefaultSeed with p PATs of DefaultUser in DefaultOrg.
func benchSeed(p int) Seed {
	s := DefaultSeed()
	vt := time.Now().Add(90 * 24 * time.Hour).UTC()
	s.PATs = make([]SeedPAT, p)
	for i := range s.PATs {
		s.PATs[i] = SeedPAT{AuthorizationID: fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(i*2654435761), i), Owner: DefaultUser,
			Org: DefaultOrg, DisplayName: fmt.Sprintf("patrol:bench-%06d", (i*7919)%p), Scope: "vso.code",
			ValidTo: vt.Add(time.Duration(i%1000) * time.Minute), Token: fmt.Sprintf("bench-%d", i)}
	}
	return s
}

// servePage answers one PAT list request in process (no network, no TLS).
func servePage(b *testing.B, e *Emulator, auth, query string) api.PagedPatTokens {
	req := httptest.NewRequest("GET", patsURL(e, DefaultOrg, query), nil)
	req.Header.Set("Authorization", auth)
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("list: %d %s", w.Code, w.Body)
	}
	var page api.PagedPatTokens
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
		b.Fatal(err)
	}
	return page
}

// BenchmarkPATListPage is the cost of one $top=100 page (first page, and a
// page in the middle reached by continuationToken) at P PATs of one user:
// with the index it is flat in P.
func BenchmarkPATListPage(b *testing.B) {
	for _, p := range []int{1_000, 10_000, 100_000} {
		e := start(b, Options{Seed: ptr(benchSeed(p))})
		auth := userToken(b, e, DefaultUser)
		// The continuation token of the page at P/2.
		mid := ""
		for q, n := "sortByOption=displayName&$top=100", 0; n < p/2; n += 100 {
			pg := servePage(b, e, auth, q+mid)
			mid = "&continuationToken=" + url.QueryEscape(pg.ContinuationToken)
		}
		for _, c := range []struct{ name, query string }{
			{"first", "$top=100"},
			{"middle", "sortByOption=displayName&$top=100" + mid},
			{"date-desc", "sortByOption=displayDate&isSortAscending=false&$top=100"},
		} {
			b.Run(fmt.Sprintf("P=%d/%s", p, c.name), func(b *testing.B) {
				for b.Loop() {
					if pg := servePage(b, e, auth, c.query); len(pg.PatTokens) != 100 {
						b.Fatalf("page of %d", len(pg.PatTokens))
					}
				}
			})
		}
		// Concurrent clients: reads share the lock (RWMutex), so pages
		// per second grow with clients up to the cores.
		for _, clients := range []int{16, 64} {
			b.Run(fmt.Sprintf("P=%d/clients=%d", p, clients), func(b *testing.B) {
				b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						servePage(b, e, auth, "$top=100")
					}
				})
			})
		}
	}
}

// BenchmarkTokenAdminListPage is the same for the TokenAdmin listing.
func BenchmarkTokenAdminListPage(b *testing.B) {
	for _, p := range []int{1_000, 10_000, 100_000} {
		e := start(b, Options{Seed: ptr(benchSeed(p))})
		auth := userToken(b, e, AdminUser)
		u := e.VSSPSURL() + "/" + DefaultOrg + "/_apis/tokenadmin/personalaccesstokens/" + e.SubjectDescriptor(DefaultUser) + "?api-version=7.1-preview.1&pageSize=100"
		b.Run(fmt.Sprintf("P=%d", p), func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", u, nil)
				req.Header.Set("Authorization", auth)
				w := httptest.NewRecorder()
				e.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("tokenadmin: %d %s", w.Code, w.Body)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
