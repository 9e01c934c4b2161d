package graph

import (
	"context"
	"testing"

	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
)

func TestNewRefusesPlainHTTP(t *testing.T) {
	ts := entra.TokenSourceFunc(func(context.Context) (entra.Token, error) { return entra.Token{}, nil })
	for _, u := range []string{"http://graph.microsoft.com", "graph.microsoft.com", "https://"} {
		if _, err := New(Options{BaseURL: u, Token: ts}); err == nil || errkind.Of(err) != errkind.Usage {
			t.Errorf("New(%q) = %v, want a usage error", u, err)
		}
	}
	if _, err := New(Options{Token: ts}); err != nil {
		t.Errorf("default URL: %v", err)
	}
}
