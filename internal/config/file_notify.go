package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Notifier types.
const (
	NotifyWebhook = "webhook" // generic JSON POST
	NotifyTeams   = "teams"   // Microsoft Teams Workflows webhook (Adaptive Card)
	NotifySlack   = "slack"   // Slack incoming webhook
)

// Notice events.
const (
	NotifyOnFailure  = "failure"  // a credential failed in a run
	NotifyOnRotation = "rotation" // a new PAT was delivered
	NotifyOnExpiring = "expiring" // a PAT expires within expiringWithin and was not rotated
)

// Notifier defaults.
const (
	DefaultNotifyWithin   = Duration(7 * 24 * time.Hour)
	DefaultNotifyAttempts = 3
	MaxNotifyAttempts     = 10
)

// Notifier is one entry of notify: where notices about a run go.
type Notifier struct {
	// Name identifies the notifier in logs and metrics (default: its type).
	Name string `json:"name,omitempty"`
	// Type: webhook | teams | slack.
	Type string `json:"type"`
	// URL of a generic webhook (https). Teams and Slack webhook URLs are
	// secrets (whoever has one can post): use URLEnv or URLFile.
	URL string `json:"url,omitempty"`
	// URLEnv names an environment variable holding the URL.
	URLEnv string `json:"urlEnv,omitempty"`
	// URLFile is a file holding the URL.
	URLFile string `json:"urlFile,omitempty"`
	// On: the events notified (default failure and expiring).
	On []string `json:"on,omitempty"`
	// ExpiringWithin: an expiring notice is sent when a PAT expires within
	// this long and the run did not rotate it (default 7d).
	ExpiringWithin Duration `json:"expiringWithin,omitempty"`
	// MaxAttempts bounds the delivery attempts of one notice (default 3, 1..10).
	MaxAttempts int `json:"maxAttempts,omitempty"`
}

func (f *File) notifyDefaults() {
	for i := range f.Notify {
		n := &f.Notify[i]
		if n.Name == "" {
			n.Name = n.Type
		}
		if len(n.On) == 0 {
			n.On = []string{NotifyOnFailure, NotifyOnExpiring}
		}
		if n.ExpiringWithin == 0 {
			n.ExpiringWithin = DefaultNotifyWithin
		}
		if n.MaxAttempts == 0 {
			n.MaxAttempts = DefaultNotifyAttempts
		}
	}
}

// CheckNotifyURL accepts only absolute https URLs with a host.
func CheckNotifyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("is not an absolute URL; write e.g. https://hooks.example.com/…")
	}
	if u.Scheme != "https" {
		return fmt.Errorf("uses %s; notices are sent over https only", u.Scheme)
	}
	return nil
}

func (f *File) validateNotify(add func(path, msg string)) {
	names := map[string]int{}
	for i, n := range f.Notify {
		p := fmt.Sprintf("notify[%d]", i)
		switch n.Type {
		case NotifyWebhook, NotifyTeams, NotifySlack:
		case "":
			add(p+".type", "missing; use webhook, teams or slack")
		default:
			add(p+".type", fmt.Sprintf("unknown notifier type %q; use webhook, teams or slack", n.Type))
		}
		if j, dup := names[strings.ToLower(n.Name)]; dup {
			add(p+".name", fmt.Sprintf("%q is also the name of notify[%d]; give each notifier a unique name", n.Name, j))
		} else if !nameRE().MatchString(n.Name) && n.Type != "" {
			add(p+".name", fmt.Sprintf("%q is not a valid name; use letters, digits, '-', '_' or '.'", n.Name))
		}
		names[strings.ToLower(n.Name)] = i
		set := 0
		for _, v := range []string{n.URL, n.URLEnv, n.URLFile} {
			if v != "" {
				set++
			}
		}
		if set != 1 {
			add(p, "set exactly one of url, urlEnv or urlFile")
		}
		if n.URL != "" {
			if n.Type == NotifyTeams || n.Type == NotifySlack {
				add(p+".url", fmt.Sprintf("a %s webhook URL is a secret (whoever has it can post); put it in an environment variable (urlEnv) or a file (urlFile)", n.Type))
			} else if err := CheckNotifyURL(n.URL); err != nil {
				add(p+".url", fmt.Sprintf("%q %v", n.URL, err))
			}
		}
		seen := map[string]bool{}
		for k, ev := range n.On {
			ep := fmt.Sprintf("%s.on[%d]", p, k)
			if !slices.Contains([]string{NotifyOnFailure, NotifyOnRotation, NotifyOnExpiring}, ev) {
				add(ep, fmt.Sprintf("unknown event %q; use failure, rotation or expiring", ev))
			} else if seen[ev] {
				add(ep, fmt.Sprintf("event %q is listed twice; remove the duplicate", ev))
			}
			seen[ev] = true
		}
		if n.ExpiringWithin < 0 || n.ExpiringWithin > MaxLifetime {
			add(p+".expiringWithin", fmt.Sprintf("%s is out of range; use 1h..365d (default %s)", n.ExpiringWithin, DefaultNotifyWithin))
		}
		if n.MaxAttempts < 1 || n.MaxAttempts > MaxNotifyAttempts {
			add(p+".maxAttempts", fmt.Sprintf("%d is out of range; use 1..%d (default %d)", n.MaxAttempts, MaxNotifyAttempts, DefaultNotifyAttempts))
		}
	}
}
