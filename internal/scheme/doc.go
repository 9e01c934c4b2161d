// Package scheme models Azure DevOps service-endpoint types and their
// authentication schemes, validates endpoints against them and authorizes
// HTTP requests the way Azure DevOps' endpoint proxy does.
//
// Schemes as data. The closed set of scheme contributions (UsernamePassword,
// Token, Certificate, None, JWT, OAuth2, ServicePrincipal,
// WorkloadIdentityFederation, ManagedServiceIdentity, Kubernetes,
// PersonalAccessToken, OAuth) is embedded as contribution JSON
// (schemes.json). Lookup accepts the wire name, the full contribution id
// (ms.vss-endpoint.endpoint-auth-scheme-basic), the short id or its last
// part, case-insensitively; anything else is an *UnknownSchemeError listing
// the set. The Token scheme's default header is Authorization:
// {{endpoint.apitoken}} — double-stash, so Azure DevOps (and patrol)
// HTML-encode a token containing & " < > ' : types should override it with
// {{{endpoint.apitoken}}}.
//
// Types. LoadManifest reads vss-extension.json (BOM stripped; // and /* */
// comments and trailing commas tolerated), keeps the
// ms.vss-endpoint.service-endpoint-type contributions and resolves each
// authenticationSchemes entry against the closed set with MergeScheme (an
// entry of an unknown type is skipped and noted in EndpointType.Warnings,
// as Azure DevOps skips it):
// headers merge by name (case-insensitive: a type header overrides the
// default of that name, defaults not named are kept),
// inputDescriptors merge by id, case-sensitively (type wins, new ids appended), displayName,
// authorizationUrl, clientCertificates and dataSourceBindings replace when
// set. LoadTypesList reads the REST types list; BuiltinTypes holds Generic,
// sonarqube and Microsoft's recorded types list.
//
// Validation. Validate checks type, URL, scheme (Azure DevOps' own error
// text when the type does not declare it), every input's isRequired,
// dataType, min/maxLength, min/maxValue, pattern, warningPattern and
// possibleValues, with case-insensitive keys, plus run-time rules (JWT needs
// all four inputs; ServicePrincipal needs the key or certificate its
// authenticationType names). Values never appear in problems; Redacted
// masks confidential parameters as ********.
//
// Authorizers. New picks Azure DevOps' authorizer (first match wins):
// data-source headers with Authorization → ServicePrincipal → Kubernetes →
// None (templated clientCertificates only) → JWT → type Generic (plain
// Basic) → templated headers of the endpoint's scheme → Certificate →
// WorkloadIdentityFederation / ManagedServiceIdentity. Header templates see
// {endpoint: data ∪ authorization.parameters, request: {Method, Host,
// AbsolutePath, Query}} — no endpoint.url — and render strictly (a missing
// value is an error, as in Azure DevOps). Accept/Content-Type replace the
// request's own. The AWS SigV4 helpers (#getCurrentUTCDate, #getHashedPayload,
// #getAuthorizationHeader) sign with an empty payload. #getTokenUsingBasicAuth is registered as an inline helper
// bound to the request through the render context; its result is cached
// while the response says it is valid (expires_in, terminalDate, …). JWT
// posts an RS256 assertion (iss, aud, nbf, iat, exp=+60 min, scope; optional
// sub/kid/extra claims) to the Audience and caches the token until shortly
// before expires_in (Options.JWTNoCache restores Azure DevOps' per-request
// fetch). Certificate presents the PEM certificate (key in the same text or
// in privateKey) as TLS client certificate; acceptUntrustedCerts disables
// server verification only when it is exactly "true" (any case).
// ServicePrincipal/WIF/MSI get an Entra token through azidentity for
// Options.AzureScope, else the environment's ARM scope.
package scheme
