package mustache

import "testing"

func BenchmarkRenderBasicHeader(b *testing.B) {
	tpl, err := Parse(`Basic {{ #base64 endpoint.username ":" endpoint.password }}`)
	if err != nil {
		b.Fatal(err)
	}
	data := map[string]any{"endpoint": map[string]any{"username": "svc-build", "password": "p@ss:w&rd"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tpl.Render(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseBasicHeader(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(`Basic {{ #base64 endpoint.username ":" endpoint.password }}`); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderJenkinsResultTemplate(b *testing.B) {
	tpl, err := Parse(jenkinsTemplate)
	if err != nil {
		b.Fatal(err)
	}
	data := jenkinsData()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tpl.Render(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderDataSourceURL(b *testing.B) {
	tpl, err := Parse(`{{{endpoint.url}}}/subscriptions/{{{endpoint.subscriptionId}}}/resourceGroups/{{{ResourceGroupName}}}/providers/Microsoft.Web/sites?api-version=2015-08-01&x={{name}}`)
	if err != nil {
		b.Fatal(err)
	}
	data := fixture()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tpl.Render(data); err != nil {
			b.Fatal(err)
		}
	}
}
