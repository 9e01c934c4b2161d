package main

import (
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/rotation"
)

func TestStatusHealth(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	cur := &rotation.PATRef{AuthorizationID: "p", ValidTo: now.Add(5 * 24 * time.Hour)}
	expired := &rotation.PATRef{AuthorizationID: "p", ValidTo: now.Add(-time.Hour)}
	cases := []struct {
		it   rotation.Item
		want string
	}{
		{rotation.Item{Action: rotation.ActionNone, Current: cur, Sinks: []rotation.SinkPlan{{Status: "ok", ValidTo: cur.ValidTo}}}, "ok"},
		{rotation.Item{Action: rotation.ActionRenew, Current: cur}, "due"},
		{rotation.Item{Action: rotation.ActionRenew, Current: expired}, "expired"},
		{rotation.Item{Action: rotation.ActionCreate, Sinks: []rotation.SinkPlan{{Status: "missing"}}}, "missing"},
		{rotation.Item{Action: rotation.ActionRenew, Sinks: []rotation.SinkPlan{{Status: "ok", Holds: "a"}, {Status: "behind", Holds: "b"}}}, "drift"},
		{rotation.Item{Action: rotation.ActionRenew, Sinks: []rotation.SinkPlan{{Status: "ok", Holds: "a"}, {Status: "missing"}}}, "missing"},
		{rotation.Item{Action: rotation.ActionFail, Error: "boom"}, "error"},
	}
	for i, tc := range cases {
		got := statusOf(now, tc.it)
		if got.Health != tc.want {
			t.Errorf("case %d: health %s, want %s", i, got.Health, tc.want)
		}
	}
	got := statusOf(now, cases[0].it)
	if got.DaysToExpiry == nil || *got.DaysToExpiry != 5 {
		t.Fatalf("days to expiry: %v", got.DaysToExpiry)
	}
}
