package controller

import (
	"context"
	"encoding/json"
	"fmt"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
	"github.com/patrol-dev/patrol/internal/sink"
)

// destinations are the canonical places (sink.Identity) pat's sinks
// write, by index; "" for an http sink (an API has no canonical place:
// two requests to one URL may update different things).
func destinations(pat *patrolv1.PersonalAccessToken, org string) []string {
	out := make([]string, len(pat.Spec.Sinks))
	for i, s := range pat.Spec.Sinks {
		if s.HTTP != nil {
			continue
		}
		p, _, err := sinkParams(s, "")
		if err != nil {
			continue
		}
		raw, _ := json.Marshal(p)
		out[i] = sink.Identity(sink.Spec{Type: p["type"].(string), Params: raw, Organization: org})
	}
	return out
}

// checkDestinations refuses a sink of pat that writes the same place as
// another of its sinks, or as a sink of an older PersonalAccessToken: the
// two would replace each other's PAT at every reconcile (each then sees
// its sinks out of line and renews).
func (r *PATReconciler) checkDestinations(ctx context.Context, pat *patrolv1.PersonalAccessToken, org string) error {
	mine := destinations(pat, org)
	first := map[string]int{}
	for i, d := range mine {
		if d == "" {
			continue
		}
		if j, dup := first[d]; dup {
			return fmt.Errorf("spec.sinks[%d] (%s) writes the same place as spec.sinks[%d] (%s); the two would replace each other's PAT: remove one", i, pat.Spec.Sinks[i].Name, j, pat.Spec.Sinks[j].Name)
		}
		first[d] = i
	}
	if len(first) == 0 {
		return nil
	}
	var all patrolv1.PersonalAccessTokenList
	if err := r.Client.List(ctx, &all); err != nil {
		return fmt.Errorf("list PersonalAccessTokens to check that no other one writes the places of spec.sinks: %w", err)
	}
	for i := range all.Items {
		o := &all.Items[i]
		if (o.Namespace == pat.Namespace && o.Name == pat.Name) || len(o.Spec.Sinks) == 0 || !o.DeletionTimestamp.IsZero() || !older(o, pat) {
			continue
		}
		oid, err := r.resolveIdentity(ctx, o.Namespace, o.Spec.IdentityRef)
		if err != nil {
			continue // it cannot deliver either
		}
		for j, d := range destinations(o, oid.spec.Organization) {
			if k, clash := first[d]; clash && d != "" {
				return fmt.Errorf("spec.sinks[%d] (%s) writes the same place as sink %s of PersonalAccessToken %s/%s, which is older and keeps it; the two would replace each other's PAT: point this sink elsewhere", k, pat.Spec.Sinks[k].Name, o.Spec.Sinks[j].Name, o.Namespace, o.Name)
			}
		}
	}
	return nil
}

// older says whether a was created before b (the same second: by namespace/name).
func older(a, b *patrolv1.PersonalAccessToken) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}
