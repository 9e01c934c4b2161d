package doctor

import (
	"context"
	"crypto/x509"
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

	"golang.org/x/net/http/httpproxy"

	"github.com/patrol-dev/patrol/internal/entra"
	"github.com/patrol-dev/patrol/internal/errkind"
)

// Clock skew thresholds: Entra accepts assertions up to 5 minutes off;
// more than a minute is worth a warning.
const (
	skewWarn = time.Minute
	skewFail = 5 * time.Minute
)

func checkConfig(d Deps) Result {
	const name = "configuration"
	if d.ConfigErr != nil {
		return failed(name, d.ConfigErr, "fix the field named above; `patrol config validate` shows every problem")
	}
	if d.Config == "" {
		return Result{Check: name, Status: OK, Message: "no patrol.yaml: settings from flags and environment only"}
	}
	msg := fmt.Sprintf("%s is valid", d.Config)
	if n := len(d.Credentials); n > 0 {
		msg += fmt.Sprintf(" (%d credential(s))", n)
	}
	return Result{Check: name, Status: OK, Message: msg}
}

// checkProxy reports the proxy each endpoint goes through, as Go's
// net/http chooses it from HTTPS_PROXY/HTTP_PROXY/NO_PROXY; credentials in
// a proxy URL are never shown.
func checkProxy(d Deps) Result {
	const name = "proxy"
	get := func(k string) string {
		if v, ok := d.Env(k); ok {
			return v
		}
		v, _ := d.Env(strings.ToLower(k))
		return v
	}
	cfg := httpproxy.Config{HTTPSProxy: get("HTTPS_PROXY"), HTTPProxy: get("HTTP_PROXY"), NoProxy: get("NO_PROXY")}
	if cfg.HTTPSProxy == "" && cfg.HTTPProxy == "" {
		return Result{Check: name, Status: OK, Message: "no proxy configured (HTTPS_PROXY, HTTP_PROXY unset): direct connections"}
	}
	// httpproxy quietly reads a value that is not a URL as "http://"+value
	// (so "http://proxy:port" becomes a proxy on host "http"): check first.
	for _, v := range []struct{ name, val string }{{"HTTPS_PROXY", cfg.HTTPSProxy}, {"HTTP_PROXY", cfg.HTTPProxy}} {
		if v.val == "" {
			continue
		}
		if !proxyURLOK(v.val) {
			// The value is not quoted: it may carry a password.
			return Result{Check: name, Status: Fail, Message: v.name + " is not a proxy URL with a scheme and a host",
				Fix: "set " + v.name + " to a URL such as http://proxy.example:3128 (schemes http, https, socks5)", kind: errkind.Usage}
		}
	}
	pf := cfg.ProxyFunc()
	var parts []string
	for _, ep := range d.Endpoints {
		u, err := url.Parse(ep.URL)
		if err != nil {
			continue
		}
		p, err := pf(u)
		switch {
		case err != nil:
			return Result{Check: name, Status: Fail, Message: "the proxy setting cannot be used: " + oneLine(err.Error()),
				Fix: "set HTTPS_PROXY to a URL such as http://proxy.example:3128", kind: errkind.Usage}
		case p == nil:
			parts = append(parts, ep.Name+": direct")
		default:
			parts = append(parts, ep.Name+": via "+p.Redacted())
		}
	}
	return Result{Check: name, Status: OK, Message: strings.Join(parts, "; ")}
}

func checkCABundle(d Deps) Result {
	const name = "ca-bundle"
	path := d.CABundle
	src := "--ca-bundle / PATROL_CA_BUNDLE"
	if path == "" {
		if v, ok := d.Env("SSL_CERT_FILE"); ok && v != "" {
			path, src = v, "SSL_CERT_FILE"
		}
	}
	if path == "" {
		return Result{Check: name, Status: OK, Message: "system roots only (no extra CA bundle)"}
	}
	f, err := os.Open(path)
	if err != nil {
		return Result{Check: name, Status: Fail, Message: fmt.Sprintf("%s %s cannot be read: %v", src, path, errors.Unwrap(err)),
			Fix: "point it at a readable PEM file", kind: errkind.Usage}
	}
	defer f.Close()
	pemBytes, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		return Result{Check: name, Status: Fail, Message: fmt.Sprintf("%s %s: %v", src, path, err), kind: errkind.Usage}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return Result{Check: name, Status: Fail, Message: fmt.Sprintf("%s %s holds no PEM certificate", src, path),
			Fix: "use a PEM file with -----BEGIN CERTIFICATE----- blocks (convert DER with `openssl x509 -inform der`)", kind: errkind.Usage}
	}
	return Result{Check: name, Status: OK, Message: fmt.Sprintf("%s %s: trusted in addition to the system roots", src, path)}
}

// checkReach makes one GET to the endpoint; any HTTP answer proves DNS,
// TCP, the proxy and TLS. It returns the answer's Date header for the
// clock check.
func checkReach(ctx context.Context, d Deps, ep Endpoint) (Result, string) {
	name := "reach " + ep.Name
	if d.HTTP == nil {
		return Result{Check: name, Status: Skip, Message: "no HTTP client (see the configuration check)"}, ""
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.URL, nil)
	if err != nil {
		return Result{Check: name, Status: Fail, Message: fmt.Sprintf("%s is not a usable URL: %v", ep.URL, err), kind: errkind.Usage}, ""
	}
	start := time.Now()
	resp, err := d.HTTP.Do(req)
	if err != nil {
		k, hint := errkind.Transport(err)
		if hint == "" {
			hint = "check the network path to " + req.URL.Host + " (firewall, HTTPS_PROXY/NO_PROXY)"
		}
		return Result{Check: name, Status: Fail, Message: fmt.Sprintf("%s cannot be reached: %s", withoutQuery(req.URL), oneLine(redactURLError(err))), Fix: hint, kind: k}, ""
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return Result{Check: name, Status: OK, Message: fmt.Sprintf("%s answered HTTP %d in %s", withoutQuery(req.URL), resp.StatusCode, time.Since(start).Round(time.Millisecond))}, resp.Header.Get("Date")
}

// proxyURLOK accepts what Go's proxy code reads correctly: a URL with
// scheme http, https, socks5 or socks5h and a host, or host[:port] alone
// (read as http://host:port).
func proxyURLOK(v string) bool {
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" {
		u, err = url.Parse("http://" + v)
	}
	if err != nil || !slices.Contains([]string{"http", "https", "socks5", "socks5h"}, u.Scheme) {
		return false
	}
	h := u.Hostname()
	if h == "" || h == "http" || h == "https" || strings.Contains(h, "/") {
		return false
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return true
}

func withoutQuery(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment = "", ""
	return c.Redacted()
}

// redactURLError drops the query of a *url.Error's URL.
func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			return fmt.Sprintf("%s %s: %v", ue.Op, u.Redacted(), ue.Err)
		}
	}
	return err.Error()
}

func checkClock(now time.Time, date string) Result {
	const name = "clock"
	if date == "" {
		return Result{Check: name, Status: Skip, Message: "the authority did not answer with a Date header"}
	}
	t, err := http.ParseTime(date)
	if err != nil {
		return Result{Check: name, Status: Skip, Message: fmt.Sprintf("the authority's Date header %q cannot be parsed", date)}
	}
	// Date has one-second precision.
	skew := now.Sub(t).Truncate(time.Second)
	abs := skew
	if abs < 0 {
		abs = -abs
	}
	msg := fmt.Sprintf("local clock is %s %s the authority's", abs, map[bool]string{true: "ahead of", false: "behind"}[skew >= 0])
	if abs <= time.Second {
		msg = "local clock agrees with the authority's (within 1 s)"
	}
	fix := "synchronise the clock (NTP: chronyd or systemd-timesyncd)"
	switch {
	case abs > skewFail:
		return Result{Check: name, Status: Fail, Message: msg + ": Entra refuses certificate and federated sign-ins off by more than 5 minutes", Fix: fix, kind: errkind.Usage}
	case abs > skewWarn:
		return Result{Check: name, Status: Warn, Message: msg, Fix: fix}
	}
	return Result{Check: name, Status: OK, Message: msg}
}

func signIn(ctx context.Context, d Deps, r *Report) (entra.Token, bool) {
	const name = "sign-in"
	if d.Token == nil {
		if d.TokenErr != nil {
			r.add(failed(name, d.TokenErr, ""))
		} else {
			r.add(Result{Check: name, Status: Skip, Message: "no sign-in configured"})
		}
		return entra.Token{}, false
	}
	tok, err := d.Token(ctx)
	if err != nil {
		r.add(failed(name, err, ""))
		return entra.Token{}, false
	}
	r.add(Result{Check: name, Status: OK, Message: "signed in as a " + tok.Kind.String()})
	return tok, true
}

// Delegated Azure DevOps permissions the PAT lifecycle API accepts.
const (
	scopeRead   = "vso.pats"
	scopeManage = "vso.pats_manage"
	scopeAll    = "user_impersonation"
)

// tokenChecks reads what the token carries (its claims are decoded without
// verification: the doctor reports, it does not trust).
func tokenChecks(tok entra.Token, now time.Time, needUser bool) []Result {
	c := entra.Claims(tok.AccessToken)
	str := func(k string) string { s, _ := c[k].(string); return s }
	var out []Result

	who := str("upn")
	if who == "" {
		who = str("unique_name")
	}
	if who == "" {
		who = str("appid")
	}
	id := Result{Check: "identity", Status: OK, Message: fmt.Sprintf("%s %s, tenant %s", tok.Kind, who, orUnknown(str("tid")))}
	if needUser {
		if err := entra.RequireUser(tok); err != nil {
			id.Status, id.Message, id.Fix, id.kind = Fail, id.Message+": the PAT lifecycle API accepts only users",
				"sign in as a technical user (--auth ropc) or with --auth device-code after `patrol login`; or use kind: entra-token credentials", errkind.Usage
		}
	}
	out = append(out, id)

	left := tok.ExpiresOn.Sub(now).Round(time.Second)
	exp := Result{Check: "token expiry", Status: OK, Message: fmt.Sprintf("expires %s (in %s)", tok.ExpiresOn.UTC().Format(time.RFC3339), left)}
	if left < 5*time.Minute {
		exp.Status, exp.Fix = Warn, "the token lives less than 5 minutes: check the clock and the tenant's token lifetime policy"
	}
	out = append(out, exp)

	if tok.Kind != entra.IdentityUser {
		return out
	}
	scp := strings.Fields(str("scp"))
	sc := Result{Check: "consented scopes", Message: "scp: " + orUnknown(strings.Join(scp, " "))}
	switch {
	case slices.Contains(scp, scopeAll) || slices.Contains(scp, scopeManage):
		sc.Status = OK
		if !slices.Contains(scp, scopeManage) {
			sc.Status, sc.Fix = Warn, "user_impersonation still works, but Microsoft asks apps to move to vso.pats + vso.pats_manage: consent those and set auth.scopes"
		}
	case slices.Contains(scp, scopeRead):
		sc.Status, sc.Fix = Warn, "vso.pats lets patrol list and read PATs only; rotation needs vso.pats_manage: add it to the app registration and grant admin consent"
	default:
		sc.Status, sc.kind = Fail, errkind.Permission
		sc.Fix = "add the delegated Azure DevOps permissions vso.pats and vso.pats_manage to the app registration and grant admin consent"
	}
	return append(out, sc)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func checkMembership(ctx context.Context, d Deps, signedIn bool) Result {
	name := "organization"
	if d.Organization != "" {
		name += " " + d.Organization
	}
	switch {
	case d.Organization == "":
		return Result{Check: name, Status: Skip, Message: "no organization configured", Fix: "set organization: in patrol.yaml, --org or AZURE_DEVOPS_ORG"}
	case d.PATs == nil && d.PATsErr != nil:
		return failed(name, d.PATsErr, "")
	case d.PATs == nil || !signedIn:
		return Result{Check: name, Status: Skip, Message: "not checked: no sign-in"}
	}
	cd, err := d.PATs.ConnectionData(ctx)
	if err != nil {
		return failed(name, err, "add the identity to the organization (Organization settings → Users) with at least Basic access")
	}
	if cd.AuthenticatedUser.ID == "" || cd.AuthenticatedUser.ID == "00000000-0000-0000-0000-000000000000" {
		return Result{Check: name, Status: Fail, Message: "Azure DevOps answered as for an anonymous caller",
			Fix: "add the identity to the organization (Organization settings → Users)", kind: errkind.Auth}
	}
	who := cd.AuthenticatedUser.ProviderDisplayName
	if who == "" {
		who = cd.AuthenticatedUser.ID
	}
	return Result{Check: name, Status: OK, Message: "member: " + who}
}
