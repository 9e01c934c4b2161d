package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/patrol-dev/patrol/internal/sink"
)

const appID = "3b4c5d6e-7f80-4192-a3b4-c5d6e7f8091a"

func TestAppSecretCredentialGood(t *testing.T) {
	f, err := ParseFile([]byte(`apiVersion: patrol.dev/v1
credentials:
  - name: deploy-spn
    kind: entra-app-secret
    application: {appId: `+appID+`}
    gracePeriod: 1h
    sinks: [{type: file, path: /tmp/spn}]
`), "patrol.yaml", ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := f.Credentials[0]
	if c.Kind != KindEntraAppSecret || c.Application.AppID != appID || c.Lifetime != DefaultAppSecretLifetime || c.GracePeriod.D() != time.Hour {
		t.Fatalf("decoded: %+v", c)
	}
}

// Every problem names the field, says what is wrong and how to fix it.
func TestAppSecretCredentialProblems(t *testing.T) {
	for _, tc := range []struct{ name, fields, path, want string }{
		{"no application", ``, "credentials[0].application", "missing; name the Entra application"},
		{"both ids", `application: {appId: ` + appID + `, objectId: ` + appID + `}`, "credentials[0].application", "not both"},
		{"bad appId", `application: {appId: contoso-deploy}`, "credentials[0].application.appId", "is not a GUID; give the application's Application (client) ID"},
		{"bad objectId", `application: {objectId: "12"}`, "credentials[0].application.objectId", "Object ID of the application object"},
		{"unknown field", `application: {clientId: ` + appID + `}`, "credentials[0].application.clientId", ""},
		{"scopes", `application: {appId: ` + appID + `}` + "\n    scopes: [vso.code]", "credentials[0].scopes", "not used by kind entra-app-secret"},
		{"lifetime", `application: {appId: ` + appID + `}` + "\n    lifetime: 1000d", "credentials[0].lifetime", "out of range; use 1h0m0s..730d"},
		{"grace", `application: {appId: ` + appID + `}` + "\n    renewBefore: 10d\n    gracePeriod: 11d", "credentials[0].gracePeriod", "the replaced secret expires"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := "credentials:\n  - name: x\n    kind: entra-app-secret\n    " + tc.fields + "\n    sinks: [{type: file, path: /tmp/x}]\n"
			_, err := ParseFile([]byte(yaml), "patrol.yaml", ValidateOptions{SkipSinks: true})
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("want a FileError, got %v", err)
			}
			for _, p := range fe.Problems {
				if p.Path == tc.path && strings.Contains(p.Msg, tc.want) {
					return
				}
			}
			t.Fatalf("no problem at %s containing %q: %v", tc.path, tc.want, err)
		})
	}
	// application on another kind.
	_, err := ParseFile([]byte("credentials:\n  - name: x\n    scopes: [vso.code]\n    application: {appId: "+appID+"}\n    sinks: [{type: file, path: /tmp/x}]\n"), "p", ValidateOptions{SkipSinks: true})
	if err == nil || !strings.Contains(err.Error(), "credentials[0].application: used by kind entra-app-secret only") {
		t.Fatalf("application on a PAT: %v", err)
	}
}

func TestAppSecretKindMatchesSink(t *testing.T) {
	if KindEntraAppSecret != sink.KindEntraAppSecret {
		t.Fatalf("config.KindEntraAppSecret %q != sink.KindEntraAppSecret %q", KindEntraAppSecret, sink.KindEntraAppSecret)
	}
}
