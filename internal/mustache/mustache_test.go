package mustache

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/errkind"
)

// fixture is the data most golden cases render against. The secrets are
// emulator-style fakes.
func fixture() map[string]any {
	return map[string]any{
		"endpoint": map[string]any{
			"username":       "svc-build",
			"password":       "p@ss:w&rd",
			"apitoken":       "pat-123",
			"AccessToken":    "gh-token",
			"apiToken":       "ZXlKaGJHY2lPaUpTVXpJMU5pSjkuc2E=", // base64 of eyJhbGciOiJSUzI1NiJ9.sa
			"url":            "https://sonar.example/",
			"subscriptionId": "sub-1",
		},
		"request":    map[string]any{"Method": "post", "Host": "h", "AbsolutePath": "/a", "Query": ""},
		"headers":    map[string]any{"x-ms-continuationtoken": "ct-1"},
		"skip":       "5000",
		"result":     map[string]any{"count": 5000.0},
		"name":       "Tom & Jerry <tj> 'x' \"q\" café ÿ",
		"items":      []any{"a", "b", "c"},
		"empty":      []any{},
		"obj":        map[string]any{"b": 2.0, "a": 1.0},
		"zero":       0.0,
		"yes":        true,
		"no":         false,
		"nothing":    nil,
		"emptyStr":   "",
		"num":        json.Number("42"),
		"pi":         3.25,
		"nested":     map[string]any{"list": []any{map[string]any{"id": 7.0, "tags": []any{"x", "y"}}}},
		"uri":        "/subscriptions/s1/resourceGroups/rg-one/providers/Microsoft.Web/sites/web1",
		"location":   "West Europe",
		"table":      "change_request",
		"definition": "folder/job",
		"date":       "2024-03-05T07:08:09.1234567Z",
		"csv":        "one,two,three",
		"url":        "https://x.example/cb?code=abc&state=s%201",
		"builds": []any{
			map[string]any{"id": 3.0, "name": "c", "artifacts": []any{map[string]any{"n": "a1"}}},
			map[string]any{"id": 10.0, "name": "a", "artifacts": []any{map[string]any{"n": "a2", "id": 99.0}}},
			map[string]any{"id": 7.0, "name": "b"},
		},
		"defaultResultKey": "/subscriptions/s1/resourceGroups/rg-two/providers/x",
		"extra":            map[string]any{"k2": "v\"2", "k1": "v1"},
		"versions":         "v10, v2 and 7",
		"ml":               "a\n\t\"b\"\\",
	}
}

type golden struct {
	name, src string
	want      string
	err       string // substring of the error, when an error is expected
}

func runGolden(t *testing.T, cases []golden, data any) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := Parse(tc.src)
			if err == nil {
				var out string
				out, err = tpl.Render(data)
				if err == nil {
					if tc.err != "" {
						t.Fatalf("Render(%q) = %q, want error containing %q", tc.src, out, tc.err)
					}
					if out != tc.want {
						t.Fatalf("Render(%q)\n got %q\nwant %q", tc.src, out, tc.want)
					}
					return
				}
			}
			if tc.err == "" {
				t.Fatalf("%q: unexpected error %v", tc.src, err)
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("%q: error %q does not contain %q", tc.src, err, tc.err)
			}
		})
	}
}

func TestSyntax(t *testing.T) {
	runGolden(t, []golden{
		{"plain text", "hello", "hello", ""},
		{"html encoded", "{{name}}", "Tom &amp; Jerry &lt;tj&gt; &#39;x&#39; &quot;q&quot; caf&#233; &#255;", ""},
		{"triple raw", "{{{name}}}", "Tom & Jerry <tj> 'x' \"q\" café ÿ", ""},
		{"ampersand raw", "{{& name}}", "Tom & Jerry <tj> 'x' \"q\" café ÿ", ""},
		{"U+0100 not encoded", "{{x}}", "", ""},
		{"spaces around name", "{{ endpoint.apitoken }}", "pat-123", ""},
		{"dash key", "{{headers.x-ms-continuationtoken}}", "ct-1", ""},
		{"index", "{{items[1]}}{{nested.list[0].tags[1]}}", "by", ""},
		{"bracket after dot", "{{items.[2]}}", "c", ""},
		{"quoted bracket key", "{{headers.['x-ms-continuationtoken']}}", "ct-1", ""},
		{"case-insensitive key fallback", "{{endpoint.USERNAME}}|{{endpoint.accesstoken}}|{{endpoint.APITOKEN}}", "svc-build|gh-token|ZXlKaGJHY2lPaUpTVXpJMU5pSjkuc2E=", ""},
		{"data shadows a bare helper name", "{{date}}|{{#date}}d{{/date}}", "2024-03-05T07:08:09.1234567Z|d", ""},
		{"missing is empty", "[{{does.not.exist}}]", "[]", ""},
		{"numbers", "{{result.count}} {{pi}} {{num}} {{zero}}", "5000 3.25 42 0", ""},
		{"bool", "{{yes}} {{no}}", "true false", ""},
		{"null", "[{{nothing}}]", "[]", ""},
		{"object as json", "{{{obj}}}", `{"a":1,"b":2}`, ""},
		{"array length", "{{items.length}}", "3", ""},
		{"escaped braces", `\{{name}} \}}`, "{{name}} }}", ""},
		{"comment", "a{{! a comment }}b{{!-- has }} inside --}}c", "abc", ""},
		{"section array", "{{#items}}<{{.}}>{{/items}}", "<a><b><c>", ""},
		{"section object pushes", "{{#endpoint}}{{username}}{{/endpoint}}", "svc-build", ""},
		{"section false", "{{#no}}x{{else}}y{{/no}}", "y", ""},
		{"section empty array", "{{#empty}}x{{else}}none{{/empty}}", "none", ""},
		{"section zero", "{{#zero}}x{{/zero}}", "", ""},
		{"section empty string", "{{#emptyStr}}x{{/emptyStr}}", "", ""},
		{"section empty object truthy", "{{#obj}}t{{/obj}}", "t", ""},
		{"inverted", "{{^empty}}none{{/empty}}{{^items}}x{{/items}}", "none", ""},
		{"inverted with else", "{{^items}}x{{else}}y{{/items}}", "y", ""},
		{"triple section", "{{{#headers.x-ms-continuationtoken}}}true{{{/headers.x-ms-continuationtoken}}}", "true", ""},
		{"triple section absent", "{{{#headers.nope}}}true{{{/headers.nope}}}", "", ""},
		{"this and dot", "{{#items}}{{this}}{{./length}}{{/items}}", "abc", ""},
		{"parent path", "{{#nested.list}}{{#tags}}{{../id}}{{this}}{{/tags}}{{/nested.list}}", "7x7y", ""},
		{"root", "{{#nested.list}}{{@root.skip}}{{/nested.list}}", "5000", ""},
		{"index first last", "{{#items}}{{@index}}{{#if @first}}F{{/if}}{{#if @last}}L{{/if}}{{/items}}", "0F12L", ""},
		{"each object key", "{{#each obj}}{{@key}}={{this}};{{/each}}", "a=1;b=2;", ""},
		{"each array", "{{#each items}}{{@index}}:{{this}}{{#unless @last}},{{/unless}}{{/each}}", "0:a,1:b,2:c", ""},
		{"each empty else", "{{#each empty}}x{{else}}empty{{/each}}", "empty", ""},
		{"if else", "{{#if yes}}Y{{else}}N{{/if}}{{#if no}}Y{{else}}N{{/if}}", "YN", ""},
		{"else if chain", "{{#if no}}1{{else if zero}}2{{else if yes}}3{{else}}4{{/if}}", "3", ""},
		{"unless", "{{#unless no}}ok{{/unless}}", "ok", ""},
		{"with", "{{#with endpoint}}{{url}}{{/with}}", "https://sonar.example/", ""},
		{"with missing else", "{{#with nope}}x{{else}}none{{/with}}", "none", ""},
		{"lookup", "{{lookup items 1}}{{lookup endpoint 'username'}}", "bsvc-build", ""},
		{"if does not add a ../ level", "{{#nested.list}}{{#if id}}{{../skip}}{{/if}}{{/nested.list}}", "5000", ""},
		{"inline partial", `{{#*inline "p"}}[{{this}}]{{/inline}}{{#items}}{{> p}}{{/items}}`, "[a][b][c]", ""},
		{"partial with context", `{{#*inline "u"}}{{username}}{{/inline}}{{> u endpoint}}`, "svc-build", ""},
		{"unclosed block at end", "Bearer {{#decodeBase64 endpoint.apiToken}}", "Bearer eyJhbGciOiJSUzI1NiJ9.sa", ""},
		{"unclosed section at end", "a{{#items}}{{.}}", "aabc", ""},
		{"close is case-insensitive", "{{{#uriDataEncode 1 endpoint.password}}}{{{/uridataencode}}}", "p%40ss%3Aw%26rd", ""},
		{"multi-line positions", "line1\n  {{#if}}", "", "line 2, col 3"},
		{"missing helper with args", "{{nohelper a b}}", "", `missing helper "nohelper"`},
		{"missing block helper with args", "{{#nohelper a}}x{{/nohelper}}", "", `missing helper "nohelper"`},
		{"# inline not registered", "{{ #toLower x }}", "", `missing helper "#toLower"`},
		{"# inline notEquals not registered", "{{ #notEquals a b }}", "", "missing helper"},
		{"block call of #-only helper", "{{#regex a b}}{{/regex}}", "", `missing helper "regex"`},
		{"mismatched close", "{{#if yes}}{{/each}}", "", "does not match"},
		{"stray close", "{{/if}}", "", "closes nothing"},
		{"stray else", "{{else}}", "", "outside a block"},
		{"unclosed tag", "{{name", "", "unclosed {{ tag"},
		{"unclosed triple", "{{{name}}", "", "unclosed {{{ tag"},
		{"empty tag", "{{ }}", "", "empty tag"},
		{"bad data var", "{{@nope}}", "", "unknown data variable"},
		{"undefined partial", "{{> nope}}", "", "partial \"nope\" is not defined"},
		{"if without condition", "{{#if}}x{{/if}}", "", "needs a condition"},
	}, fixture())
}

func TestHelpers(t *testing.T) {
	runGolden(t, []golden{
		// Seed 1 and the recorded types list (service-endpoints.md §6).
		{"basic header seed 1", `Basic {{ #base64 endpoint.username ":" endpoint.password }}`, "Basic c3ZjLWJ1aWxkOnBAc3M6dyZyZA==", ""},
		{"token header", `Basic {{ #base64 "token" ":" endpoint.apitoken }}`, "Basic dG9rZW46cGF0LTEyMw==", ""},
		{"github token header", `Basic {{ #base64 "token" ":" endpoint.AccessToken }}`, "Basic dG9rZW46Z2gtdG9rZW4=", ""},
		{"base64 single quotes", `{{ #base64 'a' endpoint.apitoken }}`, "YXBhdC0xMjM=", ""},
		{"base64 block spelling", `{{#base64 endpoint.username ":" endpoint.password}}`, "c3ZjLWJ1aWxkOnBAc3M6dyZyZA==", ""},
		{"base64 missing endpoint value", `{{ #base64 endpoint.username ":" endpoint.nope }}`, "", "endpoint.nope is not set"},
		{"base64 does not resolve non-endpoint paths", `{{ #base64 skip }}`, "c2tpcA==", ""},
		{"base64 utf8", `{{ #base64 "é" }}`, "w6k=", ""},
		{"token header html-encodes", `{{endpoint.password}}`, "p@ss:w&amp;rd", ""},
		{"jfrog bearer", `Bearer {{ endpoint.apitoken }}`, "Bearer pat-123", ""},
		{"decodeBase64 inline", `{{ #decodeBase64 endpoint.apiToken }}`, "eyJhbGciOiJSUzI1NiJ9.sa", ""},
		{"decodeBase64 invalid", `{{ #decodeBase64 endpoint.password }}`, "", "not valid Base64"},
		{"jsonEscape", `{"p":"{{ #jsonEscape name }}"}`, `{"p":"Tom & Jerry <tj> 'x' \"q\" café ÿ"}`, ""},
		{"regex group 1", `{{{ #regex /?(.*$) uri}}}`, "subscriptions/s1/resourceGroups/rg-one/providers/Microsoft.Web/sites/web1", ""},
		{"regex group", `{{ #regex resourceGroups/([^/]+) uri }}`, "rg-one", ""},
		{"regex no group", `{{ #regex s[0-9] uri }}`, "s1", ""},
		{"regex starting with a class", `{{ #regex [a-z]+/([a-z0-9]+) uri }}`, "s1", ""},
		{"regex quoted pattern with space", `{{ #regex 'West (E.*)' location }}`, "Europe", ""},
		{"regex no match", `[{{ #regex zzz(q) uri }}]`, "[]", ""},
		{"regex invalid", `{{ #regex a( uri }}`, "", "not a valid RE2"},
		{"jsonEscape control characters", `{{ #jsonEscape ml }}`, `a\n\t\"b\"\\`, ""},
		{"#stringReplace quoted space", `{{{ #stringReplace ' ' '' location}}}`, "WestEurope", ""},
		{"#stringReplace kind", `{{{ #stringReplace 'linux' ',linux' table}}}`, "change_request", ""},
		{"#stringReplace arrays", `{{ #stringReplace ["West","Europe"] ["Ost","Asien"] location }}`, "Ost Asien", ""},
		{"#stringReplace arrays mismatch", `{{ #stringReplace ["a"] ["b","c"] location }}`, "", "pair up"},
		{"stringReplace plain", `{{stringReplace location ' ' '-'}}`, "West-Europe", ""},
		{"stringReplace block", `{{#stringReplace 'o' '0'}}{{table}} foo{{/stringReplace}}`, "change_request f00", ""},
		{"#subString", `{{ #subString 0 4 location }}|{{ #subString 5 100 location }}|{{ #subString 50 2 location }}`, "West|Europe|", ""},
		{"#extractResource default key", `{{ #extractResource resourceGroups }}`, "rg-two", ""},
		{"#extractResource key", `{{ #extractResource uri sites }}`, "web1", ""},
		{"#extractResource case-insensitive", `{{ #extractResource uri RESOURCEGROUPS }}`, "rg-one", ""},
		{"uriDataEncode once", `{{uriDataEncode 1 name}}`, "Tom%20%26%20Jerry%20%3Ctj%3E%20%27x%27%20%22q%22%20caf%C3%A9%20%C3%BF", ""},
		{"uriDataEncode twice", `{{uriDataEncode 2 endpoint.password}}`, "p%2540ss%253Aw%2526rd", ""},
		{"uriDataEncode servicenow form", `code={{{#uriDataEncode 1 endpoint.password}}}{{{/uridataencode}}}&x=1`, "code=p%40ss%3Aw%26rd&x=1", ""},
		{"toLower", `{{toLower location}}{{toLowerInvariant 'ABC'}}{{stringLower 'Q'}}`, "west europeabcq", ""},
		{"equals inline", `{{equals table 'change_request'}} {{equals table 'CHANGE_REQUEST'}} {{equals table 'CHANGE_REQUEST' 1}}`, "true false true", ""},
		{"equals block ignoreCase", `{{#equals request.Method 'POST' 1}}crumb{{/equals}}`, "crumb", ""},
		{"equals block case-sensitive", `{{#equals request.Method 'POST'}}crumb{{else}}none{{/equals}}`, "none", ""},
		{"servicenow callback", `{{#equals table "change_request"}}{{isEqualNumber result.count 0}}{{else}}false{{/equals}}`, "false", ""},
		{"notEquals", `{{#notEquals table 'x'}}ne{{/notEquals}}{{notEquals 1 1}}`, "nefalse", ""},
		{"contains", `{{contains location 'Europe'}} {{stringContains location 'europe'}} {{contains location 'europe' true}} {{contains items 'b'}}`, "true false true true", ""},
		{"stringLeft", `{{stringLeft location 4}}|{{stringLeft location 4 '…'}}|{{stringLeft 'ab' 5 '…'}}`, "West|West…|ab", ""},
		{"stringRight", `{{stringRight location 6}}|{{stringRight 'ab' 9}}`, "Europe|ab", ""},
		{"stringPad", `[{{stringPadLeft '7' 3 '0'}}][{{stringPadRight 'ab' 4}}][{{stringPadLeft 'abcd' 2}}]`, "[007][ab  ][abcd]", ""},
		{"stringFormat", `{{stringFormat '{0}-{1}/{0}' table skip}}`, "change_request-5000/change_request", ""},
		{"stringFormat specs", `{{stringFormat '[{0,5}][{0,-5}][{1:D4}][{2:N2}][{3:F1}][{4:X}]' 'ab' 42 1234.5 3.25 255}}`, "[   ab][ab   ][0042][1,234.50][3.3][FF]", ""},
		{"stringFormat date", `{{stringFormat '{0:yyyy/MM/dd}' date}}`, "2024/03/05", ""},
		{"stringFormat missing arg", `{{stringFormat '{1}' a}}`, "", "only 1 argument"},
		{"and or", `{{and yes items}} {{and yes no}} {{or no zero}} {{or no 'x'}}`, "true false false true", ""},
		{"and block", `{{#and yes location}}both{{else}}no{{/and}}`, "both", ""},
		{"isEqualNumber", `{{isEqualNumber result.count 5000}} {{isEqualNumber result.count 4999}} {{isEqualNumber skip '5000'}}`, "true false true", ""},
		{"arrayLength", `{{arrayLength items}} {{arrayLength empty}} {{arrayLength nope}}`, "3 0 0", ""},
		{"add paging", `{"skip": "{{add skip 5000}}"}`, `{"skip": "10000"}`, ""},
		{"add absent is zero", `{{add nope 1000}}`, "1000", ""},
		{"add float", `{{add pi 1}}`, "4.25", ""},
		{"add not a number", `{{add location 1}}`, "", "not a number"},
		{"isTokenPresent", `{{isTokenPresent endpoint.url}} {{isTokenPresent endpoint.nope}} {{isTokenPresent 'nested.list[0].id'}} {{isTokenPresent nothing}}`, "true false true false", ""},
		{"isTokenPresent block", `{{#isTokenPresent headers.x-ms-continuationtoken}}more{{/isTokenPresent}}`, "more", ""},
		{"isTokenContainsSubstring", `{{isTokenContainsSubstring location 'Eur'}} {{isTokenContainsSubstring location 'x'}}`, "true false", ""},
		{"getTokenValue", `{{getTokenValue nested.list[0].id}}|{{getTokenValue 'obj'}}`, `7|{"a":1,"b":2}`, ""},
		{"endsWith", `{{endsWith location 'Europe'}} {{endsWith location 'EUROPE' true}} {{endsWith location 'Europe' false true}}`, "true true false", ""},
		{"toAlphaNumericString", `{{toAlphaNumericString name}}|{{toAlphaNumericString name 5}}`, "TomJerrytjxqcaféÿ|TomJe", ""},
		{"toDateTimeFormat", `{{toDateTimeFormat date 'yyyy-MM-dd HH:mm:ss.fff'}}`, "2024-03-05 07:08:09.123", ""},
		{"toDateTimeFormat literal", `{{toDateTimeFormat '2024-12-31T23:59:59+02:00' 'yyyyMMddTHHmmssZ'}}`, "20241231T215959Z", ""},
		{"toDateTimeFormat names", `{{toDateTimeFormat date 'ddd dd MMM yy h tt'}}`, "Tue 05 Mar 24 7 AM", ""},
		{"toDateTimeFormat standard o", `{{toDateTimeFormat date 'o'}}`, "2024-03-05T07:08:09.1234567Z", ""},
		{"toDateTimeFormat quoted literal", `{{toDateTimeFormat date "yyyy'y'"}}`, "2024y", ""},
		{"toDateTimeFormat bad date", `{{toDateTimeFormat location 'yyyy'}}`, "", "is not a date"},
		{"selectTokens block", `{{#selectTokens '$.builds[?(@.id > 5)]'}}{{name}};{{/selectTokens}}`, "a;b;", ""},
		{"selectTokens newtonsoft dot-bracket", `{{#selectTokens '$.items.[*]'}}{{this}}{{/selectTokens}}`, "abc", ""},
		{"selectTokens slice", `{{#selectTokens '$.items[1:]'}}{{this}}{{/selectTokens}}`, "bc", ""},
		{"selectTokens single-quoted equality", `{{#selectTokens "$.builds[?(@.name=='b')].id"}}{{this}}{{/selectTokens}}`, "7", ""},
		{"selectTokens inline", `{{selectTokens '$.items[0:2]'}}`, `["a","b"]`, ""},
		{"sortBy", `{{#sortBy builds 'name'}}{{name}}{{/sortBy}}|{{#sortBy builds 'id' 'desc'}}{{id}},{{/sortBy}}`, "abc|10,7,3,", ""},
		{"sortBy context", `{{#with builds}}{{#sortBy 'id'}}{{id}} {{/sortBy}}{{/with}}`, "3 7 10 ", ""},
		{"selectMaxOfLong", `{{selectMaxOfLong builds id}}|{{#selectMaxOfLong builds id}}{{name}}{{/selectMaxOfLong}}`, "10|a", ""},
		{"copyFieldFromParent", `{{#copyFieldFromParent builds artifacts id}}{{#each builds}}{{#each artifacts}}{{n}}:{{id}} {{/each}}{{/each}}{{/copyFieldFromParent}}`, "a1:3 a2:99 ", ""},
		{"splitAndIterate", `{{#splitAndIterate ',' csv}}[{{this}}]{{/splitAndIterate}}`, "[one][two][three]", ""},
		{"splitAndPrefix", `{{endpoint.url}}{{#splitAndPrefix definition '/' '/job/'}}{{/splitAndPrefix}}/api/json`, "https://sonar.example//job/folder/job/job/api/json", ""},
		{"splitAndPrefix empty sep", `{{#splitAndPrefix definition '' '/job/'}}{{/splitAndPrefix}}`, "/job/folder/job", ""},
		{"joinPaths", `{{joinPaths 'a/' '/b c' definition}}`, "a/b c/folder/job", ""},
		{"removePrefixFromPath", `{{removePrefixFromPath 'folder' definition}}`, "job", ""},
		{"extractUrlQueryParameter", `{{extractUrlQueryParameter url 'nope,state'}}|{{extractUrlQueryParameter url 'CODE'}}`, "s 1|abc", ""},
		{"toCommaSeparatedKeyValueList", `{"a":"b"{{toCommaSeparatedKeyValueList extra true}}}`, `{"a":"b","k1":"v1","k2":"v\"2"}`, ""},
		{"extractNumbersAndSort", `{{extractNumbersAndSort versions}}`, "2,7,10", ""},
		{"recursiveFormat", `api/json?{{#recursiveFormat 2 'tree=jobs[name{0}]' ',jobs[name{0}]'}}`, "api/json?tree=jobs[name,jobs[name,jobs[name]]]", ""},
		{"newGuid bad format", `{{newGuid 'Q'}}`, "", "unknown GUID format"},
	}, fixture())
}

func TestGUIDHelpers(t *testing.T) {
	for src, n := range map[string]int{"{{newGuid}}": 36, "{{newGuid 'N'}}": 32, "{{newGuid 'B'}}": 38, "{{shortGuid}}": 4} {
		tpl, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		a, err := tpl.Render(nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := tpl.Render(nil)
		if len(a) != n {
			t.Errorf("%s = %q, want %d characters", src, a, n)
		}
		if src != "{{shortGuid}}" && a == b {
			t.Errorf("%s rendered the same value twice: %q", src, a)
		}
	}
}

func TestDateHelperUsesClock(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	tpl, err := ParseWith("{{date 'yyyy-MM-ddTHH:mm:ss.fZ'}} {{toDateTimeFormat 'now' 'HH'}}", Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "2025-01-02T03:04:05.6Z 03"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

// The Jenkins "Jobs" resultTemplate from the recorded endpointproxy example
// (../specs/examples/serviceEndpoint/endpointproxy/).
const jenkinsTemplate = "{{#addField jobs 'parentPath' 'name' '/'}}{{#recursiveSelect jobs}}{{#notEquals _class 'com.cloudbees.hudson.plugins.folder.Folder'}}{{#notEquals _class 'org.jenkinsci.plugins.workflow.job.WorkflowJob'}}{ \"Value\" : \"{{#if parentPath}}{{parentPath}}/{{/if}}{{name}}\", \"DisplayValue\" : \"{{#if parentPath}}{{parentPath}}/{{/if}}{{{displayName}}}\" }{{/notEquals}}{{/notEquals}}{{/recursiveSelect}}{{/addField}}"

func jenkinsData() map[string]any {
	job := func(class, name string, kids ...any) map[string]any {
		m := map[string]any{"_class": class, "name": name, "displayName": name}
		if kids != nil {
			m["jobs"] = kids
		}
		return m
	}
	const fs = "hudson.model.FreeStyleProject"
	return map[string]any{"_class": "hudson.model.Hudson", "jobs": []any{
		job(fs, "UnitTestJob"), job(fs, "TestProj"), job(fs, "PortTests"), job(fs, "LoadTests"), job(fs, "ArtifactJob"),
	}}
}

func TestJenkinsResultTemplate(t *testing.T) {
	tpl, err := Parse(jenkinsTemplate)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render(jenkinsData())
	if err != nil {
		t.Fatal(err)
	}
	// The recorded response, one JSON object per job, concatenated.
	var want strings.Builder
	for _, n := range []string{"UnitTestJob", "TestProj", "PortTests", "LoadTests", "ArtifactJob"} {
		want.WriteString(`{ "Value" : "` + n + `", "DisplayValue" : "` + n + `" }`)
	}
	if got != want.String() {
		t.Fatalf("got  %s\nwant %s", got, want.String())
	}

	// Nested folders: folders and pipelines are skipped, paths are joined.
	nested := map[string]any{"jobs": []any{
		map[string]any{"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": "team", "displayName": "Team", "jobs": []any{
			map[string]any{"_class": "hudson.model.FreeStyleProject", "name": "build", "displayName": "Build <1>"},
			map[string]any{"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "pipe", "displayName": "Pipe"},
			map[string]any{"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": "sub", "jobs": []any{
				map[string]any{"_class": "hudson.model.FreeStyleProject", "name": "deep", "displayName": "Deep"},
			}},
		}},
	}}
	got, err = tpl.Render(nested)
	if err != nil {
		t.Fatal(err)
	}
	want2 := `{ "Value" : "team/build", "DisplayValue" : "team/Build <1>" }{ "Value" : "team/sub/deep", "DisplayValue" : "team/sub/Deep" }`
	if got != want2 {
		t.Fatalf("got  %s\nwant %s", got, want2)
	}
	// addField worked on a copy: the caller's data is unchanged.
	if _, ok := nested["jobs"].([]any)[0].(map[string]any)["jobs"].([]any)[0].(map[string]any)["parentPath"]; ok {
		t.Fatal("addField mutated the caller's data")
	}
}

func TestInlineHashHelperRawArgs(t *testing.T) {
	// #getTokenUsingBasicAuth is the scheme engine's; it needs its JSON intact.
	const src = "JWT {{ #getTokenUsingBasicAuth { 'username' : 'endpoint.username', 'password' : 'endpoint.password', 'resultSelector' : 'jsonpath:$.token', 'method':'post', 'authServerUrl':'endpoint.url/v2/users/login/', 'body' : {'username' : 'endpoint.username', 'password' : 'endpoint.password'} } }}"
	const wantArgs = "{ 'username' : 'endpoint.username', 'password' : 'endpoint.password', 'resultSelector' : 'jsonpath:$.token', 'method':'post', 'authServerUrl':'endpoint.url/v2/users/login/', 'body' : {'username' : 'endpoint.username', 'password' : 'endpoint.password'} }"
	if _, err := Parse(src); err == nil || !strings.Contains(err.Error(), `missing helper "#getTokenUsingBasicAuth"`) {
		t.Fatalf("default set: want missing helper error, got %v", err)
	}
	hs := DefaultHelpers()
	var got *Call
	hs.Register("#getTokenUsingBasicAuth", func(c *Call) (any, error) {
		got = c
		return "tok<en>", nil
	})
	tpl, err := ParseWith(src, Options{Helpers: hs})
	if err != nil {
		t.Fatal(err)
	}
	out, err := tpl.Render(fixture())
	if err != nil {
		t.Fatal(err)
	}
	if out != "JWT tok<en>" {
		t.Fatalf("helper result must be written raw, got %q", out)
	}
	if got.RawArgs != wantArgs || got.Name != "#getTokenUsingBasicAuth" || got.IsBlock || len(got.Args) != 1 {
		t.Fatalf("call = %+v", got)
	}
	if v, ok := got.Lookup("endpoint.username"); !ok || v != "svc-build" {
		t.Fatalf("Lookup = %v %v", v, ok)
	}
	// Jenkins crumb: the same helper inside a comparison block.
	crumb := "{{#equals request.Method 'POST' 1}}{{ #getTokenUsingBasicAuth  { 'username' : 'endpoint.username', 'password' : 'endpoint.password', 'resultSelector' : 'jsonpath:$.crumb', 'method':'get', ignoreError:'true', 'authServerUrl':'endpoint.url/crumbIssuer/api/json/' } }}{{/equals}}"
	tpl, err = ParseWith(crumb, Options{Helpers: hs})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tpl.Render(fixture()); err != nil || out != "tok<en>" {
		t.Fatalf("crumb = %q, %v", out, err)
	}
	// Registering after parse does not change the parsed template.
	hs.Register("#getTokenUsingBasicAuth", func(c *Call) (any, error) { return "changed", nil })
	if out, _ := tpl.Render(fixture()); out != "tok<en>" {
		t.Fatalf("template must be immutable, got %q", out)
	}
}

func TestHelperSet(t *testing.T) {
	names := DefaultHelpers().Names()
	must := []string{"#base64", "base64", "#decodeBase64", "decodeBase64", "#jsonEscape", "#regex", "#stringReplace", "#subString", "#extractResource",
		"toLower", "toLowerInvariant", "equals", "notEquals", "contains", "stringContains", "stringLeft", "stringRight", "stringFormat", "and", "or",
		"isEqualNumber", "arrayLength", "add", "isTokenPresent", "getTokenValue", "endsWith", "toAlphaNumericString", "newGuid", "shortGuid",
		"toDateTimeFormat", "uriDataEncode", "addField", "selectTokens", "sortBy", "if", "unless", "each", "with", "lookup"}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	for _, m := range must {
		if !have[m] {
			t.Errorf("default helper %q missing", m)
		}
	}
	for _, n := range []string{"#toLower", "#notEquals", "#toJson", "#getFirst", "#startsWith"} {
		if have[n] {
			t.Errorf("%q must not be registered (Azure DevOps does not have it)", n)
		}
	}
	// DefaultHelpers is a copy.
	a := DefaultHelpers()
	a.Register("custom", func(*Call) (any, error) { return "c", nil })
	if _, err := Parse("{{custom x}}"); err == nil {
		t.Fatal("registering on a copy leaked into the default set")
	}
	if tpl, err := ParseWith("{{custom x}}", Options{Helpers: a}); err != nil {
		t.Fatal(err)
	} else if out, _ := tpl.Render(nil); out != "c" {
		t.Fatalf("custom = %q", out)
	}
}

func TestStrict(t *testing.T) {
	tpl, err := ParseWith("a {{nope}}", Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Render(fixture())
	var me *Error
	if !errors.As(err, &me) || me.Line != 1 || me.Col != 3 || !strings.Contains(me.Msg, `"nope" not found`) {
		t.Fatalf("err = %v", err)
	}
	if errkind.Of(err) != errkind.Usage {
		t.Fatalf("kind = %v", errkind.Of(err))
	}
}

func TestErrorsDoNotLeakSecrets(t *testing.T) {
	data := map[string]any{"endpoint": map[string]any{"password": "S3cr3t-value!"}}
	for _, src := range []string{"{{ #decodeBase64 endpoint.password }}", "{{add endpoint.password 1}}", "{{toDateTimeFormat endpoint.password 'yyyy'}}", "{{stringLeft endpoint.password endpoint.password}}"} {
		tpl, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tpl.Render(data)
		if err == nil {
			t.Fatalf("%s: want an error", src)
		}
		if strings.Contains(err.Error(), "S3cr3t") {
			t.Errorf("%s: error leaks the secret: %v", src, err)
		}
	}
}

func TestLimits(t *testing.T) {
	deep := strings.Repeat("{{#if yes}}", 21) + "x"
	if _, err := Parse(deep); err == nil || !strings.Contains(err.Error(), "deeper than 20") {
		t.Fatalf("depth 21: %v", err)
	}
	if _, err := Parse(strings.Repeat("{{#if yes}}", 20) + "x"); err != nil {
		t.Fatalf("depth 20 must parse: %v", err)
	}
	// Recursive partials hit the render depth limit instead of the stack.
	tpl, err := Parse(`{{#*inline "r"}}{{> r}}{{/inline}}{{> r}}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tpl.Render(nil); err == nil || !strings.Contains(err.Error(), "nesting deeper than 20") {
		t.Fatalf("recursive partial: %v", err)
	}
	// Output cap.
	tpl, err = ParseWith("{{#items}}{{{big}}}{{/items}}", Options{MaxOutput: 1000})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Render(map[string]any{"items": []any{map[string]any{"big": strings.Repeat("x", 400)}, map[string]any{"big": strings.Repeat("x", 400)}, map[string]any{"big": strings.Repeat("x", 400)}}})
	if err == nil || !strings.Contains(err.Error(), "exceeds 1000 bytes") {
		t.Fatalf("output cap: %v", err)
	}
	// Cancelled context.
	tpl, _ = Parse(strings.Repeat("{{#items}}{{.}}{{/items}}", 100))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = tpl.RenderContext(ctx, fixture())
	if !errors.Is(err, context.Canceled) || errkind.Of(err) != errkind.Transient {
		t.Fatalf("cancelled: %v (kind %v)", err, errkind.Of(err))
	}
	// Template size.
	if _, err := Parse(strings.Repeat("a", MaxTemplateSize+1)); err == nil {
		t.Fatal("oversized template accepted")
	}
}

func TestErrorPosition(t *testing.T) {
	_, err := Parse("ab\ncd {{#if yes}}\n  {{/each}}")
	var me *Error
	if !errors.As(err, &me) {
		t.Fatalf("%T %v", err, err)
	}
	if me.Line != 3 || me.Col != 3 || !strings.Contains(me.Msg, "line 2, col 4") {
		t.Fatalf("got %+v", me)
	}
	if errkind.Of(err) != errkind.Usage {
		t.Fatal("parse errors are Usage")
	}
	long := strings.Repeat("x", 300) + "{{"
	_, err = Parse(long)
	if !errors.As(err, &me) || len(me.Template) > 124 {
		t.Fatalf("template not truncated: %d", len(me.Template))
	}
}

func TestMapStringStringAndSource(t *testing.T) {
	const src = "{{ #base64 endpoint.username \":\" endpoint.password }}/{{user}}"
	tpl, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	if tpl.Source() != src {
		t.Fatal("Source changed")
	}
	out, err := tpl.Render(map[string]any{"endpoint": map[string]string{"Username": "u", "password": "p"}, "user": "x"})
	if err != nil || out != "dTpw/x" {
		t.Fatalf("%q %v", out, err)
	}
	out, err = tpl.Render(map[string]string{"user": "<b>"})
	if err == nil {
		t.Fatalf("missing endpoint values must fail, got %q", out)
	}
}

func TestConcurrentRenders(t *testing.T) {
	tpl, err := Parse(jenkinsTemplate)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := Parse(`Basic {{ #base64 endpoint.username ":" endpoint.password }} {{#each items}}{{@index}}{{/each}}`)
	if err != nil {
		t.Fatal(err)
	}
	data := jenkinsData()
	fx := fixture()
	want, _ := tpl.Render(data)
	wantHdr, _ := hdr.Render(fx)
	t.Run("group", func(t *testing.T) {
		for i := 0; i < 8; i++ {
			t.Run("r", func(t *testing.T) {
				t.Parallel()
				for j := 0; j < 50; j++ {
					if got, err := tpl.Render(data); err != nil || got != want {
						t.Errorf("concurrent render differs: %v", err)
						return
					}
					if got, err := hdr.Render(fx); err != nil || got != wantHdr {
						t.Errorf("concurrent header render differs: %v", err)
						return
					}
				}
			})
		}
	})
}

func TestRegexInputLimit(t *testing.T) {
	tpl, err := Parse("{{ #regex (a) big }}")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Render(map[string]any{"big": strings.Repeat("a", MaxRegexInput+1)})
	if err == nil || !strings.Contains(err.Error(), "regex limit") {
		t.Fatalf("err = %v", err)
	}
}

func TestSelectTokensNewtonsoftQuirks(t *testing.T) {
	data := map[string]any{"value": []any{
		map[string]any{"properties": map[string]any{"loginServer": "a.azurecr.io"}, "n": json.Number("1")},
		map[string]any{"properties": map[string]any{"loginServer": "b.azurecr.io"}, "n": json.Number("2")},
	}}
	for expr, want := range map[string]string{
		"jsonpath:$.value[?(@properties.loginServer=='b.azurecr.io')].n": "[2]",
		"$.value.[0].n":  "[1]",
		"$.value[1:].n":  "[2]",
		"value[*].n":     "[1,2]",
		"$..loginServer": `["a.azurecr.io","b.azurecr.io"]`,
		"$.value[?(@.n == 2)].properties.loginServer": `["b.azurecr.io"]`,
	} {
		got, err := SelectTokens(data, expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if s := stringify(got); s != want {
			t.Errorf("%s = %s, want %s", expr, s, want)
		}
	}
	if _, err := SelectTokens(data, "$.value[?(@.n =="); err == nil {
		t.Error("invalid JSONPath accepted")
	}
}

func TestGoTypedData(t *testing.T) {
	type named map[string]int
	data := map[string]any{
		"ints":   []int{3, 0, 5},
		"counts": named{"b": 2, "a": 1},
		"rows":   []map[string]any{{"n": "x"}, {"n": "y"}},
		"strs":   []string{"p", "q"},
		"i64":    int64(-7),
		"u":      uint8(9),
		"f32":    float32(1.5),
		"kv":     map[string]string{"K": "v"},
		"ptr":    &[]int{1},
		"json":   `{"z":"1","y":"2"}`,
		"n":      1234567.891,
		"unix":   1700000000.0,
		"unixms": 1700000000123.0,
	}
	runGolden(t, []golden{
		{"int slice", "{{#ints}}{{.}},{{/ints}}{{ints.[2]}}{{ints.length}}", "3,0,5,53", ""},
		{"typed map", "{{counts.a}}{{counts.B}}{{#each counts}}{{@key}}{{this}}{{/each}}", "12a1b2", ""},
		{"slice of maps", "{{#rows}}{{n}}{{/rows}}{{rows.[1].n}}", "xyy", ""},
		{"string slice", "{{#each strs}}{{@index}}{{this}}{{/each}}{{strs.[1]}}", "0p1qq", ""},
		{"ints", "{{i64}} {{u}} {{f32}} {{add i64 u}}", "-7 9 1.5 2", ""},
		{"truthy typed", "{{#if i64}}a{{/if}}{{#if u}}b{{/if}}{{#if ints}}c{{/if}}{{#if ptr}}d{{/if}}", "abcd", ""},
		{"map string string each", "{{#each kv}}{{@key}}={{this}}{{/each}}", "K=v", ""},
		{"kv json", "{{{kv}}}", `{"K":"v"}`, ""},
		{"toCommaSeparatedKeyValueList from JSON text", "{{toCommaSeparatedKeyValueList json}}", `"y":"2","z":"1"`, ""},
		{"stringFormat more", "{{stringFormat '{0:N0}|{0:E2}|{1:P1}|{2:x4}|{0}' n 0.125 255}}", "1,234,568|1.23E+006|12.5 %|00ff|1234567.891", ""},
		{"unix seconds", "{{toDateTimeFormat unix 'u'}}", "2023-11-14 22:13:20Z", ""},
		{"unix millis", "{{toDateTimeFormat unixms 'HH:mm:ss.fff'}}", "22:13:20.123", ""},
		{"rfc1123 std", "{{toDateTimeFormat '2024-03-05' 'R'}}", "Tue, 05 Mar 2024 00:00:00 GMT", ""},
		{"if inline ternary", "{{if n 'big' 'small'}}|{{if zero 'a' 'b'}}", "big|b", ""},
		{"lookup block", "{{#lookup kv 'K'}}{{this}}{{/lookup}}", "v", ""},
		{"extractUrlQueryParamKeyValue", "{{extractUrlQueryParamKeyValue 'https://h/p?a=1&b=2' 'b'}}", "b=2", ""},
		{"sortBy strings", "{{#sortBy strs '.' 'desc'}}{{this}}{{/sortBy}}", "qp", ""},
		{"selectMaxOfLong none", "[{{selectMaxOfLong strs 'id'}}]{{#selectMaxOfLong strs 'id'}}x{{else}}none{{/selectMaxOfLong}}", "[]none", ""},
		{"splitAndIterate empty", "{{#splitAndIterate ',' nope}}x{{else}}empty{{/splitAndIterate}}", "empty", ""},
		{"recursiveSelect over array", "{{#with rows}}{{#recursiveSelect 'kids'}}{{n}}{{/recursiveSelect}}{{/with}}", "xy", ""},
	}, data)
}

func TestCallWords(t *testing.T) {
	hs := DefaultHelpers()
	var words []string
	var quoted []bool
	hs.Register("w", func(c *Call) (any, error) {
		words, quoted = c.Words()
		return c.ArgString(0) + "|" + c.ArgString(5), nil
	})
	tpl, err := ParseWith(`{{w 'a b' "c\"d" 3 x.y {k: 'v w'} ['e', 'f']}}`, Options{Helpers: hs})
	if err != nil {
		t.Fatal(err)
	}
	out, err := tpl.Render(map[string]any{"x": map[string]any{"y": "Y"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a b", `c"d`, "3", "x.y", "{k: 'v w'}", "['e', 'f']"}
	if strings.Join(words, "¦") != strings.Join(want, "¦") || !quoted[0] || !quoted[1] || quoted[2] {
		t.Fatalf("words = %q quoted = %v", words, quoted)
	}
	if out != "a b|['e', 'f']" {
		t.Fatalf("out = %q", out)
	}
}

// A template that outruns its own time limit is the template's problem
// (usage), not a transient failure worth retrying.
func TestOwnTimeoutIsUsage(t *testing.T) {
	items := make([]any, 2000)
	for i := range items {
		items[i] = i
	}
	tpl, err := ParseWith("{{#items}}{{.}}{{/items}}", Options{Timeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Render(map[string]any{"items": items})
	if err == nil || errkind.Of(err) != errkind.Usage || !strings.Contains(err.Error(), "time limit") {
		t.Fatalf("own timeout: %v (kind %v)", err, errkind.Of(err))
	}
}
