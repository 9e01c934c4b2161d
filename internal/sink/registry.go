package sink

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// Spec is one sink entry of patrol.yaml: its type and the whole mapping
// (including "type") as JSON, decoded strictly by the sink type itself.
type Spec struct {
	Type   string
	Params json.RawMessage
	// Where locates the entry for error messages, e.g. "credentials[0].sinks[1] (line 14)".
	Where string
	// Organization is the Azure DevOps organisation the credential (and so
	// its service-endpoint and variable-group sinks) belongs to, "" for the
	// default one. Only Identity reads it.
	Organization string
}

// Deps are the shared clients a sink may need. Fields may be nil when a
// command does not need them (e.g. config validation).
type Deps struct {
	Logger *slog.Logger
	// HTTPClient honours the proxy and CA settings; sinks calling HTTP APIs use it.
	HTTPClient *http.Client
	// TokenCredential signs in to Azure resources (Key Vault).
	TokenCredential azcore.TokenCredential
	// DevOps is the Azure DevOps client for service-endpoint and variable-group
	// sinks (see the interfaces those sinks declare).
	DevOps DevOpsAPI
	// Now is the clock (tests); nil = time.Now.
	Now func() time.Time
	// LookupEnv resolves the environment variables an http sink reads its
	// secrets from (auth.passwordEnv, tokenEnv, endpoint parameters' env);
	// nil = os.LookupEnv. The controller resolves them from SecretKeyRefs.
	LookupEnv func(string) (string, bool)
	// HTTPState, when set, keeps an http sink's record instead of its
	// stateFile (the controller: the PersonalAccessToken's status).
	HTTPState func(stateFile string) HTTPStateStore
}

// DevOpsAPI is what Azure DevOps-backed sinks need from internal/devops.Client.
// It is extended by the sink files that use it.
type DevOpsAPI interface{}

// Type is a registered sink type.
type Type struct {
	// Name as written in patrol.yaml (`type: file`).
	Name string
	// Validate decodes params strictly (unknown fields are errors) and checks
	// them without touching the network.
	Validate func(params json.RawMessage) error
	// New builds the sink.
	New func(params json.RawMessage, deps Deps) (Sink, error)
}

var (
	regMu sync.RWMutex
	reg   = map[string]Type{}
)

// Register adds a sink type; sink files call it from init.
func Register(t Type) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := reg[t.Name]; dup {
		panic("sink: type registered twice: " + t.Name)
	}
	reg[t.Name] = t
}

// Types lists the registered type names, sorted.
func Types() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(reg))
	for n := range reg {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func lookup(spec Spec) (Type, error) {
	regMu.RLock()
	t, ok := reg[spec.Type]
	regMu.RUnlock()
	if !ok {
		return Type{}, fmt.Errorf("%s: unknown sink type %q; use one of: %s", spec.Where, spec.Type, strings.Join(Types(), ", "))
	}
	return t, nil
}

// Validate checks a spec without building it.
func Validate(spec Spec) error {
	t, err := lookup(spec)
	if err != nil {
		return err
	}
	if err := t.Validate(spec.Params); err != nil {
		return fmt.Errorf("%s (type %s): %w", spec.Where, spec.Type, err)
	}
	return nil
}

// Build constructs the sink of spec.
func Build(spec Spec, deps Deps) (Sink, error) {
	t, err := lookup(spec)
	if err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s, err := t.New(spec.Params, deps)
	if err != nil {
		return nil, fmt.Errorf("%s (type %s): %w", spec.Where, spec.Type, err)
	}
	return s, nil
}
