package entra

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestTokenStringRedacts(t *testing.T) {
	tok := Token{AccessToken: "eyJsecret.token.value", ExpiresOn: time.Unix(0, 0), Kind: IdentityUser}
	for _, s := range []string{tok.String(), fmt.Sprint(tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok), fmt.Sprint(&tok)} {
		if !strings.Contains(s, "REDACTED") || strings.Contains(s, "secret") {
			t.Fatalf("%q", s)
		}
	}
}

func TestReuseTokenSourceConcurrentAndErrors(t *testing.T) {
	var calls atomic.Int64
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fail := true
	var mu sync.Mutex
	src := TokenSourceFunc(func(ctx context.Context) (Token, error) {
		calls.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return Token{}, errors.New("boom")
		}
		return Token{AccessToken: "a", ExpiresOn: now.Add(time.Hour)}, nil
	})
	r := reuseWithClock(src, 0, func() time.Time { return now })
	if _, err := r.Token(context.Background()); err == nil {
		t.Fatal("error not propagated")
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tok, err := r.Token(context.Background()); err != nil || tok.AccessToken != "a" {
				t.Error(tok, err)
			}
		}()
	}
	wg.Wait()
	if calls.Load() != 2 { // one failure (not cached) + one shared success
		t.Fatalf("calls %d, want 2", calls.Load())
	}
	// Wrapping twice does not stack caches.
	if _, ok := ReuseTokenSource(r, time.Minute).(*reuseTokenSource).src.(TokenSourceFunc); !ok {
		t.Fatal("ReuseTokenSource(ReuseTokenSource(x)) should wrap x")
	}
}
