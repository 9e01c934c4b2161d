package devops

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/patrol-dev/patrol/internal/devops/api"
	"github.com/patrol-dev/patrol/internal/errkind"
)

const variableGroupsPath = "/_apis/distributedtask/variablegroups"

// ListVariableGroups lists a project's variable groups, filtered by name if
// name is non-empty (the API accepts * wildcards).
func (c *Client) ListVariableGroups(ctx context.Context, project, name string) ([]api.VariableGroup, error) {
	const op = "list variable groups"
	if err := checkProject(op, project); err != nil {
		return nil, err
	}
	q := url.Values{"api-version": {api.VariableGroupAPIVersion}}
	if name != "" {
		q.Set("groupName", name)
	}
	var out api.ListOf[api.VariableGroup]
	r := request{op: op, method: http.MethodGet, url: c.devopsProjectURL(project, variableGroupsPath, q), retry: true}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return out.Value, nil
}

// GetVariableGroup returns one variable group; secret values come back nil.
func (c *Client) GetVariableGroup(ctx context.Context, project string, id int) (api.VariableGroup, error) {
	const op = "get variable group"
	if err := checkProject(op, project); err != nil {
		return api.VariableGroup{}, err
	}
	if id <= 0 {
		return api.VariableGroup{}, errkind.New(errkind.Usage, fmt.Errorf("%s: id %d is not a variable group id; take it from the group's URL (variableGroupId=)", op, id))
	}
	var out *api.VariableGroup
	r := request{op: op, method: http.MethodGet, url: c.devopsProjectURL(project, variableGroupsPath+"/"+strconv.Itoa(id), url.Values{"api-version": {api.VariableGroupAPIVersion}}), retry: true, accept2: true}
	if err := c.do(ctx, r, &out); err != nil {
		return api.VariableGroup{}, err
	}
	if out == nil || out.ID == 0 {
		return api.VariableGroup{}, &APIError{Op: op, Method: r.method, URL: redactURL(r.url), Status: http.StatusNotFound,
			Message: fmt.Sprintf("no variable group %d in project %s", id, project), kind: errkind.NotFound}
	}
	return *out, nil
}

// UpdateVariableGroup replaces a variable group (PUT, org-level route). Send
// the whole group including variableGroupProjectReferences; a secret
// variable whose Value is nil keeps its stored value.
func (c *Client) UpdateVariableGroup(ctx context.Context, id int, g api.VariableGroup) (api.VariableGroup, error) {
	const op = "update variable group"
	if id <= 0 {
		return api.VariableGroup{}, errkind.New(errkind.Usage, fmt.Errorf("%s: id %d is not a variable group id", op, id))
	}
	var out api.VariableGroup
	r := request{op: op, method: http.MethodPut, url: c.devopsOrgURL(variableGroupsPath+"/"+strconv.Itoa(id), url.Values{"api-version": {api.VariableGroupAPIVersion}}), body: g, retry: true}
	if err := c.do(ctx, r, &out); err != nil {
		return api.VariableGroup{}, err
	}
	return out, nil
}
