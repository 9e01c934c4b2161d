package sdk

import (
	"encoding/json"
	"testing"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/taskagent"
)

// TestVariableGroups: the variable-group half of the taskagent client (a
// patrol sink), including a secret variable sent back as null.
func TestVariableGroups(t *testing.T) {
	conn := connection(t, emu.env["AZURE_USERNAME"])
	c, err := taskagent.NewClient(ctx(t), conn)
	if err != nil {
		t.Fatalf("taskagent.NewClient: %v", err)
	}
	cc, err := core.NewClient(ctx(t), conn)
	if err != nil {
		t.Fatalf("core.NewClient: %v", err)
	}
	proj, err := cc.GetProject(ctx(t), core.GetProjectArgs{ProjectId: ptr(project)})
	if err != nil {
		t.Fatalf("GetProject: %v", err)
	}
	name := "sdk-vg"
	refs := &[]taskagent.VariableGroupProjectReference{{Name: &name,
		ProjectReference: &taskagent.ProjectReference{Id: proj.Id, Name: proj.Name}}}
	var id int

	t.Run("add", func(t *testing.T) {
		g, err := c.AddVariableGroup(ctx(t), taskagent.AddVariableGroupArgs{VariableGroupParameters: &taskagent.VariableGroupParameters{
			Name: &name, Type: ptr("Vsts"), VariableGroupProjectReferences: refs,
			Variables: &map[string]any{
				"PAT":  map[string]any{"value": "s3cret-1", "isSecret": true},
				"USER": map[string]any{"value": "svc"},
			}}})
		if err != nil {
			t.Fatalf("AddVariableGroup: %v", err)
		}
		if g.Id == nil || g.Name == nil || *g.Name != name {
			t.Fatalf("added group = %+v", g)
		}
		id = *g.Id
		if v := variable(t, g, "PAT"); v.Value != nil || v.IsSecret == nil || !*v.IsSecret {
			t.Errorf("secret PAT came back as %+v, want a null value", v)
		}
	})
	if id == 0 {
		t.FailNow()
	}

	t.Run("get and list", func(t *testing.T) {
		g, err := c.GetVariableGroup(ctx(t), taskagent.GetVariableGroupArgs{Project: ptr(project), GroupId: &id})
		if err != nil {
			t.Fatalf("GetVariableGroup: %v", err)
		}
		if v := variable(t, g, "USER"); v.Value == nil || *v.Value != "svc" {
			t.Errorf("USER = %+v, want svc", v)
		}
		byName, err := c.GetVariableGroups(ctx(t), taskagent.GetVariableGroupsArgs{Project: ptr(project), GroupName: &name})
		if err != nil {
			t.Fatalf("GetVariableGroups: %v", err)
		}
		if len(*byName) != 1 || *(*byName)[0].Id != id {
			t.Errorf("GetVariableGroups(%s) = %d groups", name, len(*byName))
		}
		byID, err := c.GetVariableGroupsById(ctx(t), taskagent.GetVariableGroupsByIdArgs{Project: ptr(project), GroupIds: &[]int{id}})
		if err != nil {
			t.Fatalf("GetVariableGroupsById: %v", err)
		}
		if len(*byID) != 1 || *(*byID)[0].Id != id {
			t.Errorf("GetVariableGroupsById(%d) = %d groups", id, len(*byID))
		}
	})

	t.Run("update with a null secret", func(t *testing.T) {
		g, err := c.UpdateVariableGroup(ctx(t), taskagent.UpdateVariableGroupArgs{GroupId: &id, VariableGroupParameters: &taskagent.VariableGroupParameters{
			Name: &name, Type: ptr("Vsts"), Description: ptr("updated by the Go SDK"), VariableGroupProjectReferences: refs,
			Variables: &map[string]any{
				"PAT":  map[string]any{"value": nil, "isSecret": true},
				"USER": map[string]any{"value": "svc-2"},
			}}})
		if err != nil {
			t.Fatalf("UpdateVariableGroup: %v", err)
		}
		if g.Description == nil || *g.Description != "updated by the Go SDK" {
			t.Errorf("updated group = %+v", g)
		}
		if v := variable(t, g, "USER"); v.Value == nil || *v.Value != "svc-2" {
			t.Errorf("USER after update = %+v, want svc-2", v)
		}
		if v := variable(t, g, "PAT"); v.IsSecret == nil || !*v.IsSecret || v.Value != nil {
			t.Errorf("PAT after update = %+v, want a kept secret (null value)", v)
		}
	})
}

// variable decodes one variable of a group (the SDK models them as any).
func variable(t *testing.T, g *taskagent.VariableGroup, name string) taskagent.VariableValue {
	t.Helper()
	if g.Variables == nil {
		t.Fatalf("group %v has no variables", g.Id)
	}
	raw, ok := (*g.Variables)[name]
	if !ok {
		t.Fatalf("group %v lacks variable %s", g.Id, name)
	}
	b, _ := json.Marshal(raw)
	var v taskagent.VariableValue
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("variable %s = %s: %v", name, b, err)
	}
	return v
}
