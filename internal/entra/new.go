package entra

import (
	"context"
	"errors"
	"fmt"
	"regexp"
)

// New returns the TokenSource for opts: Resolve picks the method, the flow's
// source is wrapped so each sign-in logs one debug line (method, tenant,
// client, kind, expiry; never secrets) and cached with ReuseTokenSource
// (one sign-in per process, refreshed DefaultRefreshMargin early).
func New(opts Options) (TokenSource, error) {
	o := opts.withDefaults()
	m, err := Resolve(o)
	if err != nil {
		return nil, err
	}
	o.Method = m
	var src TokenSource
	switch m {
	case MethodROPC:
		src = ropcSource{o: o}
	case MethodDeviceCode:
		src = &refreshSource{o: o, store: o.store()}
	case MethodClientSecret, MethodClientCertificate, MethodWorkloadIdentity, MethodManagedIdentity, MethodAzureCLI:
		src, err = o.newCredSource(m)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("entra: unsupported method %q", m)
	}
	return reuseWithClock(&loggingSource{o: o, src: src}, DefaultRefreshMargin, o.Now), nil
}

type loggingSource struct {
	o   Options
	src TokenSource
}

func (l *loggingSource) Token(ctx context.Context) (Token, error) {
	tok, err := l.src.Token(ctx)
	if err != nil {
		l.o.Logger.DebugContext(ctx, "entra: sign-in failed", "method", string(l.o.Method), "tenant", l.o.TenantID, "client", l.o.ClientID)
		return Token{}, l.o.renameSettings(err)
	}
	l.o.Logger.DebugContext(ctx, "entra: signed in", "method", string(l.o.Method), "tenant", l.o.TenantID,
		"client", l.o.ClientID, "kind", tok.Kind.String(), "expires", tok.ExpiresOn.UTC())
	return tok, nil
}

// settingRE matches the environment variables the hints name.
var settingRE = regexp.MustCompile(`\bAZURE_[A-Z_]+\b`)

// renameSettings rewrites a SignInError's hint to name the settings by
// o.Settings (the config file's fields of an identity) instead of the
// environment variables, which that identity does not read.
func (o Options) renameSettings(err error) error {
	var se *SignInError
	if len(o.Settings) == 0 || !errors.As(err, &se) || se.Hint == "" {
		return err
	}
	se.Hint = settingRE.ReplaceAllStringFunc(se.Hint, func(v string) string {
		if n, ok := o.Settings[v]; ok {
			return n
		}
		return v
	})
	return err
}
