package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/patrol-dev/patrol/internal/audit"
	"github.com/patrol-dev/patrol/internal/devops"
	"github.com/patrol-dev/patrol/internal/graph"
	"github.com/patrol-dev/patrol/internal/redact"
)

// graphLookup asks Microsoft Graph what Azure DevOps cannot tell: the
// Entra state of the PATs' owners and the passwords of the Azure Resource
// Manager connections' applications. It never fails the audit: when the
// identity may not read (no Graph token, no User.Read.All or
// Application.Read.All) it says so once, through notice, and stops asking.
// Lookups are batched (graph.MaxBatch per request) and applications
// cached by appId, so the calls grow with users/20 and distinct apps/20,
// not with PATs or connections.
type graphLookup struct {
	gc                      *graph.Client
	clientErr               error
	notice                  func(audit.Notice)
	usersDenied, appsDenied bool
	apps                    map[string]graph.AppPasswords
}

// ownerChunk is how many users inventory buffers to look up together.
const ownerChunk = 100

func (a *app) newGraphLookup(notice func(audit.Notice)) *graphLookup {
	l := &graphLookup{notice: notice, apps: map[string]graph.AppPasswords{}}
	l.gc, l.clientErr = a.graphClient()
	return l
}

// client is the Graph client, or nil after saying once for topic why not.
func (l *graphLookup) client(topic string) *graph.Client {
	if l.gc == nil {
		l.deny(topic, l.clientErr)
	}
	return l.gc
}

func (l *graphLookup) deny(topic string, err error) {
	msg := redact.String(err.Error())
	switch topic {
	case audit.NoticeOwners:
		l.usersDenied = true
		l.notice(audit.Notice{Topic: topic, Message: "could not read the owners' accounts in Microsoft Graph (" + msg + "): PATs of disabled users are not reported, departed users only where Azure DevOps marks them isDeletedInOrigin",
			Fix: "grant the identity patrol signs in with Microsoft Graph User.Read.All (delegated, with admin consent; Directory.Read.All also works) and run patrol audit again"})
	case audit.NoticeEndpointSecrets:
		l.appsDenied = true
		l.notice(audit.Notice{Topic: topic, Message: "could not read the applications of Azure Resource Manager connections in Microsoft Graph (" + msg + "): when their secrets expire is not reported",
			Fix: "grant the identity Microsoft Graph Application.Read.All (delegated, with admin consent), or make it an owner of the applications, and run patrol audit again"})
	}
}

// ownerStates returns the Entra state of each user (by descriptor):
// Azure DevOps' isDeletedInOrigin first, then Microsoft Graph.
func (l *graphLookup) ownerStates(ctx context.Context, users []devops.GraphUser) map[string]string {
	out := make(map[string]string, len(users))
	var ids []string
	for _, u := range users {
		switch {
		case u.IsDeletedInOrigin:
			out[u.Descriptor] = audit.OwnerDeparted
		case strings.EqualFold(u.Origin, "aad") && u.OriginID != "":
			ids = append(ids, u.OriginID)
		}
	}
	if l == nil || l.usersDenied || len(ids) == 0 || l.client(audit.NoticeOwners) == nil {
		return out
	}
	st, err := l.gc.UserStates(ctx, ids)
	if err != nil {
		l.deny(audit.NoticeOwners, err)
		return out
	}
	for _, u := range users {
		s, ok := st[u.OriginID]
		if !ok || out[u.Descriptor] != "" || s.Unknown {
			continue
		}
		switch {
		case !s.Found:
			out[u.Descriptor] = audit.OwnerDeparted
		case !s.AccountEnabled:
			out[u.Descriptor] = audit.OwnerDisabled
		default:
			out[u.Descriptor] = audit.OwnerActive
		}
	}
	return out
}

// secretExpiry fills the secret fields of the connections that hold a
// service principal secret, one batched lookup for the applications not
// seen yet.
func (l *graphLookup) secretExpiry(ctx context.Context, eps []audit.Endpoint) {
	if l == nil {
		return
	}
	var todo []string
	queued := map[string]bool{}
	for _, e := range eps {
		if e.AppID == "" || queued[e.AppID] {
			continue
		}
		if _, ok := l.apps[e.AppID]; !ok {
			todo, queued[e.AppID] = append(todo, e.AppID), true
		}
	}
	if len(todo) > 0 && !l.appsDenied && l.client(audit.NoticeEndpointSecrets) != nil {
		got, err := l.gc.ApplicationPasswords(ctx, todo)
		if err != nil {
			l.deny(audit.NoticeEndpointSecrets, err)
		}
		for id, a := range got {
			l.apps[id] = a
		}
	}
	for i := range eps {
		e := &eps[i]
		if e.AppID == "" {
			continue
		}
		a, ok := l.apps[e.AppID]
		switch {
		case !ok && l.appsDenied:
			e.SecretLookup = audit.SecretNoPermission
		case !ok || a.Unknown:
			e.SecretLookup = audit.SecretUnknown
		case !a.Found:
			e.SecretLookup = audit.SecretAppNotFound
		default:
			e.SecretLookup, e.SecretPasswords = audit.SecretRead, len(a.Passwords)
			e.SecretNearestExpiry, e.SecretLatestExpiry = a.Nearest(), a.Latest()
		}
	}
}

// printNotices writes each notice once to stderr (json and yaml carry them
// in the report too).
func (a *app) printNotices(ns []audit.Notice) {
	for _, n := range ns {
		fmt.Fprintf(a.stderr, "%s: %s; %s\n", n.Level, n.Message, n.Fix)
	}
}
