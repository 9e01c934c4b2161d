package scheme

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleValue(d InputDescriptor) string {
	if d.Values != nil && len(d.Values.PossibleValues) > 0 {
		return string(d.Values.PossibleValues[0].Value)
	}
	if d.Validation != nil {
		switch strings.ToLower(d.Validation.DataType) {
		case "guid":
			return "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
		case "boolean":
			return "true"
		case "number":
			return "1"
		case "uri":
			return "https://sample.example/"
		}
	}
	return "sample&" + d.ID
}

// TestEveryManifestValidatesAndRenders builds a sample endpoint for every
// scheme of every type in the 14 manifests, validates it and renders the
// scheme's headers (golden), AWS SigV4 helpers included.
func TestEveryManifestValidatesAndRenders(t *testing.T) {
	var lines []string
	for _, p := range manifestPaths(t) {
		ts, err := LoadManifestFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ts {
			et := &ts[i]
			for _, s := range et.AuthenticationSchemes {
				params := map[string]string{}
				for _, d := range s.InputDescriptors {
					params[d.ID] = sampleValue(d)
				}
				if strings.EqualFold(s.Name, JWT) {
					for _, id := range []string{"Issuer", "Audience", "Scope", "PrivateKey"} {
						if _, ok := params[id]; !ok {
							params[id] = "sample"
						}
					}
				}
				if strings.EqualFold(s.Name, OAuth2) {
					params["AccessToken"] = "server-filled-token"
				}
				data := map[string]string{}
				for _, d := range et.InputDescriptors {
					data[d.ID] = sampleValue(d)
				}
				url := et.URL.Value
				if url == "" || strings.Contains(url, "{{") {
					url = "https://sample.example/"
				}
				ep := endpoint(et.Name, url, strings.ToLower(s.Name), params, data)
				if ps, err := Validate(ep, et); err != nil {
					t.Errorf("%s/%s: sample endpoint invalid: %v %v", et.Name, s.Name, err, ps)
				}
				key := fmt.Sprintf("%s %s/%s:", filepath.Base(p), et.Name, s.Name)
				a, err := New(ep, et, Options{Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }})
				if err != nil {
					t.Errorf("%s %v", key, err)
					continue
				}
				if a.Method() != MethodTemplated {
					lines = append(lines, fmt.Sprintf("%s method=%s", key, a.Method()))
					continue
				}
				h, err := a.Headers(context.Background(), "GET", "https://sample.example/api?x=1")
				if err != nil {
					t.Errorf("%s render: %v", key, err)
					continue
				}
				b, _ := json.Marshal(h)
				lines = append(lines, key+" "+string(b))
			}
		}
	}
	golden(t, "rendered_headers.txt", []byte(strings.Join(lines, "\n")+"\n"))
}
