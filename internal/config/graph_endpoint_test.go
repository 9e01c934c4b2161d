package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// endpoints.graph follows the authority's cloud unless it is set; the
// environment and the file override it; plain HTTP is refused naming it.
func TestGraphEndpoint(t *testing.T) {
	envOf := func(kv map[string]string) LookupEnv {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"public", map[string]string{}, "https://graph.microsoft.com"},
		{"us government", map[string]string{EnvAuthorityHost: "https://login.microsoftonline.us/"}, "https://graph.microsoft.us"},
		{"china", map[string]string{EnvAuthorityHost: "https://login.chinacloudapi.cn/"}, "https://microsoftgraph.chinacloudapi.cn"},
		{"env wins", map[string]string{EnvAuthorityHost: "https://login.microsoftonline.us/", EnvGraphURL: "https://dod-graph.microsoft.us"}, "https://dod-graph.microsoft.us"},
	} {
		got, err := LoadConnection(LoadOptions{Env: envOf(c.env)})
		if err != nil || got.Endpoints.Graph != c.want {
			t.Errorf("%s: graph %q (err %v), want %q", c.name, got.Endpoints.Graph, err, c.want)
		}
	}
	path := filepath.Join(t.TempDir(), "patrol.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: patrol.dev/v1\nendpoints: {graph: https://graph.microsoft.us}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadConnection(LoadOptions{File: path, Env: envOf(nil)}); err != nil || got.Endpoints.Graph != "https://graph.microsoft.us" {
		t.Errorf("file: graph %q (err %v)", got.Endpoints.Graph, err)
	}
	_, err := LoadConnection(LoadOptions{Env: envOf(map[string]string{EnvGraphURL: "http://graph.microsoft.com"})})
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(ce.Source, "endpoints.graph") || !strings.Contains(ce.Fix, "https://") {
		t.Errorf("plain http: %v", err)
	}
}
