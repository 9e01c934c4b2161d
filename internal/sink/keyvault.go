package sink

// The azure-key-vault sink stores the credential as a Key Vault secret with
// github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets.
//
//	type: azure-key-vault
//	vaultUrl: https://my-vault.vault.azure.net
//	secretName: ado-pat
//	contentType: text/plain            # optional
//	tags: {team: build}                # optional, kept on every version
//	disableChallengeResourceVerification: false   # tests/emulator only
//
// Write is SetSecret (Key Vault always creates a new version, so the previous
// value stays retrievable as an older version) with tags
// patrol-credential, patrol-authorization-id, patrol-valid-to (RFC 3339) and
// patrol-rotated-at, and attributes.exp = validTo so Key Vault's own expiry
// reporting (and Event Grid "SecretNearExpiry") works. Read is GetSecret of the
// latest version, reporting the tags; the value is never returned.
//
// The identity needs the "Key Vault Secrets Officer" role on the vault (RBAC
// vaults) or an access policy with secret get + set.
//
// disableChallengeResourceVerification turns off azsecrets' check that the
// 401 challenge's resource matches the vault's domain. Real vaults never need
// it; it exists for vaults served from 127.0.0.1 (patrol's emulator, tests).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/patrol-dev/patrol/internal/errkind"
	"github.com/patrol-dev/patrol/internal/httpx"
)

// KeyVaultTypeName is the sink type name in patrol.yaml.
const KeyVaultTypeName = "azure-key-vault"

// Key Vault tags written by patrol.
const (
	KeyVaultTagCredential      = "patrol-credential"
	KeyVaultTagAuthorizationID = "patrol-authorization-id"
	KeyVaultTagValidTo         = "patrol-valid-to"
	KeyVaultTagRotatedAt       = "patrol-rotated-at"
)

// keyVaultMaxTags is Key Vault's limit of tags per secret.
const keyVaultMaxTags = 15

var keyVaultSecretName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`) })

// KeyVaultParams are the patrol.yaml fields of an azure-key-vault sink.
type KeyVaultParams struct {
	Type                                 string            `json:"type"`
	VaultURL                             string            `json:"vaultUrl"`
	SecretName                           string            `json:"secretName"`
	ContentType                          string            `json:"contentType,omitempty"`
	Tags                                 map[string]string `json:"tags,omitempty"`
	DisableChallengeResourceVerification bool              `json:"disableChallengeResourceVerification,omitempty"`
}

// KeyVault is the azure-key-vault sink.
type KeyVault struct {
	p      KeyVaultParams
	client *azsecrets.Client
}

// KeyVaultError is a failed Key Vault call. It never contains the secret.
type KeyVaultError struct {
	Op     string // "set" or "get"
	Secret string // vault URL + name
	Status int
	Code   string
	K      errkind.Kind
	Hint   string
	Err    error
}

func (e *KeyVaultError) Error() string {
	msg := fmt.Sprintf("%s secret %s: %v", e.Op, e.Secret, e.Err)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}
func (e *KeyVaultError) Unwrap() error      { return e.Err }
func (e *KeyVaultError) Kind() errkind.Kind { return e.K }

func init() {
	Register(Type{Name: KeyVaultTypeName, Validate: validateKeyVault, New: newKeyVaultFromParams})
}

func parseKeyVaultParams(params json.RawMessage) (KeyVaultParams, error) {
	var p KeyVaultParams
	if err := kubeDecodeStrict(params, &p); err != nil {
		return p, err
	}
	if p.VaultURL == "" {
		return p, kubeUsageErr("vaultUrl: required, e.g. https://my-vault.vault.azure.net")
	}
	u, err := url.Parse(p.VaultURL)
	if err != nil || u.Host == "" {
		return p, kubeUsageErr("vaultUrl %q: not a URL; use https://<vault>.vault.azure.net", p.VaultURL)
	}
	if u.Scheme != "https" {
		return p, kubeUsageErr("vaultUrl %q: must be https (Key Vault refuses tokens over plain http)", p.VaultURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return p, kubeUsageErr("vaultUrl %q: must not contain a query, fragment or credentials", p.VaultURL)
	}
	if p.SecretName == "" {
		return p, kubeUsageErr("secretName: required")
	}
	if !keyVaultSecretName().MatchString(p.SecretName) {
		return p, kubeUsageErr("secretName %q: must be 1-127 characters of 0-9, a-z, A-Z and '-'", p.SecretName)
	}
	if len(p.ContentType) > 255 {
		return p, kubeUsageErr("contentType: longer than 255 characters")
	}
	if len(p.Tags) > keyVaultMaxTags-4 {
		return p, kubeUsageErr("tags: %d given, at most %d (Key Vault allows %d, patrol uses 4)", len(p.Tags), keyVaultMaxTags-4, keyVaultMaxTags)
	}
	for k, v := range p.Tags {
		if k == "" || len(k) > 512 || len(v) > 256 {
			return p, kubeUsageErr("tags[%s]: names must be 1-512 and values at most 256 characters", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "patrol-") {
			return p, kubeUsageErr("tags[%s]: the patrol- prefix is reserved for patrol's metadata", k)
		}
	}
	return p, nil
}

func validateKeyVault(params json.RawMessage) error {
	_, err := parseKeyVaultParams(params)
	return err
}

func newKeyVaultFromParams(params json.RawMessage, deps Deps) (Sink, error) {
	p, err := parseKeyVaultParams(params)
	if err != nil {
		return nil, err
	}
	return NewKeyVault(p, deps.TokenCredential, deps.HTTPClient)
}

// NewKeyVault builds the sink. httpClient may be nil (a default httpx client).
func NewKeyVault(p KeyVaultParams, cred azcore.TokenCredential, httpClient *http.Client) (*KeyVault, error) {
	if cred == nil {
		return nil, kubeUsageErr("azure-key-vault %s: no Azure credential; configure auth (service principal, workload or managed identity) so patrol can sign in to Key Vault", p.VaultURL)
	}
	opts := &azsecrets.ClientOptions{DisableChallengeResourceVerification: p.DisableChallengeResourceVerification}
	// Never redirected (the PUT carries the PAT), answers bounded:
	// internal/httpx, purpose KeyVault.
	opts.ClientOptions.Transport = httpx.For(httpClient, httpx.KeyVault)
	opts.ClientOptions.Retry = policy.RetryOptions{MaxRetries: 3, ShouldRetry: errkind.ShouldRetry}
	c, err := azsecrets.NewClient(strings.TrimRight(p.VaultURL, "/"), cred, opts)
	if err != nil {
		return nil, kubeUsageErr("azure-key-vault %s: %v", p.VaultURL, err)
	}
	return &KeyVault{p: p, client: c}, nil
}

// Name implements Sink.
func (k *KeyVault) Name() string {
	return KeyVaultTypeName + ":" + strings.TrimRight(k.p.VaultURL, "/") + "/secrets/" + k.p.SecretName
}

func (k *KeyVault) where() string {
	return strings.TrimRight(k.p.VaultURL, "/") + "/secrets/" + k.p.SecretName
}

// Write implements Sink.
func (k *KeyVault) Write(ctx context.Context, secret string, meta Meta) error {
	if secret == "" {
		return kubeUsageErr("%s: refusing to write an empty credential (the vault keeps its current version)", k.Name())
	}
	tags := make(map[string]*string, len(k.p.Tags)+4)
	for n, v := range k.p.Tags {
		tags[n] = to.Ptr(v)
	}
	add := func(n, v string) {
		if v != "" {
			tags[n] = to.Ptr(v)
		}
	}
	add(KeyVaultTagCredential, meta.Credential)
	add(KeyVaultTagAuthorizationID, meta.AuthorizationID)
	add(KeyVaultTagValidTo, kubeRFC3339(meta.ValidTo))
	add(KeyVaultTagRotatedAt, kubeRFC3339(meta.RotatedAt))
	params := azsecrets.SetSecretParameters{
		Value:            to.Ptr(secret),
		Tags:             tags,
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(true)},
	}
	if k.p.ContentType != "" {
		params.ContentType = to.Ptr(k.p.ContentType)
	}
	if !meta.ValidTo.IsZero() {
		params.SecretAttributes.Expires = to.Ptr(meta.ValidTo.UTC())
	}
	if _, err := k.client.SetSecret(ctx, k.p.SecretName, params, nil); err != nil {
		return k.wrap("set", err)
	}
	return nil
}

// Read implements Sink: the latest version's tags, never its value.
func (k *KeyVault) Read(ctx context.Context) (Held, error) {
	resp, err := k.client.GetSecret(ctx, k.p.SecretName, "", nil)
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode == "SecretNotFound" {
			return Held{}, nil
		}
		return Held{}, k.wrap("get", err)
	}
	h := Held{Present: resp.Value != nil && *resp.Value != ""}
	tag := func(n string) string {
		if v := resp.Tags[n]; v != nil {
			return *v
		}
		return ""
	}
	h.AuthorizationID = tag(KeyVaultTagAuthorizationID)
	if t, err := time.Parse(time.RFC3339, tag(KeyVaultTagValidTo)); err == nil {
		h.ValidTo = t
	} else if resp.Attributes != nil && resp.Attributes.Expires != nil {
		h.ValidTo = *resp.Attributes.Expires
	}
	if t, err := time.Parse(time.RFC3339, tag(KeyVaultTagRotatedAt)); err == nil {
		h.RotatedAt = t
	}
	return h, nil
}

func (k *KeyVault) wrap(op string, err error) error {
	e := &KeyVaultError{Op: op, Secret: k.where(), Err: err, K: errkind.Unknown}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		e.Status, e.Code = re.StatusCode, re.ErrorCode
		// ResponseError's text dumps the whole response; keep it short.
		e.Err = fmt.Errorf("HTTP %d %s", re.StatusCode, re.ErrorCode)
		switch {
		case re.StatusCode == http.StatusUnauthorized:
			e.K = errkind.Auth
			e.Hint = "Key Vault refused the token; check the identity's tenant matches the vault's tenant"
		case re.StatusCode == http.StatusForbidden:
			e.K = errkind.Permission
			e.Hint = "grant the identity the \"Key Vault Secrets Officer\" role on the vault (RBAC) or an access policy with secret get and set; also check the vault firewall allows this network"
			if re.ErrorCode == "SecretDisabled" || re.ErrorCode == "Forbidden" && op == "get" {
				e.Hint += "; a disabled latest version also answers 403 — enable it or write a new version"
			}
		case re.StatusCode == http.StatusNotFound:
			e.K = errkind.NotFound
			e.Hint = "check vaultUrl names an existing vault"
		case re.StatusCode == http.StatusConflict:
			e.K = errkind.Conflict
			e.Hint = "the secret is soft-deleted; recover or purge it (az keyvault secret recover/purge) and run again"
		case re.StatusCode == http.StatusBadRequest:
			e.K = errkind.Usage
		case re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500:
			e.K = errkind.Transient
		}
		return e
	}
	var afe *azidentity.AuthenticationFailedError
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		e.K = errkind.Transient
	case errors.As(err, &afe):
		e.K = errkind.Auth
		e.Hint = "signing in to Key Vault failed; check the Azure credential"
	case errkind.Of(err) != errkind.Unknown:
		e.K = errkind.Of(err)
	case isCertificate(err):
		e.K = errkind.Usage
		e.Hint, _ = errkind.Certificate(err)
	case errors.As(err, &ne):
		e.K = errkind.Transient
		e.Hint = "could not reach the vault; check vaultUrl, DNS and proxy settings"
	}
	return e
}
