package api

// VariableGroup is a pipeline library variable group (distributedtask/variablegroups).
type VariableGroup struct {
	ID                             int                             `json:"id,omitempty"`
	Name                           string                          `json:"name"`
	Description                    string                          `json:"description,omitempty"`
	Type                           string                          `json:"type,omitempty"` // "Vsts"
	Variables                      map[string]VariableValue        `json:"variables"`
	VariableGroupProjectReferences []VariableGroupProjectReference `json:"variableGroupProjectReferences,omitempty"`
}

// VariableValue is one variable. Secret values come back null (Value nil).
type VariableValue struct {
	Value      *string `json:"value"`
	IsSecret   bool    `json:"isSecret,omitempty"`
	IsReadOnly bool    `json:"isReadOnly,omitempty"`
}

// VariableGroupProjectReference shares a group into a project.
type VariableGroupProjectReference struct {
	ProjectReference ProjectReference `json:"projectReference"`
	Name             string           `json:"name"`
	Description      string           `json:"description,omitempty"`
}
