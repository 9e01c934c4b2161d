// Package notify tells people about a run: notices on failure, on rotation
// and when a PAT expires within a notifier's expiringWithin without having
// been rotated, derived from the run's report and the credentials' status
// (rotation.Assess), sent to a generic JSON webhook, a Microsoft Teams
// Workflows webhook (Adaptive Card) or a Slack incoming webhook.
//
// A notice carries names, ids, times, reasons and error messages — never a
// secret (the report holds none, and error texts pass internal/redact).
// Delivery is https only, with bounded
// retries (exponential backoff; 429 honours Retry-After); a notice that
// cannot be delivered is an error for the caller to log and count, never a
// failure of the rotation.
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/redact"
	"github.com/patrol-dev/patrol/internal/rotation"
)

// Notice is one thing to tell.
type Notice struct {
	Event      string `json:"event"` // failure | rotation | expiring
	Credential string `json:"credential"`
	Kind       string `json:"kind"`
	// Organization is the Azure DevOps organisation of the credential
	// (its own organization: or the top-level one), Identity the
	// identities: entry that signs in for it ("" = the default auth:).
	Organization    string    `json:"organization,omitempty"`
	Identity        string    `json:"identity,omitempty"`
	Action          string    `json:"action,omitempty"`
	Health          string    `json:"health,omitempty"`
	Reason          string    `json:"reason,omitempty"`
	Error           string    `json:"error,omitempty"`
	AuthorizationID string    `json:"authorizationId,omitempty"`
	ValidTo         time.Time `json:"validTo,omitzero"`
	At              time.Time `json:"at"`
}

// Notices derives the notices of a run: a failure notice per failed result,
// a rotation notice per PAT delivered (entra-token refreshes are routine and
// not announced), and an expiring candidate per PAT credential the run did
// not rotate (each notifier keeps those within its expiringWithin).
func Notices(rep rotation.Report, sts []rotation.CredentialStatus, at time.Time) []Notice {
	var out []Notice
	rotated := map[string]bool{}
	for _, r := range rep.Results {
		n := Notice{Credential: r.Credential, Kind: r.Kind, Organization: r.Organization, Identity: r.Identity, Action: string(r.Action), AuthorizationID: r.AuthorizationID, ValidTo: r.ValidTo, At: at.UTC()}
		switch {
		case r.Err != nil:
			n.Event, n.Reason, n.Error = config.NotifyOnFailure, r.Reason, redact.Error(r.Err)
		case r.Rotated() && r.Kind != config.KindEntraToken:
			n.Event = config.NotifyOnRotation
			rotated[r.Credential] = true
		default:
			continue
		}
		out = append(out, n)
	}
	for _, s := range sts {
		if s.Kind == config.KindEntraToken || s.ValidTo.IsZero() || rotated[s.Credential] {
			continue
		}
		out = append(out, Notice{Event: config.NotifyOnExpiring, Credential: s.Credential, Kind: s.Kind, Organization: s.Organization, Identity: s.Identity, Health: s.Health, ValidTo: s.ValidTo, At: at.UTC()})
	}
	return out
}

// Notifier delivers notices to one webhook.
type Notifier struct {
	cfg    config.Notifier
	client *http.Client
	env    func(string) (string, bool)
	// NewBackOff returns the wait between attempts (default exponential from 1 s).
	NewBackOff func() backoff.BackOff
}

// New builds a notifier. client should come from httpx.For(…, httpx.Notify);
// env resolves urlEnv (nil: none set).
func New(cfg config.Notifier, client *http.Client, env func(string) (string, bool)) *Notifier {
	return &Notifier{cfg: cfg, client: client, env: env}
}

// Name is the notifier's name.
func (n *Notifier) Name() string { return n.cfg.Name }

// Wants reports whether n sends no at now.
func (n *Notifier) Wants(no Notice, now time.Time) bool {
	if !slices.Contains(n.cfg.On, no.Event) {
		return false
	}
	return no.Event != config.NotifyOnExpiring || no.ValidTo.Sub(now) <= n.cfg.ExpiringWithin.D()
}

// url resolves the webhook URL (never logged: Teams and Slack URLs are secrets).
func (n *Notifier) webhookURL() (string, error) {
	var u string
	switch {
	case n.cfg.URL != "":
		u = n.cfg.URL
	case n.cfg.URLEnv != "":
		if n.env != nil {
			u, _ = n.env(n.cfg.URLEnv)
		}
		if u == "" {
			return "", fmt.Errorf("notifier %s: environment variable %s (urlEnv) is not set; set it to the webhook URL", n.cfg.Name, n.cfg.URLEnv)
		}
	default:
		b, err := os.ReadFile(n.cfg.URLFile)
		if err != nil {
			return "", fmt.Errorf("notifier %s: urlFile: %w", n.cfg.Name, err)
		}
		u = strings.TrimSpace(string(b))
	}
	if err := config.CheckNotifyURL(u); err != nil {
		return "", fmt.Errorf("notifier %s: the webhook URL %v", n.cfg.Name, err)
	}
	return u, nil
}

// StatusError is a webhook's refusal.
type StatusError struct {
	Notifier string
	Status   int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("notifier %s: the webhook answered HTTP %d", e.Notifier, e.Status)
}

// Send delivers one notice, retrying transient failures (network, 429,
// 5xx) up to maxAttempts.
func (n *Notifier) Send(ctx context.Context, no Notice) error {
	u, err := n.webhookURL()
	if err != nil {
		return err
	}
	body, err := Payload(n.cfg.Type, no)
	if err != nil {
		return err
	}
	bo := n.NewBackOff
	if bo == nil {
		bo = func() backoff.BackOff {
			b := backoff.NewExponentialBackOff()
			b.InitialInterval, b.MaxInterval = time.Second, 10*time.Second
			return b
		}
	}
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return struct{}{}, backoff.Permanent(fmt.Errorf("notifier %s: %w", n.cfg.Name, err))
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := n.client.Do(req)
		if err != nil {
			// Never quote the URL: url.Error carries it.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			if hint, ok := errkind.Certificate(err); ok {
				// Retrying cannot make the certificate trusted.
				return struct{}{}, backoff.Permanent(fmt.Errorf("notifier %s: %w; %s", n.cfg.Name, err, hint))
			}
			return struct{}{}, fmt.Errorf("notifier %s: %w", n.cfg.Name, err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return struct{}{}, nil
		case resp.StatusCode == http.StatusTooManyRequests:
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 && s <= 60 {
				return struct{}{}, backoff.RetryAfter(s)
			}
			return struct{}{}, &StatusError{n.cfg.Name, resp.StatusCode}
		case resp.StatusCode >= 500:
			return struct{}{}, &StatusError{n.cfg.Name, resp.StatusCode}
		default:
			return struct{}{}, backoff.Permanent(&StatusError{n.cfg.Name, resp.StatusCode})
		}
	}, backoff.WithBackOff(bo()), backoff.WithMaxTries(uint(max(1, n.cfg.MaxAttempts))), backoff.WithMaxElapsedTime(2*time.Minute))
	return err
}
