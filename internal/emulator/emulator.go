// Package emulator is an in-process HTTPS emulator of the Microsoft Entra ID
// endpoints and the Azure DevOps / Azure Key Vault REST APIs patrol talks to.
// Every integration test of patrol runs against it, and `patrol emulator`
// serves it for black-box runs.
//
// One listener on 127.0.0.1 serves everything over TLS with a CA generated at
// start (ECDSA P-256; the leaf has IP SAN 127.0.0.1 and DNS localhost):
//
//	/{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/discovery/v2.0/keys,
//	/common/UserRealm/{user}, /{tenant}/oauth2/v2.0/token, /{tenant}/oauth2/v2.0/devicecode,
//	/msi/token                                       Entra ID (authority host = URL()+"/")
//	/vssps/{org}/_apis/tokens/pats, /vssps/{org}/_apis/tokenadmin/...   Azure DevOps VSSPS
//	/devops/{org}/_apis/connectionData, /devops/{org}/{project}/_apis/serviceendpoint/...,
//	/devops/{org}/{project}/_apis/distributedtask/variablegroups...      Azure DevOps
//	OPTIONS /{vssps|devops}/{org}/_apis[/{area}], …/_apis/ResourceAreas  location discovery (discovery.go)
//	/keyvault/{vault}/secrets/{name}[/{version}]     Azure Key Vault
//	/_emulator/faults, /_emulator/counters, /_emulator/reset             admin API
//
// Behaviour follows /work/shared/reference (pat-api.md, entra.md,
// service-endpoints.md, secret-stores.md); the choices the references leave
// open, and the deliberate deviations from the real services, are listed in
// docs/emulator.md. State lives in memory under one mutex and is optionally
// persisted to Options.StateFile (JSON, 0600, written atomically).
//
// Secrets (passwords, client secrets, PATs, refresh tokens) are stored only
// as SHA-256 hashes where the emulator never needs them back; the request log
// never contains Authorization headers, bodies or query strings of token
// endpoints.
package emulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/patrol-dev/patrol/internal/atomicfile"
	"github.com/patrol-dev/patrol/internal/devops/api"
)

// Options configures Start.
type Options struct {
	// Addr to listen on; must be a 127.0.0.1 (or localhost) address. Default "127.0.0.1:0".
	Addr string
	// Seed is the initial world; nil = DefaultSeed().
	Seed *Seed
	// StateFile, if set, is loaded at start (when it exists) and rewritten
	// after every change, so a restarted emulator keeps its PATs, refresh
	// tokens, endpoints, variable groups, vault secrets, CA and signing key.
	StateFile string
	// Faults to inject from the start.
	Faults Faults
	// Logger receives a debug line per request (Authorization never logged). nil = discard.
	Logger *slog.Logger
	// Now is the clock (token expiry, PAT validity). nil = time.Now.
	Now func() time.Time
	// OutboundHTTPClient makes the endpointproxy's calls to third-party
	// tools (the service endpoint's URL). nil = a client with system roots.
	// Whatever the client, the emulator calls only loopback addresses and
	// AllowOutbound (docs/emulator.md, "Outbound calls").
	OutboundHTTPClient *http.Client
	// AllowOutbound lists the HOST or HOST:PORT entries (names or IPs) the
	// endpointproxy may call besides loopback (`--allow-outbound`).
	AllowOutbound []string
	// OutboundResolver resolves the names of outbound calls; nil = net.DefaultResolver.
	// Names are resolved only when the policy lets them through.
	OutboundResolver Resolver
	// EndpointProxy runs endpointproxy data sources; nil = the registered
	// default (internal/emulator/endpointproxy registers itself when imported).
	EndpointProxy EndpointProxyRunner
}

// Emulator is a running emulator. All methods are safe for concurrent use.
type Emulator struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	pki    *pki
	ln     net.Listener
	srv    *http.Server
	url    string
	client *http.Client
	routes []*route
	// outbound is the endpointproxy's client (loopback + AllowOutbound only).
	outbound *http.Client

	mu         sync.RWMutex // guards everything below
	seed       Seed
	idx        index
	st         *state
	faults     Faults
	rng        *rand.Rand
	devices    map[string]*deviceCode // by device_code hash
	byUser     map[string]string      // user_code -> device_code hash
	epBehavior EndpointBehavior

	cmu      sync.Mutex
	counters map[string]int64

	budget budget // Faults.RateLimit's usage
}

// Start starts an emulator; it serves until Close or until ctx is done.
func Start(ctx context.Context, opts Options) (*Emulator, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen address %q: %w (use 127.0.0.1:PORT)", opts.Addr, err)
	}
	if host != "127.0.0.1" && host != "localhost" {
		return nil, fmt.Errorf("emulator: listen address %q is not loopback: the emulator binds 127.0.0.1 only", opts.Addr)
	}
	e := &Emulator{opts: opts, log: opts.Logger, now: wireClock(opts.Now), counters: map[string]int64{}}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	seed := DefaultSeed()
	if opts.Seed != nil {
		seed = *opts.Seed
	}
	if err := seed.Validate(); err != nil {
		return nil, fmt.Errorf("emulator: seed: %w", err)
	}
	if seed.DeviceCodeInterval <= 0 {
		seed.DeviceCodeInterval = 1
	}
	if seed.RefreshTokenLifetime <= 0 {
		seed.RefreshTokenLifetime = Duration(90 * 24 * time.Hour)
	}
	if seed.GlobalPATRetirement.IsZero() {
		seed.GlobalPATRetirement = api.GlobalPATRetirement
	}
	guard, err := newOutboundGuard(opts.AllowOutbound, opts.OutboundResolver)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	e.seed = seed
	e.idx = buildIndex(seed)
	e.setFaultsLocked(opts.Faults)

	var saved *persisted
	if opts.StateFile != "" {
		saved, err = readStateFile(opts.StateFile)
		if err != nil {
			return nil, err
		}
	}
	if saved != nil && saved.CACert != "" {
		e.pki, err = loadKeys([]byte(saved.CACert), []byte(saved.CAKey), []byte(saved.SignKey))
		if err != nil {
			return nil, fmt.Errorf("emulator: state file %s: %w (delete it to start fresh)", opts.StateFile, err)
		}
	} else if e.pki, err = newPKI(); err != nil {
		return nil, fmt.Errorf("emulator: generating keys: %w", err)
	}
	if saved != nil {
		e.st = saved.State
		e.st.reindex()
		e.seedAppCreds(e.st)
	} else {
		e.st, err = e.stateFromSeed()
		if err != nil {
			return nil, err
		}
	}
	e.devices = map[string]*deviceCode{}
	e.byUser = map[string]string{}

	leafKey, chain, err := e.pki.leafCert()
	if err != nil {
		return nil, fmt.Errorf("emulator: serving certificate: %w", err)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen on %s: %w", opts.Addr, err)
	}
	e.ln = ln
	e.url = "https://" + ln.Addr().String()
	pool := x509.NewCertPool()
	pool.AddCert(e.pki.caCert)
	e.client = &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 16,
			ForceAttemptHTTP2:   true,
		},
		Timeout: 60 * time.Second,
	}
	e.outbound = guard.client(e.defaultOutboundClient(opts.OutboundHTTPClient))
	e.registerRoutes()
	e.srv = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: leafKey}},
		},
		ErrorLog: slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
	}
	if err := e.persist(); err != nil {
		_ = ln.Close()
		return nil, err
	}
	go func() { _ = e.srv.ServeTLS(ln, "", "") }()
	go func() {
		<-ctx.Done()
		e.Close()
	}()
	e.log.Info("emulator listening", "url", e.url)
	return e, nil
}

// dotNetTick is the resolution of .NET's DateTime: the service writes dates
// with at most 7 fractional digits.
const dotNetTick = 100 * time.Nanosecond

// wireClock is the emulator's clock (nil = time.Now), ticking in .NET's
// 100 ns so that every date the emulator writes has at most 7 fractional
// digits, as the service's do.
func wireClock(now func() time.Time) func() time.Time {
	if now == nil {
		now = time.Now
	}
	return func() time.Time { return now().Truncate(dotNetTick) }
}

// URL is https://127.0.0.1:PORT.
func (e *Emulator) URL() string { return e.url }

// AuthorityHost is the Entra authority host (URL + "/").
func (e *Emulator) AuthorityHost() string { return e.url + "/" }

// VSSPSURL is the base of vssps.dev.azure.com routes (append /{org}/_apis/...).
func (e *Emulator) VSSPSURL() string { return e.url + "/vssps" }

// DevOpsURL is the base of dev.azure.com routes (append /{org}/...).
func (e *Emulator) DevOpsURL() string { return e.url + "/devops" }

// KeyVaultURL is the vault URL of the Key Vault fake named vault.
func (e *Emulator) KeyVaultURL(vault string) string { return e.url + "/keyvault/" + vault }

// defaultOutboundClient is base, or when nil a client trusting the system
// roots plus the emulator's own CA: Azure DevOps calls public tools, and a
// service connection may point at the emulator itself (an externaltfs
// connection to its Azure DevOps routes).
func (e *Emulator) defaultOutboundClient(base *http.Client) *http.Client {
	if base != nil {
		return base
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	roots.AddCert(e.pki.caCert)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: 60 * time.Second, Transport: tr}
}

// CAPEM returns the CA certificate (PEM) that signed the serving certificate.
func (e *Emulator) CAPEM() []byte { return append([]byte(nil), e.pki.caPEM...) }

// WriteCA writes the CA certificate PEM to path (0644).
func (e *Emulator) WriteCA(path string) error {
	if err := os.WriteFile(path, e.pki.caPEM, 0o644); err != nil {
		return fmt.Errorf("emulator: writing CA certificate to %s: %w", path, err)
	}
	return nil
}

// HTTPClient returns a client that trusts the emulator CA (and nothing else).
func (e *Emulator) HTTPClient() *http.Client { return e.client }

// Env returns the environment a patrol process needs to use this emulator,
// with caFile the path WriteCA wrote. Only non-secret values are included.
func (e *Emulator) Env(caFile string) map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	env := map[string]string{
		"AZURE_AUTHORITY_HOST":              e.AuthorityHost(),
		"SSL_CERT_FILE":                     caFile,
		"PATROL_VSSPS_URL":                  e.VSSPSURL(),
		"PATROL_DEVOPS_URL":                 e.DevOpsURL(),
		"PATROL_GRAPH_URL":                  e.GraphURL(),
		"PATROL_AUDIT_URL":                  e.AuditURL(),
		"PATROL_DISABLE_INSTANCE_DISCOVERY": "true",
	}
	if len(e.seed.Tenants) > 0 {
		env["AZURE_TENANT_ID"] = e.seed.Tenants[0].ID
	}
	if len(e.seed.Apps) > 0 {
		env["AZURE_CLIENT_ID"] = e.seed.Apps[0].ClientID
	}
	if len(e.seed.Orgs) > 0 {
		env["AZURE_DEVOPS_ORG"] = e.seed.Orgs[0].Name
	}
	return env
}

// Seed returns (a copy of) the seed the emulator started with.
func (e *Emulator) Seed() Seed {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, _ := json.Marshal(e.seed)
	var s Seed
	_ = json.Unmarshal(b, &s)
	return s
}

// Counters returns the number of requests per "METHOD route-template"
// (token requests add the grant: "POST /{tenant}/oauth2/v2.0/token password").
func (e *Emulator) Counters() map[string]int64 {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	out := make(map[string]int64, len(e.counters))
	for k, v := range e.counters {
		out[k] = v
	}
	return out
}

// CountRequests is the number of requests whose Counters key contains
// substr (e.g. "endpointproxy", "oauth2/v2.0/token").
func (e *Emulator) CountRequests(substr string) int64 {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	var n int64
	for k, v := range e.counters {
		if strings.Contains(k, substr) {
			n += v
		}
	}
	return n
}

// ResetCounters sets all counters to zero, RateLimitStats and the
// rate-limit usage included.
func (e *Emulator) ResetCounters() {
	e.cmu.Lock()
	defer e.cmu.Unlock()
	e.counters = map[string]int64{}
	e.budget.reset() // the rate-limit budget's usage and stats too
}

// Close stops the listener and waits briefly for in-flight requests.
func (e *Emulator) Close() {
	if e.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = e.srv.Shutdown(ctx)
}

// Kill stops the emulator at once, dropping open connections, like a killed
// process; with a StateFile, a new Start on the same address continues from
// what was persisted (tests of restarts).
func (e *Emulator) Kill() {
	if e.srv == nil {
		return
	}
	_ = e.srv.Close()
}

// Reset restores the state to the seed (PATs, refresh tokens, endpoints,
// variable groups, vault secrets), clears faults and counters. Keys and CA stay.
func (e *Emulator) Reset() error {
	e.mu.Lock()
	st, err := e.stateFromSeed()
	if err != nil {
		e.mu.Unlock()
		return err
	}
	e.st = st
	e.devices = map[string]*deviceCode{}
	e.byUser = map[string]string{}
	e.setFaultsLocked(Faults{})
	err = e.persistLocked()
	e.mu.Unlock()
	e.ResetCounters()
	return err
}

// ---- routing ----

type params map[string]string

type route struct {
	method string
	tmpl   string
	segs   []string
	area   string // entra, ado, kv, admin
	grant  bool   // counter key gets the grant_type
	h      func(w http.ResponseWriter, r *http.Request, p params)
}

func (e *Emulator) handle(method, tmpl, area string, h func(http.ResponseWriter, *http.Request, params)) *route {
	rt := &route{method: method, tmpl: tmpl, segs: strings.Split(strings.Trim(tmpl, "/"), "/"), area: area, h: h}
	e.routes = append(e.routes, rt)
	return rt
}

func (rt *route) match(segs []string) (params, bool) {
	if len(segs) != len(rt.segs) {
		return nil, false
	}
	var p params
	for i, s := range rt.segs {
		if pre, rest, ok := strings.Cut(s, "{"); ok && pre != "" {
			// a parameter inside a segment, e.g. applications(appId='{appId}')
			name, post, _ := strings.Cut(rest, "}")
			v := segs[i]
			if len(v) <= len(pre)+len(post) || !strings.EqualFold(v[:len(pre)], pre) || !strings.EqualFold(v[len(v)-len(post):], post) {
				return nil, false
			}
			if p == nil {
				p = params{}
			}
			p[name] = v[len(pre) : len(v)-len(post)]
			continue
		}
		if strings.HasPrefix(s, "{") {
			if segs[i] == "" {
				return nil, false
			}
			if p == nil {
				p = params{}
			}
			p[s[1:len(s)-1]] = segs[i]
			continue
		}
		if !strings.EqualFold(s, segs[i]) {
			return nil, false
		}
	}
	return p, true
}

// statusRecorder captures the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// ServeHTTP routes a request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var found *route
	var p params
	methodMismatch := false
	for _, rt := range e.routes {
		pp, ok := rt.match(segs)
		if !ok {
			continue
		}
		if rt.method != r.Method && !(rt.method == http.MethodGet && r.Method == http.MethodHead) {
			methodMismatch = true
			continue
		}
		found, p = rt, pp
		break
	}
	key := r.Method + " " + "(unrouted)"
	if found != nil {
		key = r.Method + " " + found.tmpl
		if found.grant {
			_ = r.ParseForm()
			g := r.PostForm.Get("grant_type")
			if i := strings.LastIndex(g, ":"); i >= 0 {
				g = g[i+1:]
			}
			key += " " + g
			if r.PostForm.Get("claims") != "" {
				key += " claims" // a claims request (e.g. answering a CAE challenge)
			}
		}
	}
	e.cmu.Lock()
	e.counters[key]++
	e.cmu.Unlock()

	defer func() {
		auth := "none"
		if a := r.Header.Get("Authorization"); a != "" {
			auth, _, _ = strings.Cut(a, " ") // scheme only, never the credential
		}
		e.log.Debug("emulator request", "method", r.Method, "route", key, "status", rec.status,
			"auth", auth, "duration", time.Since(start).Round(time.Microsecond))
	}()

	if found == nil {
		if methodMismatch {
			writeVSSError(rec, http.StatusMethodNotAllowed, "MethodNotAllowedException",
				fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method))
			return
		}
		writeVSSError(rec, http.StatusNotFound, "RouteNotFoundException",
			fmt.Sprintf("The emulator has no route for %s %s: see docs/emulator.md for the served routes.", r.Method, r.URL.Path))
		return
	}
	if found.area != "admin" && e.injectFault(rec, r, found, key) {
		return
	}
	found.h(rec, r, p)
}

// ---- response helpers ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		enc := json.NewEncoder(w)
		_ = enc.Encode(v)
	}
}

func vssTypeKey(typeName string) string { return typeName }

func writeVSSError(w http.ResponseWriter, status int, typeKey, msg string) {
	writeJSON(w, status, map[string]any{
		"$id": "1", "innerException": nil, "message": msg,
		"typeName": "Microsoft.VisualStudio.Services.Common." + typeKey + ", Microsoft.VisualStudio.Services.Common",
		"typeKey":  vssTypeKey(typeKey), "errorCode": 0, "eventId": 3000,
	})
}

const signInHTML = `<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head>` +
	`<body><p>Sign in to your account (patrol emulator: this page stands for an authentication failure).</p></body></html>`

func writeSignInPage(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, signInHTML)
}

func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return errors.New("the request body is empty")
	}
	return json.Unmarshal(b, v)
}

// ---- admin API ----

func (e *Emulator) registerAdmin() {
	e.handle(http.MethodGet, "/_emulator/faults", "admin", func(w http.ResponseWriter, r *http.Request, _ params) {
		writeJSON(w, http.StatusOK, e.Faults())
	})
	e.handle(http.MethodPut, "/_emulator/faults", "admin", func(w http.ResponseWriter, r *http.Request, _ params) {
		var f Faults
		if err := readJSON(r, &f); err != nil {
			writeVSSError(w, http.StatusBadRequest, "ArgumentException", "faults body: "+err.Error())
			return
		}
		if err := f.validate(); err != nil {
			writeVSSError(w, http.StatusBadRequest, "ArgumentException", err.Error())
			return
		}
		e.SetFaults(f)
		writeJSON(w, http.StatusOK, f)
	})
	e.handle(http.MethodPost, "/_emulator/apps/{clientId}/certificates", "admin", e.handleNewAppCertificate)
	e.handle(http.MethodGet, "/_emulator/seed", "admin", func(w http.ResponseWriter, r *http.Request, _ params) {
		writeJSON(w, http.StatusOK, e.Seed()) // emulator-only values: lets black-box clients find ids and secrets
	})
	e.handle(http.MethodGet, "/_emulator/counters", "admin", func(w http.ResponseWriter, r *http.Request, _ params) {
		writeJSON(w, http.StatusOK, e.Counters())
	})
	e.handle(http.MethodPost, "/_emulator/counters/reset", "admin", func(w http.ResponseWriter, r *http.Request, _ params) {
		e.ResetCounters()
		w.WriteHeader(http.StatusNoContent)
	})
	e.handle(http.MethodPost, "/_emulator/reset", "admin", func(w http.ResponseWriter, r *http.Request, _ params) {
		if err := e.Reset(); err != nil {
			writeVSSError(w, http.StatusInternalServerError, "EmulatorException", err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	e.handle(http.MethodPost, "/_emulator/devicecode/approve", "admin", func(w http.ResponseWriter, r *http.Request, _ params) {
		var body struct {
			UserCode string `json:"userCode"`
			UPN      string `json:"upn"`
		}
		if err := readJSON(r, &body); err != nil {
			writeVSSError(w, http.StatusBadRequest, "ArgumentException", "body {userCode, upn}: "+err.Error())
			return
		}
		if err := e.ApproveDeviceCode(body.UserCode, body.UPN); err != nil {
			writeVSSError(w, http.StatusBadRequest, "ArgumentException", err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// ---- persistence ----

type persisted struct {
	Version int    `json:"version"`
	CACert  string `json:"caCert"`
	CAKey   string `json:"caKey"`
	SignKey string `json:"signKey"`
	State   *state `json:"state"`
}

func readStateFile(path string) (*persisted, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("emulator: reading state file %s: %w", path, err)
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil || p.State == nil {
		return nil, fmt.Errorf("emulator: state file %s is not an emulator state file (%v): delete it or pick another path", path, err)
	}
	return &p, nil
}

func (e *Emulator) persist() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.persistLocked()
}

// persistLocked writes the state file atomically (temp file + fsync + rename, 0600).
func (e *Emulator) persistLocked() error {
	if e.opts.StateFile == "" {
		return nil
	}
	ca, ck, sk, err := marshalKeys(e.pki)
	if err != nil {
		return err
	}
	b, err := json.Marshal(persisted{Version: 1, CACert: string(ca), CAKey: string(ck), SignKey: string(sk), State: e.st})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(e.opts.StateFile, b, 0o600); err != nil {
		return fmt.Errorf("emulator: writing state file: %w", err)
	}
	return nil
}

// saveLocked persists after a mutation, logging (not failing the request) on error.
func (e *Emulator) saveLocked() {
	if err := e.persistLocked(); err != nil {
		e.log.Error("emulator: persisting state failed", "err", err)
	}
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
