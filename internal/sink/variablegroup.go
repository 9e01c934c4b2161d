package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
)

// The azure-devops-variable-group sink stores the credential in one variable
// of a pipeline library variable group (secret by default). It reads the
// group, sets the variable, and PUTs the whole group back: other secret
// variables come back with a null value, which keeps their stored value.
//
// Metadata lives in three non-secret variables next to it:
// <variable>.patrol.authorizationId, <variable>.patrol.validTo and
// <variable>.patrol.rotatedAt (pipelines may read them, e.g. to warn
// before expiry).

// VariableGroupParams are the parameters of `type: azure-devops-variable-group`.
type VariableGroupParams struct {
	Type      string `json:"type"`
	Project   string `json:"project"`
	GroupID   int    `json:"groupId,omitempty"`
	GroupName string `json:"groupName,omitempty"`
	Variable  string `json:"variable"`
	// IsSecret (default true) stores the variable as a secret.
	IsSecret *bool `json:"isSecret,omitempty"`
}

// VariableGroupAPI is what the sink needs from *devops.Client.
type VariableGroupAPI interface {
	GetVariableGroup(ctx context.Context, project string, id int) (api.VariableGroup, error)
	ListVariableGroups(ctx context.Context, project, name string) ([]api.VariableGroup, error)
	UpdateVariableGroup(ctx context.Context, id int, g api.VariableGroup) (api.VariableGroup, error)
}

// Metadata variable suffixes.
const (
	VarSuffixAuthorizationID = ".patrol.authorizationId"
	VarSuffixValidTo         = ".patrol.validTo"
	VarSuffixRotatedAt       = ".patrol.rotatedAt"
)

func init() {
	registerDevOps("azure-devops-variable-group", decodeVariableGroupParams,
		func(vp VariableGroupParams, c VariableGroupAPI, deps Deps) (Sink, error) {
			return NewVariableGroup(vp, c, deps.Now)
		})
}

func decodeVariableGroupParams(p json.RawMessage) (VariableGroupParams, error) {
	var vp VariableGroupParams
	if err := DecodeStrict(p, &vp); err != nil {
		return vp, err
	}
	usage := func(format string, a ...any) error { return errkind.New(errkind.Usage, fmt.Errorf(format, a...)) }
	if strings.TrimSpace(vp.Project) == "" {
		return vp, usage("project is missing; name the project that holds the variable group")
	}
	if (vp.GroupID == 0) == (vp.GroupName == "") {
		return vp, usage("set exactly one of groupId or groupName")
	}
	if vp.GroupID < 0 {
		return vp, usage("groupId %d is not a variable group id", vp.GroupID)
	}
	if vp.Variable == "" || strings.ContainsAny(vp.Variable, " \t\r\n") {
		return vp, usage("variable %q must be a non-empty name without spaces", vp.Variable)
	}
	return vp, nil
}

// VariableGroupSink writes to a variable group.
type VariableGroupSink struct {
	p   VariableGroupParams
	c   VariableGroupAPI
	now func() time.Time
}

// NewVariableGroup builds the sink.
func NewVariableGroup(p VariableGroupParams, c VariableGroupAPI, now func() time.Time) (*VariableGroupSink, error) {
	if now == nil {
		now = time.Now
	}
	return &VariableGroupSink{p: p, c: c, now: now}, nil
}

// Name is "azure-devops-variable-group:<project>/<group>#<variable>".
func (s *VariableGroupSink) Name() string {
	ref := s.p.GroupName
	if s.p.GroupID != 0 {
		ref = fmt.Sprint(s.p.GroupID)
	}
	return "azure-devops-variable-group:" + s.p.Project + "/" + ref + "#" + s.p.Variable
}

func (s *VariableGroupSink) get(ctx context.Context) (api.VariableGroup, error) {
	if s.p.GroupID != 0 {
		return s.c.GetVariableGroup(ctx, s.p.Project, s.p.GroupID)
	}
	gs, err := s.c.ListVariableGroups(ctx, s.p.Project, s.p.GroupName)
	if err != nil {
		return api.VariableGroup{}, err
	}
	g, err := oneNamed(gs, func(g api.VariableGroup) string { return g.Name }, s.p.GroupName,
		named{what: "variable group", project: s.p.Project, nameField: "groupName", idField: "groupId"})
	if err != nil {
		return api.VariableGroup{}, err
	}
	return s.c.GetVariableGroup(ctx, s.p.Project, g.ID)
}

// Read reports the metadata variables.
func (s *VariableGroupSink) Read(ctx context.Context) (Held, error) {
	g, err := s.get(ctx)
	if err != nil {
		return Held{}, fmt.Errorf("%s: %w", s.Name(), err)
	}
	val := func(k string) string {
		if v, ok := g.Variables[k]; ok && v.Value != nil {
			return *v.Value
		}
		return ""
	}
	_, has := g.Variables[s.p.Variable]
	h := Held{Present: has, AuthorizationID: val(s.p.Variable + VarSuffixAuthorizationID)}
	h.ValidTo, h.RotatedAt = parseStamp(val(s.p.Variable+VarSuffixValidTo)), parseStamp(val(s.p.Variable+VarSuffixRotatedAt))
	return h, nil
}

// Write sets the variable and its metadata variables.
func (s *VariableGroupSink) Write(ctx context.Context, secret string, meta Meta) error {
	g, err := s.get(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	vars := make(map[string]api.VariableValue, len(g.Variables)+4)
	for k, v := range g.Variables {
		vars[k] = v // secret values are nil: kept by the server
	}
	isSecret := s.p.IsSecret == nil || *s.p.IsSecret
	sec := secret
	vars[s.p.Variable] = api.VariableValue{Value: &sec, IsSecret: isSecret}
	str := func(v string) api.VariableValue { return api.VariableValue{Value: &v} }
	if meta.AuthorizationID != "" {
		vars[s.p.Variable+VarSuffixAuthorizationID] = str(meta.AuthorizationID)
	} else {
		delete(vars, s.p.Variable+VarSuffixAuthorizationID)
	}
	vars[s.p.Variable+VarSuffixValidTo] = str(stamp(meta.ValidTo))
	vars[s.p.Variable+VarSuffixRotatedAt] = str(stamp(rotatedAt(meta, s.now)))
	g.Variables = vars
	if _, err := s.c.UpdateVariableGroup(ctx, g.ID, g); err != nil {
		return fmt.Errorf("%s: update: %w", s.Name(), err)
	}
	return nil
}
