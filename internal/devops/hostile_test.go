package devops

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
)

// A server that always hands out a new continuation token stops `pat list`
// after MaxPages pages with an error naming the cap and how to raise it.
func TestListPATsStopsAtMaxPages(t *testing.T) {
	var pages atomic.Int64
	env := newEnv(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := pages.Add(1)
		if n > 5000 { // today's code: would page forever; end the test honestly
			fmt.Fprint(w, `{"patTokens":[],"continuationToken":""}`)
			return
		}
		fmt.Fprintf(w, `{"patTokens":[{"authorizationId":"%08d-0000-0000-0000-000000000000","displayName":"p"}],"continuationToken":"tok-%d"}`, n, n)
	}), func(o *Options) { o.MaxPages = 7 })
	var err error
	items := 0
	for _, e := range env.c.ListPATs(context.Background(), ListOptions{}) {
		if e != nil {
			err = e
			break
		}
		items++
	}
	if err == nil {
		t.Fatalf("listing ended without an error after %d pages", pages.Load())
	}
	if pages.Load() != 7 || items != 7 {
		t.Fatalf("fetched %d pages (%d items), want exactly MaxPages=7", pages.Load(), items)
	}
	for _, want := range []string{"7 pages", "--max-pages", "PATROL_MAX_PAGES"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if errkind.Of(err) == errkind.Transient {
		t.Errorf("kind %v: retrying cannot help", errkind.Of(err))
	}
}

// Hostile success bodies: a huge string, an endless array and a gzip bomb
// end with an error naming the URL and the limit, and the heap stays small.
func TestHostileBodiesAreBounded(t *testing.T) {
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	as := bytes.Repeat([]byte("a"), 1<<20)
	zw.Write([]byte(`{"patTokens":[],"x":"`))
	for range 256 { // 256 MiB inflated
		zw.Write(as)
	}
	zw.Close()
	item := bytes.Repeat([]byte(`{"authorizationId":"00000000-0000-0000-0000-000000000000","displayName":"x"},`), 1024)
	for name, h := range map[string]http.HandlerFunc{
		"5 MB string": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"patTokens":[],"x":"`)
			for range 20 { // 20 MiB: over the 16 MiB limit
				w.Write(as)
			}
			io.WriteString(w, `"}`)
		},
		"endless array": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"patTokens":[`)
			for i := 0; i < 20000 && r.Context().Err() == nil; i++ { // ~1.5 GB unless patrol stops
				if _, err := w.Write(item); err != nil {
					return
				}
			}
		},
		"gzip bomb": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Type", "application/json")
			w.Write(bomb.Bytes())
		},
	} {
		env := newEnv(t, h, withAttempts(1))
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var err error
		for _, e := range env.c.ListPATs(context.Background(), ListOptions{}) {
			if e != nil {
				err = e
				break
			}
		}
		runtime.ReadMemStats(&after)
		var le *httpx.LimitError
		if !errors.As(err, &le) {
			t.Fatalf("%s: want *httpx.LimitError, got %v", name, err)
		}
		if !strings.Contains(err.Error(), env.srv.URL) || !strings.Contains(err.Error(), "/"+testOrg+"/_apis/tokens/pats") || !strings.Contains(err.Error(), "16 MiB") {
			t.Errorf("%s: the error must name the URL and the limit: %v", name, err)
		}
		// Everything allocated during the call (client and test server):
		// the decoder buffers at most about the limit, doubling as it goes.
		alloc := after.TotalAlloc - before.TotalAlloc
		if alloc > 160<<20 {
			t.Errorf("%s: the call allocated %d MiB (limit 16 MiB)", name, alloc>>20)
		}
		t.Logf("%s: %d MiB allocated; %v", name, alloc>>20, err)
	}
}
