package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

func epURL(e *Emulator, path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return e.DevOpsURL() + "/" + DefaultOrg + path + sep + "api-version=" + api.ServiceEndpointAPIVersion
}

func TestServiceEndpoints(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)
	create := api.ServiceEndpoint{Name: "sonar", Type: "sonarqube", URL: "https://sonar.example",
		Authorization:                    &api.EndpointAuthorization{Scheme: "UsernamePassword", Parameters: map[string]*string{"username": to.Ptr("tok-1")}},
		ServiceEndpointProjectReferences: []api.ServiceEndpointProjectReference{{ProjectReference: api.ProjectReference{ID: DefaultProjectID}}}}
	r := do(t, e, "POST", epURL(e, "/_apis/serviceendpoint/endpoints"), auth, create)
	if r.Status != 200 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var ep api.ServiceEndpoint
	r.json(t, &ep)
	if ep.ID == "" || ep.Authorization.Parameters["username"] != nil || !ep.IsReady {
		t.Fatalf("create response must null the confidential username: %s", r.Body)
	}
	if s, _ := e.ServiceEndpointSecret(DefaultOrg, ep.ID, "USERNAME"); s != "tok-1" {
		t.Errorf("stored secret %q", s)
	}
	// Wrong scheme for the type is refused with the real message.
	bad := create
	bad.Authorization = &api.EndpointAuthorization{Scheme: "Token", Parameters: map[string]*string{"apitoken": to.Ptr("x")}}
	if r := do(t, e, "POST", epURL(e, "/_apis/serviceendpoint/endpoints"), auth, bad); r.Status != 400 || !strings.Contains(string(r.Body), "Authentication scheme couldn't be recognized 'Token'") {
		t.Errorf("bad scheme: %d %s", r.Status, r.Body)
	}

	// Update with null keeps the stored value; a value replaces it.
	upd := ep
	upd.Authorization = &api.EndpointAuthorization{Scheme: "UsernamePassword", Parameters: map[string]*string{"username": nil}}
	upd.Name = ""
	if r := do(t, e, "PUT", epURL(e, "/_apis/serviceendpoint/endpoints/"+ep.ID), auth, upd); r.Status != 200 {
		t.Fatalf("update null: %d %s", r.Status, r.Body)
	}
	if s, _ := e.ServiceEndpointSecret(DefaultOrg, ep.ID, "username"); s != "tok-1" {
		t.Errorf("null update changed secret to %q", s)
	}
	upd.Authorization.Parameters["username"] = to.Ptr("tok-2")
	e.SetEndpointBehavior(EndpointBehavior{InProgressPolls: 2})
	if r := do(t, e, "PUT", epURL(e, "/_apis/serviceendpoint/endpoints/"+ep.ID), auth, upd); r.Status != 200 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	if s, _ := e.ServiceEndpointSecret(DefaultOrg, ep.ID, "username"); s != "tok-2" {
		t.Errorf("secret after rotation %q", s)
	}
	// URL change without the confidential value is refused.
	moved := upd
	moved.URL = "https://other.example"
	moved.Authorization = &api.EndpointAuthorization{Scheme: "UsernamePassword", Parameters: map[string]*string{"username": nil}}
	if r := do(t, e, "PUT", epURL(e, "/_apis/serviceendpoint/endpoints/"+ep.ID), auth, moved); r.Status != 400 {
		t.Errorf("url change without secret: %d %s", r.Status, r.Body)
	}
	// Readiness: InProgress twice, then Ready.
	var states []string
	for range 3 {
		var got api.ServiceEndpoint
		do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/"+DefaultProject+"/_apis/serviceendpoint/endpoints/"+ep.ID+"?api-version=7.1-preview.4", auth, nil).json(t, &got)
		var st api.OperationStatus
		_ = jsonUnmarshal(got.OperationStatus, &st)
		states = append(states, st.State)
		if got.Name != "sonar" {
			t.Errorf("empty name in update must keep the name, got %q", got.Name)
		}
	}
	if strings.Join(states, ",") != "InProgress,InProgress,Ready" {
		t.Errorf("states %v", states)
	}
	// List filters.
	var list api.ListOf[api.ServiceEndpoint]
	do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/"+DefaultProject+"/_apis/serviceendpoint/endpoints?api-version=7.1-preview.4&type=sonarqube&authSchemes=UsernamePassword", auth, nil).json(t, &list)
	if list.Count != 1 || list.Value[0].Authorization.Parameters["username"] != nil {
		t.Errorf("list: %+v", list)
	}
	do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/"+DefaultProject+"/_apis/serviceendpoint/endpoints?api-version=7.1-preview.4&endpointNames=nope", auth, nil).json(t, &list)
	if list.Count != 0 {
		t.Errorf("names filter: %+v", list)
	}
	// Types.
	var types api.ListOf[api.ServiceEndpointType]
	do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/_apis/serviceendpoint/types?api-version=7.1-preview.1&type=sonarqube", auth, nil).json(t, &types)
	if types.Count != 1 || !strings.Contains(string(types.Value[0].AuthenticationSchemes[0]), `"isConfidential":true`) {
		t.Errorf("types: %+v", types)
	}
	// Execution history.
	if err := e.RecordEndpointExecution(ep.ID, map[string]any{"result": "failed"}); err != nil {
		t.Fatal(err)
	}
	var hist api.ListOf[api.ServiceEndpointExecutionRecord]
	do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/"+DefaultProject+"/_apis/serviceendpoint/"+ep.ID+"/executionhistory?api-version=7.1-preview.1", auth, nil).json(t, &hist)
	if hist.Count != 1 || !strings.Contains(string(hist.Value[0].Data), "failed") {
		t.Errorf("history: %+v", hist)
	}
	// A PAT without serviceendpoint scope is refused; with _manage it works.
	_, weak, _ := e.IssuePAT(DefaultUser, DefaultOrg, "weak", "vso.code", time.Now().Add(time.Hour))
	if r := do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/"+DefaultProject+"/_apis/serviceendpoint/endpoints?api-version=7.1-preview.4", basicPAT(weak), nil); r.Status != 401 {
		t.Errorf("weak PAT: %d", r.Status)
	}
	_, strong, _ := e.IssuePAT(DefaultUser, DefaultOrg, "strong", "vso.serviceendpoint_manage", time.Now().Add(time.Hour))
	if r := do(t, e, "GET", e.DevOpsURL()+"/"+DefaultOrg+"/"+DefaultProject+"/_apis/serviceendpoint/endpoints?api-version=7.1-preview.4", basicPAT(strong), nil); r.Status != 200 {
		t.Errorf("strong PAT: %d %s", r.Status, r.Body)
	}
	// Delete from the only project removes it.
	if r := do(t, e, "DELETE", epURL(e, "/_apis/serviceendpoint/endpoints/"+ep.ID+"?projectIds="+DefaultProjectID), auth, nil); r.Status != http.StatusNoContent {
		t.Errorf("delete: %d %s", r.Status, r.Body)
	}
	if _, ok := e.ServiceEndpointSecret(DefaultOrg, ep.ID, "username"); ok {
		t.Error("endpoint still stored after delete")
	}
}

func TestVariableGroups(t *testing.T) {
	e := start(t, Options{})
	auth := userToken(t, e, DefaultUser)
	base := e.DevOpsURL() + "/" + DefaultOrg + "/" + DefaultProject + "/_apis/distributedtask/variablegroups"
	v := "?api-version=" + api.VariableGroupAPIVersion
	g := api.VariableGroup{Name: "patrol", Variables: map[string]api.VariableValue{
		"PAT": {Value: to.Ptr("s3cret"), IsSecret: true}, "USER": {Value: to.Ptr("bot")}}}
	r := do(t, e, "POST", base+v, auth, g)
	if r.Status != 200 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var got api.VariableGroup
	r.json(t, &got)
	if got.Variables["PAT"].Value != nil || *got.Variables["USER"].Value != "bot" {
		t.Fatalf("create must null secrets: %s", r.Body)
	}
	// PUT with null secret keeps it; new value replaces the plain one.
	upd := api.VariableGroup{Name: "patrol", Variables: map[string]api.VariableValue{
		"PAT": {Value: nil, IsSecret: true}, "USER": {Value: to.Ptr("bot2")}}}
	if r := do(t, e, "PUT", base+"/"+itoa(got.ID)+v, auth, upd); r.Status != 200 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	if s, _ := e.VariableGroupValue(DefaultOrg, got.ID, "PAT"); s != "s3cret" {
		t.Errorf("null PUT changed secret: %q", s)
	}
	upd.Variables["PAT"] = api.VariableValue{Value: to.Ptr("rotated"), IsSecret: true}
	do(t, e, "PUT", base+"/"+itoa(got.ID)+v, auth, upd)
	if s, _ := e.VariableGroupValue(DefaultOrg, got.ID, "pat"); s != "rotated" {
		t.Errorf("secret after rotation: %q", s)
	}
	var list api.ListOf[api.VariableGroup]
	do(t, e, "GET", base+v+"&groupName=pat*", auth, nil).json(t, &list)
	if list.Count != 1 || list.Value[0].Variables["PAT"].Value != nil {
		t.Errorf("list: %+v", list)
	}
	if r := do(t, e, "GET", base+"/999"+v, auth, nil); r.Status != 404 {
		t.Errorf("unknown group: %d", r.Status)
	}
}

func TestKeyVaultWithAzsecrets(t *testing.T) {
	e := start(t, Options{})
	cred, err := azidentity.NewClientSecretCredential(DefaultTenantID, DefaultSPClientID, DefaultSPSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOpts(e), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := azsecrets.NewClient(e.KeyVaultURL("patrol-kv"), cred, &azsecrets.ClientOptions{ClientOptions: clientOpts(e), DisableChallengeResourceVerification: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	exp := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	set, err := c.SetSecret(ctx, "ado-pat", azsecrets.SetSecretParameters{Value: to.Ptr("v1"), Tags: map[string]*string{"authorizationId": to.Ptr("abc")},
		SecretAttributes: &azsecrets.SecretAttributes{Expires: &exp}}, nil)
	if err != nil {
		t.Fatalf("SetSecret: %v", err)
	}
	if _, err := c.SetSecret(ctx, "ado-pat", azsecrets.SetSecretParameters{Value: to.Ptr("v2")}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSecret(ctx, "ado-pat", "", nil)
	if err != nil || *got.Value != "v2" {
		t.Fatalf("GetSecret latest: %v %v", err, got.Value)
	}
	old, err := c.GetSecret(ctx, "ado-pat", set.ID.Version(), nil)
	if err != nil || *old.Value != "v1" || *old.Tags["authorizationId"] != "abc" || !old.Attributes.Expires.Equal(exp) {
		t.Fatalf("GetSecret v1: %v %+v", err, old)
	}
	if s, ok := e.KeyVaultSecret("patrol-kv", "ADO-PAT"); !ok || s.Value != "v2" {
		t.Errorf("hook: %+v", s)
	}
	if _, err := c.GetSecret(ctx, "missing", "", nil); err == nil || !strings.Contains(err.Error(), "SecretNotFound") {
		t.Errorf("missing secret: %v", err)
	}
	// Without a token: the challenge.
	r := do(t, e, "GET", e.KeyVaultURL("patrol-kv")+"/secrets/ado-pat?api-version=7.6", "", nil)
	if r.Status != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), `resource="https://vault.azure.net"`) {
		t.Errorf("challenge: %d %v", r.Status, r.Header)
	}
	// An Azure DevOps token is not a vault token.
	if r := do(t, e, "GET", e.KeyVaultURL("patrol-kv")+"/secrets/ado-pat?api-version=7.6", userToken(t, e, DefaultUser), nil); r.Status != 401 {
		t.Errorf("ADO token on vault: %d", r.Status)
	}
}
