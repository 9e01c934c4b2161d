package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/patrol-dev/patrol/internal/config"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/rotation"
)

var at = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// hook is a webhook on 127.0.0.1 (TLS) answering each request with the next
// status of statuses (then 200), recording the bodies.
type hook struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	bodies   []string
}

func newHook(t *testing.T, statuses ...int) *hook {
	h := &hook{statuses: statuses}
	h.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		st := http.StatusOK
		if len(h.statuses) > 0 {
			st, h.statuses = h.statuses[0], h.statuses[1:]
		}
		h.mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			st = http.StatusBadRequest
		}
		w.WriteHeader(st)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

func notifier(h *hook, typ string, attempts int) *Notifier {
	n := New(config.Notifier{Name: typ, Type: typ, URLEnv: "HOOK", On: []string{"failure", "rotation", "expiring"}, ExpiringWithin: config.Duration(7 * 24 * time.Hour), MaxAttempts: attempts},
		h.Client(), func(k string) (string, bool) { return h.URL + "/hook/secret-path", k == "HOOK" })
	n.NewBackOff = func() backoff.BackOff { return &backoff.ZeroBackOff{} }
	return n
}

var failure = Notice{Event: "failure", Credential: "agents", Kind: "pat", Organization: "contoso-labs", Identity: "labs-admin", Action: "renew", Reason: "verify", Error: "sink x refused <the PAT>", At: at}

func TestSendRetriesTransientFailures(t *testing.T) {
	h := newHook(t, 503, 429)
	if err := notifier(h, "webhook", 3).Send(context.Background(), failure); err != nil {
		t.Fatal(err)
	}
	if n := len(h.got()); n != 3 {
		t.Fatalf("attempts: %d, want 3 (503, 429, 200)", n)
	}
}

func TestSendBounded(t *testing.T) {
	h := newHook(t, 500, 500, 500, 500, 500)
	err := notifier(h, "webhook", 3).Send(context.Background(), failure)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 500 {
		t.Fatalf("want the last status, got %v", err)
	}
	if n := len(h.got()); n != 3 {
		t.Fatalf("attempts: %d, want maxAttempts 3", n)
	}
	if strings.Contains(err.Error(), "secret-path") {
		t.Fatalf("the webhook URL (a secret for Teams and Slack) is in the error: %v", err)
	}
}

func TestSendRefusalIsNotRetried(t *testing.T) {
	h := newHook(t, 400)
	if err := notifier(h, "slack", 3).Send(context.Background(), failure); err == nil {
		t.Fatal("a 400 was accepted")
	}
	if n := len(h.got()); n != 1 {
		t.Fatalf("attempts: %d, want 1", n)
	}
}

func TestSendHTTPSOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("a notice went over plain http") }))
	defer srv.Close()
	n := New(config.Notifier{Name: "w", Type: "webhook", URL: srv.URL, On: []string{"failure"}, MaxAttempts: 1}, srv.Client(), nil)
	if err := n.Send(context.Background(), failure); err == nil || !strings.Contains(err.Error(), "https only") {
		t.Fatalf("plain http: %v", err)
	}
	n = New(config.Notifier{Name: "w", Type: "teams", URLEnv: "UNSET", On: []string{"failure"}, MaxAttempts: 1}, srv.Client(), func(string) (string, bool) { return "", false })
	if err := n.Send(context.Background(), failure); err == nil || !strings.Contains(err.Error(), "UNSET") {
		t.Fatalf("unset urlEnv: %v", err)
	}
}

func TestPayloads(t *testing.T) {
	for _, typ := range []string{"webhook", "teams", "slack"} {
		h := newHook(t)
		if err := notifier(h, typ, 1).Send(context.Background(), failure); err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(h.got()[0]), &doc); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		body := h.got()[0]
		switch typ {
		case "webhook":
			nt := doc["notice"].(map[string]any)
			if doc["version"] != 1.0 || nt["credential"] != "agents" || nt["reason"] != "verify" || nt["organization"] != "contoso-labs" || nt["identity"] != "labs-admin" ||
				doc["title"] != "patrol: credential agents (contoso-labs) failed (verify)" {
				t.Errorf("webhook: %s", body)
			}
		case "teams":
			att := doc["attachments"].([]any)[0].(map[string]any)
			card := att["content"].(map[string]any)
			if doc["type"] != "message" || att["contentType"] != "application/vnd.microsoft.card.adaptive" || card["type"] != "AdaptiveCard" || !strings.Contains(body, "verify") {
				t.Errorf("teams: %s", body)
			}
			facts := map[string]string{}
			for _, f := range card["body"].([]any)[1].(map[string]any)["facts"].([]any) {
				f := f.(map[string]any)
				facts[f["title"].(string)] = f["value"].(string)
			}
			if facts["Organization"] != "contoso-labs" || facts["Identity"] != "labs-admin" || !strings.Contains(card["body"].([]any)[0].(map[string]any)["text"].(string), "(contoso-labs)") {
				t.Errorf("teams: the card names the organisation and identity: %s", body)
			}
		case "slack":
			if !strings.Contains(doc["text"].(string), "agents (contoso-labs)") || len(doc["blocks"].([]any)) < 2 || !strings.Contains(body, `\u0026lt;the PAT\u0026gt;`) {
				t.Errorf("slack: %s", body)
			}
			if !strings.Contains(body, `*Organization*\ncontoso-labs`) || !strings.Contains(body, `*Identity*\nlabs-admin`) {
				t.Errorf("slack: the fields name the organisation and identity: %s", body)
			}
		}
	}
}

func TestNoticesAndWants(t *testing.T) {
	rep := rotation.Report{Results: []rotation.Result{
		{Credential: "a", Kind: "pat", Organization: "contoso", Action: rotation.ActionRenew, Err: errors.New("boom"), Reason: "sink"},
		{Credential: "b", Kind: "pat", Organization: "contoso-labs", Identity: "labs-admin", Action: rotation.ActionRenew, AuthorizationID: "id-b", ValidTo: at.Add(30 * 24 * time.Hour)},
		{Credential: "t", Kind: "entra-token", Action: rotation.ActionRefresh},
		{Credential: "c", Kind: "pat", Action: rotation.ActionNone},
	}}
	sts := []rotation.CredentialStatus{
		{Credential: "a", Kind: "pat", ValidTo: at.Add(2 * 24 * time.Hour)},
		{Credential: "b", Kind: "pat", ValidTo: at.Add(30 * 24 * time.Hour)},
		{Credential: "c", Kind: "pat", Organization: "fabrikam", ValidTo: at.Add(20 * 24 * time.Hour)},
		{Credential: "t", Kind: "entra-token", ValidTo: at.Add(time.Hour)},
	}
	got := Notices(rep, sts, at)
	var events []string
	for _, n := range got {
		events = append(events, n.Event+":"+n.Credential)
	}
	want := "failure:a rotation:b expiring:a expiring:c"
	if strings.Join(events, " ") != want {
		t.Fatalf("notices %v, want %s", events, want)
	}
	if got[0].Organization != "contoso" || got[1].Organization != "contoso-labs" || got[1].Identity != "labs-admin" || got[3].Organization != "fabrikam" {
		t.Errorf("notices name the organisation and identity: %+v", got)
	}
	n := New(config.Notifier{On: []string{"failure", "expiring"}, ExpiringWithin: config.Duration(7 * 24 * time.Hour)}, nil, nil)
	var sent []string
	for _, no := range got {
		if n.Wants(no, at) {
			sent = append(sent, no.Event+":"+no.Credential)
		}
	}
	if strings.Join(sent, " ") != "failure:a expiring:a" {
		t.Fatalf("wanted %v", sent)
	}
}

// A webhook whose certificate this machine does not trust fails at once
// (retrying cannot make it trusted) with the hint that says how to fix it.
func TestSendUntrustedCertificateIsFinal(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	n := New(config.Notifier{Name: "w", Type: "webhook", URL: srv.URL, On: []string{"failure"}, MaxAttempts: 3}, &http.Client{}, nil)
	n.NewBackOff = func() backoff.BackOff { return &backoff.ZeroBackOff{} }
	err := n.Send(context.Background(), failure)
	if err == nil {
		t.Fatal("a notice reached a server whose certificate is not trusted")
	}
	if !strings.Contains(err.Error(), errkind.HintCertUntrusted) {
		t.Errorf("no certificate hint: %v", err)
	}
	if c := conns.Load(); c != 1 {
		t.Errorf("connections: %d, want 1 (a certificate error is not retried)", c)
	}
}
