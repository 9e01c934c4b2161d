package output

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/redact"
)

// Redacted replaces secret attribute values in logs.
const Redacted = "REDACTED"

// secretKeyParts are substrings of attribute keys whose values are secrets.
var secretKeyParts = []string{
	"token", "password", "passwd", "secret", "authorization", "assertion",
	"cookie", "credential", "privatekey", "private_key", "apikey", "api_key",
}

// notSecretKeys are keys that contain a secret-sounding part but carry
// metadata (ids, counts, kinds), never the secret itself.
var notSecretKeys = map[string]bool{
	"authorizationid": true, "authorization_id": true, "tokenkind": true, "token_kind": true,
	"credentialname": true, "credential_name": true, "tokentype": true, "token_type": true,
	"tokenexpires": true, "token_expires": true, "tokencache": true, "token_cache": true,
}

// IsSecretKey reports whether an attribute key names a secret value.
func IsSecretKey(key string) bool {
	k := strings.ToLower(key)
	if notSecretKeys[k] {
		return false
	}
	for _, p := range secretKeyParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// RedactAttr is a slog ReplaceAttr function that replaces the value of any
// attribute whose key names a secret (see IsSecretKey) with "REDACTED", and
// passes every other string, error and Stringer value, the message
// included, through internal/redact (every secret this process registered,
// JWTs, PATs of either format, Basic/Bearer values). Groups are walked recursively. Empty
// values stay empty so that "not set" is still visible.
func RedactAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindGroup {
		attrs := a.Value.Group()
		out := make([]any, 0, len(attrs))
		for _, g := range attrs {
			out = append(out, RedactAttr(nil, g))
		}
		return slog.Group(a.Key, out...)
	}
	if IsSecretKey(a.Key) {
		if a.Value.Kind() == slog.KindString && a.Value.String() == "" {
			return a
		}
		return slog.String(a.Key, Redacted)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if v := a.Value.String(); v != "" {
			if r := redact.String(v); r != v {
				return slog.String(a.Key, r)
			}
		}
	case slog.KindAny:
		switch x := a.Value.Any().(type) {
		case error:
			if x != nil {
				return slog.String(a.Key, redact.Error(x))
			}
		case fmt.Stringer:
			return slog.String(a.Key, redact.String(x.String()))
		}
	}
	return a
}

// LogFormats and LogLevels list the valid values.
var (
	LogFormats = []string{"text", "json"}
	LogLevels  = []string{"debug", "info", "warn", "error"}
)

// ParseLogLevel parses debug|info|warn|error (case-insensitive; "warning" is
// accepted for warn).
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, errkind.New(errkind.Usage, fmt.Errorf("log level %q (flag --log-level, env PATROL_LOG_LEVEL, log.level) is not valid: use one of debug, info, warn, error", s))
}

// NewLogger builds a slog logger writing to w. format is text or json ("" =
// text when w is a terminal, json otherwise); level as ParseLogLevel ("" =
// defaultLevel). Every attribute goes through RedactAttr.
func NewLogger(w io.Writer, format, level string, defaultLevel slog.Level) (*slog.Logger, error) {
	lvl := defaultLevel
	if level != "" {
		var err error
		if lvl, err = ParseLogLevel(level); err != nil {
			return nil, err
		}
	}
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: RedactAttr}
	switch strings.ToLower(strings.TrimSpace(format)) {
	case "":
		if IsTerminal(w) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, errkind.New(errkind.Usage, fmt.Errorf("log format %q (flag --log-format, env PATROL_LOG_FORMAT, log.format) is not valid: use text or json", format))
}
