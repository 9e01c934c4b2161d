package mustache

import (
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		`Basic {{ #base64 endpoint.username ":" endpoint.password }}`,
		`Basic {{ #base64 "token" ":" endpoint.apitoken }}`,
		`Bearer {{#decodeBase64 endpoint.apiToken}}`,
		`{{{#headers.x-ms-continuationtoken}}}true{{{/headers.x-ms-continuationtoken}}}`,
		`{"skip": "{{add skip 5000}}"}`,
		`{{isEqualNumber result.count 5000}}`,
		`{{#equals request.Method 'POST' 1}}x{{else}}y{{/equals}}`,
		jenkinsTemplate,
		`{{{ #regex /?(.*$) uri}}}`,
		`{{{ #stringReplace ' ' '' WebSiteLocation}}}`,
		`{{#*inline "p"}}{{this}}{{/inline}}{{#each items}}{{> p}}{{/each}}`,
		`{{#if a}}1{{else if b}}2{{else}}3{{/if}}`,
		`\{{x}} {{!-- c --}} {{^x}}{{/x}} {{../a}} {{@root.b}} {{a.[0]['k']}}`,
		`{{stringFormat '{0,-3:D2}' 5}} {{toDateTimeFormat date 'yyyy-MM-dd'}}`,
		`{{#selectTokens '$.builds[?(@.id > 5)]'}}{{name}}{{/selectTokens}}`,
		`{{{#uriDataEncode 1 x}}}{{{/uridataencode}}}`,
		`{{#recursiveFormat 3 'a{0}' 'b{0}'}}`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	data := fixture()
	data["jobs"] = jenkinsData()["jobs"]
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := ParseWith(src, Options{Timeout: 2 * time.Second, MaxOutput: 1 << 16})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("parse error of type %T", err)
			}
			return
		}
		if tpl.Source() != src {
			t.Fatal("Source differs")
		}
		out, err := tpl.Render(data)
		if err == nil && !strings.Contains(src, "{{") && !strings.Contains(src, `\}}`) && out != src {
			t.Fatalf("plain text changed: %q -> %q", src, out)
		}
	})
}
