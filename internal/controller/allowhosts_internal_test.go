package controller

import (
	"strings"
	"testing"

	patrolv1 "github.com/patrol-dev/patrol/api/v1alpha1"
)

func TestHostAllowList(t *testing.T) {
	def, err := ParseHostAllowList(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"login.microsoftonline.com", "LOGIN.MicrosoftOnline.com.", "login.microsoftonline.us", "login.chinacloudapi.cn",
		"login.partner.microsoftonline.cn", "dev.azure.com", "vssps.dev.azure.com", "contoso.visualstudio.com", "app.vssps.visualstudio.com"} {
		if !def.Allows(h) {
			t.Errorf("the default list refuses %s", h)
		}
	}
	for _, h := range []string{"", "evil.example", "dev.azure.com.evil.example", "evildev.azure.com", "visualstudio.com", "127.0.0.1", "localhost",
		"login.microsoftonline.com.evil.example", "microsoftonline.com"} {
		if def.Allows(h) {
			t.Errorf("the default list allows %q", h)
		}
	}
	l, err := ParseHostAllowList([]string{"127.0.0.1, ado.example.com", "*.corp.example", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]bool{"127.0.0.1": true, "ado.example.com": true, "x.ado.example.com": false, "a.b.corp.example": true,
		"corp.example": false, "::1": true, "login.microsoftonline.com": false} {
		if l.Allows(h) != want {
			t.Errorf("%s: Allows(%q) = %t", l, h, !want)
		}
	}
	for _, bad := range []string{"https://dev.azure.com", "dev.azure.com:443", "*", "*.com", "a*.example.com", "*.*.example.com", "[::1]", "dev.azure.com/x", "bad host"} {
		if _, err := ParseHostAllowList([]string{bad}); err == nil || !strings.Contains(err.Error(), "--allowed-endpoint-hosts") {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

func TestCheckEndpoints(t *testing.T) {
	id := identity{kind: kindNamespaced, namespace: "ci", name: "bot"}
	if err := checkEndpoints(id, nil); err != nil {
		t.Errorf("the default endpoints are refused: %v", err)
	}
	id.spec.Endpoints = &patrolv1.Endpoints{AuthorityHost: "https://login.microsoftonline.us/", VSSPS: "https://evil.example:8443/x"}
	err := checkEndpoints(id, nil)
	if !endpointNotAllowed(err) {
		t.Fatalf("evil vssps: %v", err)
	}
	for _, want := range []string{"AzureDevOpsIdentity ci/bot", "spec.endpoints.vssps", "evil.example", "--allowed-endpoint-hosts", "controller.allowedEndpointHosts"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	id.spec.Endpoints = &patrolv1.Endpoints{DevOps: "https://user:pw@dev.azure.com"}
	if err := checkEndpoints(id, nil); !endpointNotAllowed(err) || strings.Contains(err.Error(), "pw") {
		t.Errorf("user info: %v", err)
	}
}
