package emulator

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// ---- variable groups ----

func (e *Emulator) vgWire(rec *vgRecord) api.VariableGroup {
	g := rec.Group
	vars := make(map[string]api.VariableValue, len(g.Variables))
	for k, v := range g.Variables {
		if v.IsSecret {
			v.Value = nil
		} else if v.Value != nil {
			s := *v.Value
			v.Value = &s
		}
		vars[k] = v
	}
	g.Variables = vars
	g.VariableGroupProjectReferences = append([]api.VariableGroupProjectReference{}, g.VariableGroupProjectReferences...)
	return g
}

func (rec *vgRecord) inProject(id string) bool {
	for _, r := range rec.Group.VariableGroupProjectReferences {
		if strings.EqualFold(r.ProjectReference.ID, id) {
			return true
		}
	}
	return false
}

func (e *Emulator) handleVGList(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, vgRead...)
	if !ok {
		return
	}
	proj := e.projectOf(w, org, p["project"])
	if proj == nil {
		return
	}
	name := r.URL.Query().Get("groupName")
	var ids []string
	if v := r.URL.Query().Get("groupIds"); v != "" {
		ids = strings.Split(v, ",")
	}
	out := api.ListOf[api.VariableGroup]{Value: []api.VariableGroup{}}
	e.mu.Lock()
	keys := make([]int, 0, len(e.st.VariableGroups))
	for k := range e.st.VariableGroups {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		rec := e.st.VariableGroups[k]
		if !strings.EqualFold(rec.Org, org.Name) || !rec.inProject(proj.ID) {
			continue
		}
		if name != "" && !wildcardMatch(name, rec.Group.Name) {
			continue
		}
		if ids != nil && !containsFold(ids, strconv.Itoa(k)) {
			continue
		}
		out.Value = append(out.Value, e.vgWire(rec))
	}
	e.mu.Unlock()
	out.Count = len(out.Value)
	writeJSON(w, http.StatusOK, out)
}

// wildcardMatch matches groupName filters with * wildcards, case-insensitively.
func wildcardMatch(pattern, s string) bool {
	re := "(?i)^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	ok, _ := regexp.MatchString(re, s)
	return ok
}

func (e *Emulator) handleVGCreate(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, vgWrite...)
	if !ok {
		return
	}
	var g api.VariableGroup
	if err := readJSON(r, &g); err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "the body is not a VariableGroup: "+err.Error())
		return
	}
	if strings.TrimSpace(g.Name) == "" {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "variableGroup.Name is required")
		return
	}
	if p["project"] != "" && len(g.VariableGroupProjectReferences) == 0 {
		g.VariableGroupProjectReferences = []api.VariableGroupProjectReference{{ProjectReference: api.ProjectReference{ID: p["project"]}, Name: g.Name}}
	}
	if len(g.VariableGroupProjectReferences) == 0 {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "variableGroupProjectReferences must name at least one project")
		return
	}
	for i, ref := range g.VariableGroupProjectReferences {
		proj := findProject(org, ref.ProjectReference.ID)
		if proj == nil {
			proj = findProject(org, ref.ProjectReference.Name)
		}
		if proj == nil {
			writeVSSError(w, http.StatusNotFound, "ProjectDoesNotExistException", fmt.Sprintf("project %q does not exist in organization %s", ref.ProjectReference.ID, org.Name))
			return
		}
		g.VariableGroupProjectReferences[i].ProjectReference = api.ProjectReference{ID: proj.ID, Name: proj.Name}
	}
	for k, v := range g.Variables {
		if v.Value == nil {
			writeVSSError(w, http.StatusBadRequest, "ArgumentException", fmt.Sprintf("variable %q has a null value: new variables need a value", k))
			return
		}
	}
	if g.Variables == nil {
		g.Variables = map[string]api.VariableValue{}
	}
	if g.Type == "" {
		g.Type = "Vsts"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rec := range e.st.VariableGroups {
		if strings.EqualFold(rec.Org, org.Name) && strings.EqualFold(rec.Group.Name, g.Name) {
			writeVSSError(w, http.StatusBadRequest, "VariableGroupExistsException", fmt.Sprintf("Variable group with name %s already exists.", g.Name))
			return
		}
	}
	g.ID = e.st.NextVGID
	e.st.NextVGID++
	rec := &vgRecord{Org: org.Name, Group: g}
	e.st.VariableGroups[g.ID] = rec
	e.saveLocked()
	writeJSON(w, http.StatusOK, e.vgWire(rec))
}

func (e *Emulator) handleVGGet(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, vgRead...)
	if !ok {
		return
	}
	proj := e.projectOf(w, org, p["project"])
	if proj == nil {
		return
	}
	id, _ := strconv.Atoi(p["id"])
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.st.VariableGroups[id]
	if rec == nil || !strings.EqualFold(rec.Org, org.Name) || !rec.inProject(proj.ID) {
		writeVSSError(w, http.StatusNotFound, "VariableGroupNotFoundException", fmt.Sprintf("Variable group with id %s does not exist.", p["id"]))
		return
	}
	writeJSON(w, http.StatusOK, e.vgWire(rec))
}

func (e *Emulator) handleVGUpdate(w http.ResponseWriter, r *http.Request, p params) {
	org, _, ok := e.adoCaller(w, r, p, vgWrite...)
	if !ok {
		return
	}
	var in api.VariableGroup
	if err := readJSON(r, &in); err != nil {
		writeVSSError(w, http.StatusBadRequest, "ArgumentException", "the body is not a VariableGroup: "+err.Error())
		return
	}
	id, _ := strconv.Atoi(p["id"])
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := e.st.VariableGroups[id]
	if rec == nil || !strings.EqualFold(rec.Org, org.Name) {
		writeVSSError(w, http.StatusNotFound, "VariableGroupNotFoundException", fmt.Sprintf("Variable group with id %s does not exist.", p["id"]))
		return
	}
	vars := map[string]api.VariableValue{}
	for k, v := range in.Variables {
		if v.Value == nil {
			old, found := lookupFold(rec.Group.Variables, k)
			if !found || !v.IsSecret || !old.IsSecret {
				writeVSSError(w, http.StatusBadRequest, "ArgumentException", fmt.Sprintf("variable %q has a null value: only an existing secret variable may be sent as null (to keep its value)", k))
				return
			}
			v.Value = old.Value
		}
		vars[k] = v
	}
	if strings.TrimSpace(in.Name) != "" {
		rec.Group.Name = in.Name
	}
	rec.Group.Description = in.Description
	rec.Group.Variables = vars
	if len(in.VariableGroupProjectReferences) > 0 {
		refs := make([]api.VariableGroupProjectReference, 0, len(in.VariableGroupProjectReferences))
		for _, ref := range in.VariableGroupProjectReferences {
			if proj := findProject(org, ref.ProjectReference.ID); proj != nil {
				ref.ProjectReference = api.ProjectReference{ID: proj.ID, Name: proj.Name}
				refs = append(refs, ref)
			}
		}
		if len(refs) > 0 {
			rec.Group.VariableGroupProjectReferences = refs
		}
	}
	e.saveLocked()
	writeJSON(w, http.StatusOK, e.vgWire(rec))
}

func lookupFold(m map[string]api.VariableValue, k string) (api.VariableValue, bool) {
	if v, ok := m[k]; ok {
		return v, true
	}
	for kk, v := range m {
		if strings.EqualFold(kk, k) {
			return v, true
		}
	}
	return api.VariableValue{}, false
}
