package conformance_test

// coverage accounts for every route the emulator serves ("METHOD template",
// the emulator's Counters keys):
//   - "spec <operationId>": exercised by TestSpecConformance and validated
//     against that operation of ../shared/specs;
//   - "nospec <reason>": an Azure DevOps route none of the specs describes,
//     exercised by TestSpecConformance (dates, error bodies, patrol's client
//     decoding it) and proven by the tests named;
//   - "elsewhere <reason>": not an Azure DevOps REST route, proven by the
//     tests named.
//
// checkCoverage fails for a served route missing here, for a "spec"/"nospec"
// route the run did not reach, and for entries the emulator no longer serves.
var coverage = map[string]string{
	// tokens-7.2.json
	"GET /vssps/{org}/_apis/tokens/pats":    "spec Pats_Get, Pats_List",
	"POST /vssps/{org}/_apis/tokens/pats":   "spec Pats_Create",
	"PUT /vssps/{org}/_apis/tokens/pats":    "spec Pats_Update",
	"DELETE /vssps/{org}/_apis/tokens/pats": "spec Pats_Revoke",
	// tokenAdmin-7.2.json
	"GET /vssps/{org}/_apis/tokenadmin/personalaccesstokens/{descriptor}": "spec Personal Access Tokens_List",
	"POST /vssps/{org}/_apis/tokenadmin/revocations":                      "spec Revocations_Revoke Authorizations",
	"POST /vssps/{org}/_apis/tokenadmin/revocationrules":                  "spec Revocation Rules_Create",
	// serviceEndpoint-7.2.json
	"GET /devops/{org}/_apis/serviceendpoint/types":                           "spec Types_Get Service Endpoint Types",
	"POST /devops/{org}/_apis/serviceendpoint/types":                          "spec Types_Get Filtered Service Endpoint Types",
	"POST /devops/{org}/_apis/serviceendpoint/endpoints":                      "spec Endpoints_Create",
	"PUT /devops/{org}/_apis/serviceendpoint/endpoints":                       "spec Endpoints_Update Service Endpoints",
	"PUT /devops/{org}/_apis/serviceendpoint/endpoints/{id}":                  "spec Endpoints_Update Service Endpoint",
	"PATCH /devops/{org}/_apis/serviceendpoint/endpoints/{id}":                "spec Endpoints_Share Service Endpoint",
	"DELETE /devops/{org}/_apis/serviceendpoint/endpoints/{id}":               "spec Endpoints_Delete",
	"GET /devops/{org}/{project}/_apis/serviceendpoint/endpoints":             "spec Endpoints_Get Service Endpoints, Endpoints_Get Service Endpoints By Names",
	"POST /devops/{org}/{project}/_apis/serviceendpoint/endpoints":            "spec Endpoints_Get Service Endpoints With Refreshed Authentication",
	"GET /devops/{org}/{project}/_apis/serviceendpoint/endpoints/{id}":        "spec Endpoints_Get",
	"GET /devops/{org}/{project}/_apis/serviceendpoint/{id}/executionhistory": "spec Executionhistory_List",
	"POST /devops/{org}/{project}/_apis/serviceendpoint/endpointproxy":        "spec Endpointproxy_Execute Service Endpoint Request (see exception endpointproxy-overload)",

	// Azure DevOps routes without a spec here.
	"GET /devops/{org}/_apis/connectiondata":                                "nospec Location area; shape = api.ConnectionData (patrol's VerifyPAT), internal/devops TestVerifyPAT",
	"GET /vssps/{org}/_apis/connectiondata":                                 "nospec as above, on the vssps host",
	"GET /devops/{org}/_apis/projects":                                      "nospec core area; internal/emulator TestProjectsListAcceptsPATAndBearer",
	"GET /devops/{org}/_apis/projects/{project}":                            "nospec core area; test/sdk (core.GetProject)",
	"GET /devops/{org}/{project}/_apis/distributedtask/variablegroups":      "nospec distributedtask area; internal/emulator TestVariableGroups",
	"POST /devops/{org}/{project}/_apis/distributedtask/variablegroups":     "nospec distributedtask area; internal/emulator TestVariableGroups",
	"POST /devops/{org}/_apis/distributedtask/variablegroups":               "nospec distributedtask area (org-level create)",
	"GET /devops/{org}/{project}/_apis/distributedtask/variablegroups/{id}": "nospec distributedtask area",
	"PUT /devops/{org}/{project}/_apis/distributedtask/variablegroups/{id}": "nospec distributedtask area",
	"PUT /devops/{org}/_apis/distributedtask/variablegroups/{id}":           "nospec distributedtask area (org-level update; patrol's UpdateVariableGroup)",
	"OPTIONS /devops/{org}/_apis":                                           "nospec location discovery; internal/emulator TestDiscoveryOptionsPerHost",
	"OPTIONS /devops/{org}/_apis/{area}":                                    "nospec location discovery",
	"GET /devops/{org}/_apis/resourceareas":                                 "nospec location discovery; TestDiscoveryResourceAreas",
	"GET /devops/{org}/_apis/resourceareas/{areaId}":                        "nospec location discovery",
	"OPTIONS /vssps/{org}/_apis":                                            "nospec location discovery",
	"OPTIONS /vssps/{org}/_apis/{area}":                                     "nospec location discovery",
	"GET /vssps/{org}/_apis/resourceareas":                                  "nospec location discovery",
	"GET /vssps/{org}/_apis/resourceareas/{areaId}":                         "nospec location discovery",
	"GET /vssps/{org}/_apis/graph/users":                                    "nospec graph area (users of the organization); internal/emulator TestGraphUsersPaging, internal/audit tests",
	"GET /auditservice/{org}/_apis/audit/auditlog":                          "nospec audit area (audit-7.1, not in ../shared/specs); internal/emulator TestAuditLogTokenEvents",
	"OPTIONS /auditservice/{org}/_apis":                                     "nospec location discovery on the auditservice host",
	"OPTIONS /auditservice/{org}/_apis/{area}":                              "nospec location discovery",
	"GET /auditservice/{org}/_apis/resourceareas":                           "nospec location discovery",
	"GET /auditservice/{org}/_apis/resourceareas/{areaId}":                  "nospec location discovery",
	"GET /vssps/{org}/_signin":                                              "nospec sign-in page (203 text/html); internal/devops TestSignInPages",
	"GET /devops/{org}/_signin":                                             "nospec sign-in page (203 text/html)",
	"GET /devops/{org}":                                                     "nospec tenant-discovery probe of the organization URL",
	"GET /devops/{org}/_apis/public/Extensions/ms.vss-endpoint/emulator/Assets/Microsoft.VisualStudio.Services.Icons.Default": "nospec the endpoint types' iconUrl (an extension asset)",

	// Not Azure DevOps REST: no spec in ../shared/specs.
	"GET /_emulator/faults":                             "elsewhere emulator admin API; internal/emulator TestFaultsAndCounters",
	"PUT /_emulator/faults":                             "elsewhere emulator admin API; TestFaultsAndCounters",
	"GET /_emulator/seed":                               "elsewhere emulator admin API (the running seed)",
	"GET /_emulator/counters":                           "elsewhere emulator admin API; TestFaultsAndCounters",
	"POST /_emulator/counters/reset":                    "elsewhere emulator admin API",
	"POST /_emulator/reset":                             "elsewhere emulator admin API",
	"POST /_emulator/devicecode/approve":                "elsewhere emulator admin API; internal/emulator entra tests",
	"POST /_emulator/apps/{clientId}/certificates":      "elsewhere emulator admin API (a new client certificate); test/node msal-node.test.mjs",
	"POST /_emulator/pats/{authorizationId}/discovered": "elsewhere emulator admin API (a PAT found in public: revoked, audited); internal/emulator TestAuditLogTokenEvents",
	"POST /_emulator/users/{upn}/revokesigninsessions":  "elsewhere emulator admin API (sign-in session revocation); internal/emulator TestRevokeSignInSessions",
	"PUT /keyvault/{vault}/secrets/{name}":              "elsewhere Key Vault fake; internal/emulator TestKeyVaultWithAzsecrets (the real azsecrets client)",
	"GET /keyvault/{vault}/secrets/{name}":              "elsewhere Key Vault fake; azsecrets",
	"GET /keyvault/{vault}/secrets/{name}/versions":     "elsewhere Key Vault fake; azsecrets",
	"GET /keyvault/{vault}/secrets/{name}/{version}":    "elsewhere Key Vault fake; azsecrets",
	"PATCH /keyvault/{vault}/secrets/{name}/{version}":  "elsewhere Key Vault fake; azsecrets",
	// Microsoft Graph (graph.go): not Azure DevOps; shapes of Graph v1.0.
	"GET /v1.0/applications/{id}":                                                   "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"POST /v1.0/applications/{id}/addPassword":                                      "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"POST /v1.0/applications/{id}/removePassword":                                   "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"GET /v1.0/applications/{id}/federatedIdentityCredentials":                      "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"POST /v1.0/applications/{id}/federatedIdentityCredentials":                     "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"GET /v1.0/applications/{id}/federatedIdentityCredentials/{fic}":                "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"DELETE /v1.0/applications/{id}/federatedIdentityCredentials/{fic}":             "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"GET /v1.0/applications(appId='{appId}')":                                       "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"POST /v1.0/applications(appId='{appId}')/addPassword":                          "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"POST /v1.0/applications(appId='{appId}')/removePassword":                       "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"GET /v1.0/applications(appId='{appId}')/federatedIdentityCredentials":          "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"POST /v1.0/applications(appId='{appId}')/federatedIdentityCredentials":         "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"GET /v1.0/applications(appId='{appId}')/federatedIdentityCredentials/{fic}":    "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"DELETE /v1.0/applications(appId='{appId}')/federatedIdentityCredentials/{fic}": "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"GET /v1.0/servicePrincipals(appId='{appId}')":                                  "elsewhere Microsoft Graph; internal/emulator TestGraph*",
	"GET /v1.0/users/{id}":         "elsewhere Microsoft Graph users (graph_directory.go); internal/emulator TestGraphUsers, test/node graph.test.mjs",
	"POST /v1.0/$batch":            "elsewhere Microsoft Graph JSON batching; internal/emulator TestGraphBatch, internal/graph tests",
	"GET /common/userrealm/{user}": "elsewhere Entra; internal/emulator entra tests",
	"GET /msi/token":               "elsewhere Entra managed identity; azidentity ManagedIdentityCredential tests",
	"GET /devicelogin":             "elsewhere Entra device-code info page",
	"GET /{tenant}/v2.0/.well-known/openid-configuration": "elsewhere Entra discovery; azidentity and MSAL tests",
	"GET /{tenant}/discovery/v2.0/keys":                   "elsewhere Entra JWKS",
	"POST /{tenant}/oauth2/v2.0/token":                    "elsewhere Entra token endpoint; internal/emulator entra tests, azidentity, MSAL (test/node)",
	"POST /{tenant}/oauth2/v2.0/devicecode":               "elsewhere Entra device code; azidentity DeviceCodeCredential",
}
