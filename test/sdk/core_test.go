package sdk

import (
	"testing"

	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
)

func TestCoreProjects(t *testing.T) {
	c, err := core.NewClient(ctx(t), connection(t, emu.env["AZURE_USERNAME"]))
	if err != nil {
		t.Fatalf("core.NewClient: %v", err)
	}
	res, err := c.GetProjects(ctx(t), core.GetProjectsArgs{})
	if err != nil {
		t.Fatalf("GetProjects: %v", err)
	}
	var found *core.TeamProjectReference
	for i, p := range res.Value {
		if p.Name != nil && *p.Name == project {
			found = &res.Value[i]
		}
	}
	if found == nil || found.Id == nil || found.State == nil || *found.State != core.ProjectStateValues.WellFormed {
		t.Fatalf("GetProjects = %+v, want project %s (wellFormed)", res.Value, project)
	}

	name := project
	p, err := c.GetProject(ctx(t), core.GetProjectArgs{ProjectId: &name})
	if err != nil {
		t.Fatalf("GetProject(%s): %v", project, err)
	}
	if p.Id == nil || *p.Id != *found.Id || p.Name == nil || *p.Name != project {
		t.Errorf("GetProject(%s) = %+v", project, p)
	}
}

// The SDK's own PAT connection (Basic ":PAT") through the same discovery.
func TestCoreProjectsWithPAT(t *testing.T) {
	_, pat := createPAT(t, emu.env["AZURE_USERNAME"], "sdk-core-pat", "vso.project")
	c, err := core.NewClient(ctx(t), patConnection(pat))
	if err != nil {
		t.Fatalf("core.NewClient (PAT): %v", err)
	}
	res, err := c.GetProjects(ctx(t), core.GetProjectsArgs{})
	if err != nil {
		t.Fatalf("GetProjects (PAT): %v", err)
	}
	if len(res.Value) == 0 {
		t.Errorf("GetProjects (PAT) listed no project")
	}
}
