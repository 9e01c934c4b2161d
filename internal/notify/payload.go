package notify

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/patrol-dev/patrol/internal/config"
)

// Title is the one-line summary of a notice: what happened to which
// credential of which organisation ("credential agents (contoso) rotated").
func (no Notice) Title() string {
	name := no.Credential
	if no.Organization != "" {
		name += " (" + no.Organization + ")"
	}
	switch no.Event {
	case config.NotifyOnFailure:
		return fmt.Sprintf("patrol: credential %s failed (%s)", name, no.Reason)
	case config.NotifyOnRotation:
		return fmt.Sprintf("patrol: credential %s rotated", name)
	default:
		if !no.ValidTo.After(no.At) {
			return fmt.Sprintf("patrol: credential %s has expired and was not rotated", name)
		}
		return fmt.Sprintf("patrol: credential %s expires in %.1f days and was not rotated", name, no.ValidTo.Sub(no.At).Hours()/24)
	}
}

// facts are the notice's fields as label/value pairs, in display order.
func (no Notice) facts() [][2]string {
	f := [][2]string{{"Credential", no.Credential}, {"Kind", no.Kind}}
	add := func(k, v string) {
		if v != "" {
			f = append(f, [2]string{k, v})
		}
	}
	add("Organization", no.Organization)
	add("Identity", no.Identity)
	add("Action", no.Action)
	add("Health", no.Health)
	add("Reason", no.Reason)
	add("Authorization ID", no.AuthorizationID)
	if !no.ValidTo.IsZero() {
		add("Valid to", no.ValidTo.UTC().Format(time.RFC3339))
	}
	add("Error", no.Error)
	add("At", no.At.UTC().Format(time.RFC3339))
	return f
}

// Payload renders no for a notifier type: the Notice itself as JSON
// (webhook, {"version":1,"notice":…}), a Teams Workflows message with an
// Adaptive Card, or a Slack incoming-webhook message (text + blocks).
func Payload(typ string, no Notice) ([]byte, error) {
	switch typ {
	case config.NotifyWebhook:
		return json.Marshal(struct {
			Version int    `json:"version"`
			Title   string `json:"title"`
			Notice  Notice `json:"notice"`
		}{1, no.Title(), no})
	case config.NotifyTeams:
		type fact struct {
			Title string `json:"title"`
			Value string `json:"value"`
		}
		var facts []fact
		for _, f := range no.facts() {
			facts = append(facts, fact{f[0], f[1]})
		}
		color := "Good"
		if no.Event != config.NotifyOnRotation {
			color = "Attention"
		}
		card := map[string]any{
			"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
			"type":    "AdaptiveCard",
			"version": "1.4",
			"body": []any{
				map[string]any{"type": "TextBlock", "text": no.Title(), "weight": "Bolder", "size": "Medium", "wrap": true, "color": color},
				map[string]any{"type": "FactSet", "facts": facts},
			},
		}
		return json.Marshal(map[string]any{
			"type": "message",
			"attachments": []any{map[string]any{
				"contentType": "application/vnd.microsoft.card.adaptive",
				"contentUrl":  nil,
				"content":     card,
			}},
		})
	case config.NotifySlack:
		var fields []any
		for _, f := range no.facts() {
			fields = append(fields, map[string]any{"type": "mrkdwn", "text": "*" + f[0] + "*\n" + slackEscape(f[1])})
		}
		blocks := []any{map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "*" + slackEscape(no.Title()) + "*"}}}
		// A section holds at most 10 fields.
		for i := 0; i < len(fields); i += 10 {
			blocks = append(blocks, map[string]any{"type": "section", "fields": fields[i:min(i+10, len(fields))]})
		}
		return json.Marshal(map[string]any{"text": no.Title(), "blocks": blocks})
	}
	return nil, fmt.Errorf("unknown notifier type %q", typ)
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		switch r {
		case '&':
			out = append(out, []rune("&amp;")...)
		case '<':
			out = append(out, []rune("&lt;")...)
		case '>':
			out = append(out, []rune("&gt;")...)
		default:
			out = append(out, r)
		}
	}
	return string(out)
}
