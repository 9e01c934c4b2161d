package sdk

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/core"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/location"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/serviceendpoint"
	"github.com/microsoft/azure-devops-go-api/azuredevops/v7/tokenadmin"
)

func TestLocationConnectionData(t *testing.T) {
	c := location.NewClient(ctx(t), connection(t, emu.env["AZURE_USERNAME"]))
	cd, err := c.GetConnectionData(ctx(t), location.GetConnectionDataArgs{})
	if err != nil {
		t.Fatalf("GetConnectionData: %v", err)
	}
	if cd.AuthenticatedUser == nil || cd.AuthenticatedUser.Id == nil || cd.AuthenticatedUser.ProviderDisplayName == nil {
		t.Fatalf("connection data without the authenticated user: %+v", cd)
	}
	if *cd.AuthenticatedUser.ProviderDisplayName != "Patrol Bot" {
		t.Errorf("authenticated user %q, want the seed's Patrol Bot", *cd.AuthenticatedUser.ProviderDisplayName)
	}
	if cd.InstanceId == nil || *cd.InstanceId == uuid.Nil {
		t.Errorf("connection data without instanceId")
	}
}

func TestLocationResourceAreas(t *testing.T) {
	c := location.NewClient(ctx(t), connection(t, emu.env["AZURE_USERNAME"]))
	areas, err := c.GetResourceAreas(ctx(t), location.GetResourceAreasArgs{})
	if err != nil {
		t.Fatalf("GetResourceAreas: %v", err)
	}
	want := map[uuid.UUID]string{
		core.ResourceAreaId:            emu.orgURL + "/",
		serviceendpoint.ResourceAreaId: emu.orgURL + "/",
		tokenadmin.ResourceAreaId:      emu.vsspsURL + "/",
	}
	got := map[uuid.UUID]string{}
	for _, a := range *areas {
		if a.Id == nil || a.LocationUrl == nil || a.Name == nil {
			t.Fatalf("incomplete resource area %+v", a)
		}
		got[*a.Id] = *a.LocationUrl
	}
	for id, u := range want {
		if !strings.EqualFold(got[id], u) {
			t.Errorf("area %s at %q, want %q", id, got[id], u)
		}
	}

	one, err := c.GetResourceArea(ctx(t), location.GetResourceAreaArgs{AreaId: &tokenadmin.ResourceAreaId})
	if err != nil {
		t.Fatalf("GetResourceArea(tokenadmin): %v", err)
	}
	if one.LocationUrl == nil || !strings.EqualFold(*one.LocationUrl, emu.vsspsURL+"/") {
		t.Errorf("GetResourceArea(tokenadmin) at %v, want the vssps host %s/", deref(one.LocationUrl), emu.vsspsURL)
	}
}
