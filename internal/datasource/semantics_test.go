package datasource

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/scheme"
)

// semanticsServer records every request URI (as sent on the request line)
// and answers the semantics manifest's data sources.
func semanticsServer(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var uris []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		uris = append(uris, r.RequestURI)
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			return
		}
		switch r.URL.Path {
		case "/base/api/v1/info":
			w.Write([]byte(`{"ok":true}`))
		case "/base/my items/list":
			w.Write([]byte(`{"value":[{"name":"a"},{"name":"b"}]}`))
		case "/base/items":
			w.Write([]byte(`{"items":[{"id":1,"name":"one"},{"id":2,"name":"two"}],"pages":{"p1":["x"],"p2":["y"]}}`))
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), uris...) }
}

func semanticsType(t *testing.T) *scheme.EndpointType {
	t.Helper()
	ts, err := scheme.LoadManifestFile("testdata/semantics.json")
	if err != nil {
		t.Fatal(err)
	}
	return &ts[0]
}

func TestRelativeEndpointURLJoinsWithOneSlash(t *testing.T) {
	srv, uris := semanticsServer(t)
	et := semanticsType(t)
	for _, base := range []string{srv.URL + "/base", srv.URL + "/base/"} {
		e := ep("semantics", base, "Token", map[string]string{"apitoken": "tok"}, nil)
		for _, name := range []string{"TestConnection", "Rooted"} {
			if code, err := Test(context.Background(), Request{Endpoint: e, Type: et, DataSource: name}, Options{HTTPClient: srv.Client()}); err != nil || code != 200 {
				t.Errorf("%s with url %s: %d %v", name, base, code, err)
			}
		}
	}
	for _, u := range uris() {
		if u != "/base/api/v1/info" {
			t.Errorf("request line URI %q; want /base/api/v1/info", u)
		}
	}
}

func TestURLEscapedLikeDotNetUri(t *testing.T) {
	srv, uris := semanticsServer(t)
	et := semanticsType(t)
	e := ep("semantics", srv.URL+"/base", "Token", map[string]string{"apitoken": "tok"}, nil)
	res, err := Run(context.Background(), Request{Endpoint: e, Type: et, DataSource: "Ordered", Parameters: map[string]string{"q": `a b"ä`}}, Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Items, ",") != "a,b" {
		t.Errorf("items = %v", res.Items)
	}
	want := "/base/my%20items/list?$orderby=id%20desc&q=a%20b%22%C3%A4&raw=%20ok"
	if got := uris(); len(got) != 1 || got[0] != want {
		t.Errorf("request URI = %q, want %q", got, want)
	}
}

func TestResultSelectorRenderedWithContext(t *testing.T) {
	srv, _ := semanticsServer(t)
	et := semanticsType(t)
	e := ep("semantics", srv.URL+"/base", "Token", map[string]string{"apitoken": "tok"}, nil)
	res, err := Run(context.Background(), Request{Endpoint: e, Type: et, DataSource: "ById", Parameters: map[string]string{"systemId": "2"}}, Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Items, ",") != "two" {
		t.Errorf("items = %v; want the item the rendered selector picks", res.Items)
	}
	// The paging context reaches the selector on every call.
	res, err = Run(context.Background(), Request{Endpoint: e, Type: et, DataSource: "Paged"}, Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Items, ",") != "x,y" || res.Calls != 2 {
		t.Errorf("paged items = %v (calls %d)", res.Items, res.Calls)
	}
}

func TestLocalProblemsAreUsageErrors(t *testing.T) {
	srv, uris := semanticsServer(t)
	et := semanticsType(t)
	e := ep("semantics", srv.URL+"/base", "Token", map[string]string{"apitoken": "tok"}, nil)
	for _, tc := range []struct{ ds, field string }{
		{"BadTemplate", "endpointUrl"},
		{"BadSelectorTemplate", "resultSelector"},
		{"BadScheme", "endpointUrl"},
		{"BadSelector", "resultSelector"},
	} {
		_, err := Run(context.Background(), Request{Endpoint: e, Type: et, DataSource: tc.ds}, Options{HTTPClient: srv.Client()})
		if errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), "data source "+tc.ds) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: kind %v, err %v; want a usage error naming the data source and %s", tc.ds, errkind.Of(err), err, tc.field)
		}
	}
	if n := len(uris()); n != 0 {
		t.Errorf("%d requests sent for local problems; want none", n)
	}
	// An endpoint without a URL cannot resolve a relative endpointUrl.
	_, err := Run(context.Background(), Request{Endpoint: ep("semantics", "", "Token", map[string]string{"apitoken": "tok"}, nil), Type: et, DataSource: "TestConnection"}, Options{HTTPClient: srv.Client()})
	if errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), "endpointUrl") {
		t.Errorf("relative URL without endpoint url: %v", err)
	}
	// A host that does not resolve is the URL's fault, not the network's.
	noHost := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.DNSError{Err: "no such host", Name: "unresolvable.example", IsNotFound: true}
	}}}
	_, err = Run(context.Background(), Request{Endpoint: ep("semantics", "https://unresolvable.example/base", "Token", map[string]string{"apitoken": "tok"}, nil), Type: et, DataSource: "TestConnection"}, Options{HTTPClient: noHost})
	if errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), "unresolvable.example") {
		t.Errorf("unresolvable host: kind %v, %v", errkind.Of(err), err)
	}
}

func TestNetworkAndServerFailuresAreTransient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String() + "/base"
	l.Close()
	et := semanticsType(t)
	_, err = Run(context.Background(), Request{Endpoint: ep("semantics", closed, "Token", map[string]string{"apitoken": "tok"}, nil), Type: et, DataSource: "TestConnection"}, Options{})
	if errkind.Of(err) != errkind.Transient {
		t.Errorf("connection refused: kind %v, %v", errkind.Of(err), err)
	}
	for _, st := range []int{429, 503} {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(st) }))
		_, err = Run(context.Background(), Request{Endpoint: ep("semantics", srv.URL, "Token", map[string]string{"apitoken": "tok"}, nil), Type: et, DataSource: "TestConnection"}, Options{HTTPClient: srv.Client()})
		srv.Close()
		var de *Error
		if errkind.Of(err) != errkind.Transient || !errors.As(err, &de) || de.Status != st {
			t.Errorf("HTTP %d: kind %v, %v", st, errkind.Of(err), err)
		}
	}
}
