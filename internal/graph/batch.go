package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// MaxBatch is the number of requests Graph takes in one JSON batch.
const MaxBatch = 20

type batchRequest struct {
	ID     string `json:"id"`
	Method string `json:"method"`
	URL    string `json:"url"`
}

type batchResponse struct {
	ID     string          `json:"id"`
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// batchGet sends the GET requests urls (relative to /v1.0) as JSON batches
// of MaxBatch and calls each with the index of its url, the status and the
// body of its response. A sub-request refused for the caller's permissions
// (401, 403) ends the batch with that *Error: no other one would do better.
func (c *Client) batchGet(ctx context.Context, op string, urls []string, each func(i, status int, body []byte) error) error {
	for start := 0; start < len(urls); start += MaxBatch {
		end := min(start+MaxBatch, len(urls))
		reqs := make([]batchRequest, 0, end-start)
		for i := start; i < end; i++ {
			reqs = append(reqs, batchRequest{ID: strconv.Itoa(i), Method: http.MethodGet, URL: urls[i]})
		}
		var out struct {
			Responses []batchResponse `json:"responses"`
		}
		if err := c.do(ctx, op, http.MethodPost, "/v1.0/$batch", map[string]any{"requests": reqs}, &out); err != nil {
			return err
		}
		for _, r := range out.Responses {
			i, err := strconv.Atoi(r.ID)
			if err != nil || i < start || i >= end {
				return fmt.Errorf("graph %s: the batch answered an unknown request id %q", op, r.ID)
			}
			if r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden {
				return errorOf(op, r.Status, r.Body)
			}
			if err := each(i, r.Status, r.Body); err != nil {
				return err
			}
		}
	}
	return nil
}

// lookup GETs urlOf(key) for every key in batches and maps each key to
// found(body) on 200, to missing(key) on 404 and to unknown(key) otherwise.
func lookup[T any](ctx context.Context, c *Client, op string, keys []string, urlOf func(string) string,
	found func(key string, body []byte) (T, error), missing, unknown func(key string) T) (map[string]T, error) {
	urls := make([]string, len(keys))
	for i, k := range keys {
		urls[i] = urlOf(k)
	}
	out := make(map[string]T, len(keys))
	err := c.batchGet(ctx, op, urls, func(i, status int, body []byte) error {
		switch status {
		case http.StatusOK:
			v, err := found(keys[i], body)
			if err != nil {
				return fmt.Errorf("graph %s: the answer for %s: %v", op, keys[i], err)
			}
			out[keys[i]] = v
		case http.StatusNotFound:
			out[keys[i]] = missing(keys[i])
		default:
			out[keys[i]] = unknown(keys[i])
		}
		return nil
	})
	return out, err
}

// UserState is what Graph says of one user.
type UserState struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
	AccountEnabled    bool   `json:"accountEnabled"`
	// Found is false when Graph answered 404: the user was deleted (or
	// never was in this tenant).
	Found bool `json:"-"`
	// Unknown: Graph answered neither the user nor 404 (throttled, failed).
	Unknown bool `json:"-"`
}

// UserStates looks up users by object id, MaxBatch per request
// (GET /users/{id}?$select=id,accountEnabled,userPrincipalName in JSON
// batches). It needs User.Read.All (or Directory.Read.All): without it the
// answer is an *Error with Kind errkind.Permission.
func (c *Client) UserStates(ctx context.Context, ids []string) (map[string]UserState, error) {
	return lookup(ctx, c, "read users", ids,
		func(id string) string {
			return "/users/" + url.PathEscape(id) + "?$select=id,accountEnabled,userPrincipalName"
		},
		func(id string, body []byte) (UserState, error) {
			s := UserState{ID: id, Found: true}
			return s, json.Unmarshal(body, &s)
		},
		func(id string) UserState { return UserState{ID: id} },
		func(id string) UserState { return UserState{ID: id, Unknown: true} })
}

// AppPasswords is what Graph says of one application's passwords.
type AppPasswords struct {
	AppID       string
	DisplayName string
	Found       bool
	Unknown     bool
	Passwords   []PasswordCredential
}

// Nearest and Latest are the earliest and the latest endDateTime of the
// passwords (zero without any).
func (a AppPasswords) Nearest() time.Time {
	var t time.Time
	for _, p := range a.Passwords {
		if t.IsZero() || p.EndDateTime.Before(t) {
			t = p.EndDateTime
		}
	}
	return t
}

// Latest is the latest endDateTime of the passwords.
func (a AppPasswords) Latest() time.Time {
	var t time.Time
	for _, p := range a.Passwords {
		if p.EndDateTime.After(t) {
			t = p.EndDateTime
		}
	}
	return t
}

// ApplicationPasswords reads the passwords of applications by appId,
// MaxBatch per request (GET /applications(appId='…') in JSON batches). It
// needs Application.Read.All (or to own the applications).
func (c *Client) ApplicationPasswords(ctx context.Context, appIDs []string) (map[string]AppPasswords, error) {
	return lookup(ctx, c, "read applications", appIDs,
		func(id string) string {
			return "/applications(appId='" + url.PathEscape(id) + "')?$select=id,appId,displayName,passwordCredentials"
		},
		func(id string, body []byte) (AppPasswords, error) {
			var app Application
			err := json.Unmarshal(body, &app)
			return AppPasswords{AppID: id, Found: true, DisplayName: app.DisplayName, Passwords: app.PasswordCredentials}, err
		},
		func(id string) AppPasswords { return AppPasswords{AppID: id} },
		func(id string) AppPasswords { return AppPasswords{AppID: id, Unknown: true} })
}
