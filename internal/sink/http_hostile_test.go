package sink_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patrol-dev/patrol/internal/httpx"
	"github.com/patrol-dev/patrol/internal/sink"
)

// The http sink never follows a redirect: the PAT is in the body and the
// sink's own credentials in the headers.
func TestHTTPSinkNeverFollowsARedirect(t *testing.T) {
	t.Setenv("PATROL_TEST_SINK_PW", "sink-hunter2")
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		away := newRecorder(t)
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, away.URL+r.URL.Path, status)
		}))
		defer srv.Close()
		state := filepath.Join(t.TempDir(), "state.json")
		p := `{"type":"http","url":"` + srv.URL + `/api/set","body":"{\"pat\":\"{{token}}\"}","stateFile":"` + state + `",
			"auth":{"type":"basic","username":"admin","passwordEnv":"PATROL_TEST_SINK_PW"}}`
		s := build(t, p, sink.Deps{HTTPClient: srv.Client()}) // srv.Client follows redirects by default
		err := s.Write(context.Background(), secret, meta)
		if _, _, body, n := away.last(); n != 0 {
			t.Fatalf("%d: the redirect target received %q", status, body)
		}
		var re *httpx.RedirectError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), srv.URL+"/api/set") {
			t.Fatalf("%d: want a redirect error naming the URL, got %v", status, err)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "sink-hunter2") {
			t.Fatalf("%d: the error carries a secret: %v", status, err)
		}
		if h, _ := s.Read(context.Background()); h.Present {
			t.Errorf("%d: a redirected delivery must not count as held: %+v", status, h)
		}
	}
}

// A url that renders to plain http is refused when the request is built:
// nothing is sent.
func TestHTTPSinkRefusesPlainHTTPAtRequestTime(t *testing.T) {
	var hits int
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer plain.Close()
	host := strings.TrimPrefix(plain.URL, "http://")
	state := filepath.Join(t.TempDir(), "state.json")
	hp := sink.HTTPParams{Type: "http", URL: "http://" + host + "/api/set", Body: "{{token}}", StateFile: state, Method: "POST"}
	s, err := sink.NewHTTP(hp, plain.Client(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(context.Background(), secret, meta)
	if err == nil || hits != 0 {
		t.Fatalf("a plain-http delivery was sent (%d requests, err %v)", hits, err)
	}
	if !strings.Contains(err.Error(), "https") || !strings.Contains(err.Error(), plain.URL) {
		t.Errorf("the error must say https is required and name the URL: %v", err)
	}
	if _, err := os.Stat(state + ".next"); err == nil {
		t.Error("nothing was sent, yet a delivery is recorded as in progress")
	}
}
