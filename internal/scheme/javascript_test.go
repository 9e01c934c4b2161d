package scheme

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
)

const jsType = `{id: "js", type: "ms.vss-endpoint.service-endpoint-type", properties: {
  name: "jsType", url: "https://js.example/",
  authenticationSchemes: [{type: "ms.vss-endpoint.endpoint-auth-scheme-token"}],
  dataSources: [{name: "TestConnection", endpointUrl: "api/ping"}]}}`

func TestJavaScriptManifests(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A CommonJS module exporting the manifest object.
	ts, err := LoadManifestFile(write("vss-extension.js", "'use strict';\nconst types = ["+jsType+"];\nmodule.exports = {id: 'x', contributions: types};\n"))
	if err != nil || len(ts) != 1 || ts[0].Name != "jsType" {
		t.Fatalf("object export: %v %+v", err, ts)
	}
	// A function of the environment (tfx --env mode=dev).
	fn := write("manifest.js", `module.exports = function (env) {
  const t = `+jsType+`;
  t.properties.name = "jsType-" + (env.mode || "none");
  return {contributions: [t]};
};`)
	ts, err = LoadManifestFileWith(fn, JSOptions{Env: map[string]string{"mode": "dev"}})
	if err != nil || ts[0].Name != "jsType-dev" {
		t.Fatalf("function export: %v %+v", err, ts)
	}
	ts, err = LoadManifestFile(fn)
	if err != nil || ts[0].Name != "jsType-none" {
		t.Fatalf("function export without env: %v", err)
	}
	for _, tc := range []struct{ name, src, want string }{
		{"require", "const fs = require('fs'); module.exports = {};", `require("fs") is not available`},
		{"process", "module.exports = {contributions: [], x: process.env.HOME};", "process is not defined"},
		{"network", "fetch('https://example.com/'); module.exports = {};", "fetch is not defined"},
		{"syntax", "module.exports = {\n  contributions: [\n};", "Line 3"},
		{"esm", "export default {contributions: []};", "module.exports"},
		{"loop", "while (true) {}", "did not finish within"},
		{"recursion", "function f() { return f(); } f();", "stack"},
		{"nothing", "exports.x = 1;", "no contribution"},
		{"not an object", "module.exports = 42;", "must export the manifest object or a function returning it"},
	} {
		_, err := LoadManifestFileWith(write(tc.name+".js", tc.src), JSOptions{Timeout: 200 * time.Millisecond})
		var me *ManifestError
		if err == nil || !errors.As(err, &me) || errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want a usage ManifestError containing %q", tc.name, err, tc.want)
		}
	}
	// Bounded input and result.
	big := write("big.js", "module.exports = {};"+strings.Repeat(" ", MaxJSManifestSize))
	if _, err := LoadManifestFile(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized source: %v", err)
	}
	huge := write("huge.js", "const a = []; for (let i = 0; i < 2000; i++) a.push('x'.repeat(1000)); module.exports = {contributions: a};")
	if _, err := LoadManifestFileWith(huge, JSOptions{MaxResult: 100_000}); err == nil || !strings.Contains(err.Error(), "100000 bytes") {
		t.Errorf("oversized result: %v", err)
	}
	grow := write("grow.js", "const a = []; while (true) a.push('x'.repeat(65536) + a.length);")
	if _, err := LoadManifestFileWith(grow, JSOptions{MaxHeapGrowth: 16 << 20, Timeout: time.Minute}); err == nil || !strings.Contains(err.Error(), "allocated more than 16 MiB") {
		t.Errorf("heap growth: %v", err)
	}
}
