package entra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/redact"
)

// clientOptions wires patrol's authority, HTTP client and retry policy into azcore.
func (o Options) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: o.AuthorityHost},
		Transport: o.HTTPClient,
		Retry: policy.RetryOptions{
			MaxRetries:    maxTries - 1,
			RetryDelay:    o.retryBase,
			MaxRetryDelay: 20 * o.retryBase,
			ShouldRetry:   errkind.ShouldRetry,
		},
	}
}

// credSource adapts an azcore.TokenCredential.
type credSource struct {
	o      Options
	method Method
	cred   azcore.TokenCredential
	kind   IdentityKind // IdentityUnknown: decode the JWT's claims
}

func (s *credSource) Token(ctx context.Context) (Token, error) {
	return s.token(ctx, policy.TokenRequestOptions{Scopes: strings.Fields(s.o.Scope)})
}

func (s *credSource) token(ctx context.Context, opts policy.TokenRequestOptions) (Token, error) {
	at, err := s.cred.GetToken(ctx, opts)
	if err != nil {
		return Token{}, s.o.wrapAzError(ctx, s.method, err)
	}
	redact.Register(at.Token)
	kind := s.kind
	if kind == IdentityUnknown {
		kind = KindFromClaims(at.Token)
	}
	return Token{AccessToken: at.Token, ExpiresOn: at.ExpiresOn, Kind: kind}, nil
}

// secrets lists values that must not leak into error text.
func (o Options) secrets() []string {
	return []string{o.ClientSecret, o.Password, o.CertificatePassword}
}

// wrapAzError turns azidentity failures into *SignInError.
func (o Options) wrapAzError(ctx context.Context, m Method, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("entra: sign-in (%s) cancelled: %w", m, err)
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		if afe.RawResponse != nil {
			body, _ := runtime.Payload(afe.RawResponse)
			e := newSignInError(m, afe.RawResponse.StatusCode, body, o.secrets()...)
			if e.Description == "" {
				e.Description = sanitize(firstLine(err.Error()), o.secrets()...)
			}
			return e
		}
		return o.libraryError(m, "", err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, net.ErrClosed) {
		e := &SignInError{Method: m, cause: errors.New(sanitize(err.Error(), o.secrets()...))}
		e.fillAADSTS("")
		return e
	}
	var respErr *azcore.ResponseError
	if errors.As(err, &respErr) && respErr.RawResponse != nil {
		body, _ := runtime.Payload(respErr.RawResponse)
		return newSignInError(m, respErr.StatusCode, body, o.secrets()...)
	}
	// credential unavailable (no az, no MI endpoint, bad file …)
	return o.libraryError(m, "credential_unavailable", err)
}

// networkRE recognises transport failures inside library error text
// (azidentity does not let them be unwrapped).
var networkRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)dial tcp|connection refused|no such host|i/o timeout|connection reset|TLS handshake timeout|unexpected EOF|network is unreachable|server misbehaving`)
})

// libraryError builds a SignInError from an azidentity error without an
// HTTP response: multi-line text is flattened, network failures are marked
// retryable.
func (o Options) libraryError(m Method, code string, err error) *SignInError {
	text := strings.Join(strings.Fields(err.Error()), " ")
	e := &SignInError{Method: m, Code: code, Description: sanitize(text, o.secrets()...)}
	if networkRE().MatchString(text) {
		e.Code = ""
		e.cause = errors.New(e.Description)
		e.Hint = "Entra could not be reached (network, proxy or DNS): check connectivity to the authority host; retrying later may succeed"
		if h := methodHint(m); h != "" && m == MethodManagedIdentity {
			e.Hint += "; " + h
		}
		return e
	}
	e.fillAADSTS(text)
	if e.Hint == "" {
		e.Hint = methodHint(m)
		if m == MethodWorkloadIdentity && o.FederatedToken != nil {
			e.Hint = "the federated token could not be obtained or was refused: check the ServiceAccount and that the app registration's federated credential trusts the cluster's issuer and subject system:serviceaccount:<namespace>:<name>"
		}
	}
	return e
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func methodHint(m Method) string {
	switch m {
	case MethodAzureCLI:
		return "run `az login` (and `az account set` for the right tenant) on this machine, or choose another --auth method"
	case MethodManagedIdentity:
		return "no managed identity is reachable here: run on an Azure host with a managed identity assigned (IDENTITY_ENDPOINT/IMDS), set --managed-identity-client-id for a user-assigned identity, or choose another --auth method"
	case MethodWorkloadIdentity:
		return "check AZURE_FEDERATED_TOKEN_FILE exists and the pod's service account is annotated for Entra Workload ID"
	case MethodClientCertificate:
		return "check AZURE_CLIENT_CERTIFICATE_PATH holds the certificate and its RSA private key (PEM or PKCS#12) and AZURE_CLIENT_CERTIFICATE_PASSWORD"
	}
	return ""
}

func (o Options) newCredSource(m Method) (TokenSource, error) {
	co := o.clientOptions()
	switch m {
	case MethodClientSecret:
		c, err := azidentity.NewClientSecretCredential(o.TenantID, o.ClientID, o.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: o.DisableInstanceDiscovery})
		if err != nil {
			return nil, o.configErr(m, err)
		}
		return &credSource{o: o, method: m, cred: c, kind: IdentityServicePrincipal}, nil
	case MethodClientCertificate:
		data, err := os.ReadFile(o.CertificatePath)
		if err != nil {
			return nil, &ConfigError{Method: m, Missing: []string{"AZURE_CLIENT_CERTIFICATE_PATH"},
				Msg: fmt.Sprintf("cannot read AZURE_CLIENT_CERTIFICATE_PATH %s: %v", o.CertificatePath, errors.Unwrap(err))}
		}
		var pw []byte
		if o.CertificatePassword != "" {
			pw = []byte(o.CertificatePassword)
		}
		certs, key, err := azidentity.ParseCertificates(data, pw)
		if err != nil {
			return nil, &ConfigError{Method: m, Missing: []string{"AZURE_CLIENT_CERTIFICATE_PATH"},
				Msg: fmt.Sprintf("AZURE_CLIENT_CERTIFICATE_PATH %s holds no usable certificate and RSA key (%s): provide PEM (certificate + private key) or PKCS#12 with AZURE_CLIENT_CERTIFICATE_PASSWORD", o.CertificatePath, sanitize(err.Error(), o.secrets()...))}
		}
		c, err := azidentity.NewClientCertificateCredential(o.TenantID, o.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: o.DisableInstanceDiscovery, SendCertificateChain: o.SendCertificateChain})
		if err != nil {
			return nil, o.configErr(m, err)
		}
		return &credSource{o: o, method: m, cred: c, kind: IdentityServicePrincipal}, nil
	case MethodWorkloadIdentity:
		if get := o.FederatedToken; get != nil {
			c, err := azidentity.NewClientAssertionCredential(o.TenantID, o.ClientID, get,
				&azidentity.ClientAssertionCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: o.DisableInstanceDiscovery})
			if err != nil {
				return nil, o.configErr(m, err)
			}
			return &credSource{o: o, method: m, cred: c, kind: IdentityServicePrincipal}, nil
		}
		c, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: co, ClientID: o.ClientID, TenantID: o.TenantID, TokenFilePath: o.FederatedTokenFile,
			DisableInstanceDiscovery: o.DisableInstanceDiscovery})
		if err != nil {
			return nil, o.configErr(m, err)
		}
		return &credSource{o: o, method: m, cred: c, kind: IdentityServicePrincipal}, nil
	case MethodManagedIdentity:
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}
		if o.ManagedIdentityClientID != "" {
			mo.ID = azidentity.ClientID(o.ManagedIdentityClientID)
		}
		c, err := azidentity.NewManagedIdentityCredential(mo)
		if err != nil {
			return nil, o.configErr(m, err)
		}
		return &credSource{o: o, method: m, cred: c, kind: IdentityManagedIdentity}, nil
	case MethodAzureCLI:
		c, err := azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: o.TenantID})
		if err != nil {
			return nil, o.configErr(m, err)
		}
		return &credSource{o: o, method: m, cred: c, kind: IdentityUnknown}, nil
	}
	return nil, fmt.Errorf("entra: method %s is not backed by azidentity", m)
}

func (o Options) configErr(m Method, err error) error {
	return &ConfigError{Method: m, Msg: fmt.Sprintf("cannot set up --auth %s: %s", m, sanitize(err.Error(), o.secrets()...))}
}
