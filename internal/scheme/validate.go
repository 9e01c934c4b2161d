package scheme

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/patrol-dev/patrol/internal/devops/api"
)

// serverFilled are authorization parameters Azure DevOps fills itself; an
// endpoint that carries them is not flagged for unknown keys.
var serverFilled = map[string]bool{
	"accesstoken": true, "refreshtoken": true, "refreshtokenurl": true, "idtoken": true,
	"issuedat": true, "expiresin": true, "expiresat": true, "accesstokentype": true,
	"accesstokenfetchingmethod": true, "workloadidentityfederationissuer": true,
	"workloadidentityfederationsubject": true, "role": true, "scope": true,
	"servercertthumbprint": true, "oauthaccesstokenissupplied": true, "completecallbackpayload": true,
}

// ParamCI looks up key case-insensitively in authorization parameters. It
// returns the value (nil for wire null), whether the key is present, and
// the key as spelled in the map.
func ParamCI(m map[string]*string, key string) (val *string, ok bool, actual string) {
	if v, ok := m[key]; ok {
		return v, true, key
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true, k
		}
	}
	return nil, false, ""
}

// DataCI looks up key case-insensitively in endpoint data.
func DataCI(m map[string]string, key string) (string, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// Param returns a parameter's value, "" when absent or null.
func Param(ep *api.ServiceEndpoint, key string) string {
	if ep == nil || ep.Authorization == nil {
		return ""
	}
	v, _, _ := ParamCI(ep.Authorization.Parameters, key)
	if v == nil {
		return ""
	}
	return *v
}

// ResolveScheme returns the type's scheme that the endpoint uses, or
// *SchemeNotDeclaredError with Azure DevOps' wording.
func ResolveScheme(ep *api.ServiceEndpoint, t *EndpointType) (*Scheme, error) {
	name := ""
	if ep.Authorization != nil {
		name = ep.Authorization.Scheme
	}
	s, ok := t.Scheme(name)
	if !ok {
		return nil, &SchemeNotDeclaredError{Type: t.Name, Scheme: name, Declared: t.SchemeNames()}
	}
	return s, nil
}

// Validate checks an endpoint (REST shape) against its type: the type name,
// the URL, the scheme (Azure DevOps' error when the type does not declare
// it), type inputs against data and scheme inputs against
// authorization.parameters — isRequired, dataType (string, number, boolean,
// guid, uri), minLength, maxLength, minValue, maxValue, pattern (+
// patternMismatchErrorMessage), warningPattern, and possibleValues when
// isLimitedToPossibleValues. Keys are matched case-insensitively. A null
// parameter (wire null) means "keep the stored value" and is not checked.
//
// It returns every problem found (warnings included) and, when any is an
// error, a *ValidationError (or *SchemeNotDeclaredError). Values never
// appear in problems, so confidential inputs cannot leak through them.
func Validate(ep *api.ServiceEndpoint, t *EndpointType) ([]Problem, error) {
	if ep == nil || t == nil {
		return nil, &ValidationError{Problems: []Problem{{Field: "endpoint", Message: "no endpoint or type given"}}}
	}
	var ps []Problem
	add := func(p Problem) { ps = append(ps, p) }
	if ep.Type != "" && !strings.EqualFold(ep.Type, t.Name) {
		add(Problem{Field: "type", Message: fmt.Sprintf("endpoint type %q does not match type %q being validated against; fix type or choose the right manifest", ep.Type, t.Name)})
	}
	if ep.Type == "" {
		add(Problem{Field: "type", Message: fmt.Sprintf("missing; set \"type\": %q", t.Name), Warning: true})
	}
	checkURL(ep, t, add)
	if ep.Authorization == nil || strings.TrimSpace(ep.Authorization.Scheme) == "" {
		add(Problem{Field: "authorization.scheme", Message: fmt.Sprintf("missing; type %q accepts %s", t.Name, strings.Join(t.SchemeNames(), ", "))})
		return ps, &ValidationError{Endpoint: ep.Name, Problems: ps}
	}
	s, err := ResolveScheme(ep, t)
	if err != nil {
		return append(ps, Problem{Field: "authorization.scheme", Message: err.Error()}), err
	}
	for _, d := range t.InputDescriptors {
		v, ok := DataCI(ep.Data, d.ID)
		checkInput(d, "data."+d.ID, &v, ok, add)
	}
	params := ep.Authorization.Parameters
	for _, d := range s.InputDescriptors {
		v, ok, _ := ParamCI(params, d.ID)
		checkInput(d, "authorization.parameters."+d.ID, v, ok, add)
	}
	schemeRules(ep, s, add)
	for k := range params {
		if _, ok := s.Input(k); ok || serverFilled[strings.ToLower(k)] {
			continue
		}
		if _, ok := inputOf(t.InputDescriptors, k); ok {
			continue
		}
		add(Problem{Field: "authorization.parameters." + k, Message: fmt.Sprintf("not an input of scheme %s in type %q; Azure DevOps stores it but nothing uses it (check the spelling)", s.Name, t.Name), Warning: true})
	}
	for _, p := range ps {
		if !p.Warning {
			return ps, &ValidationError{Endpoint: ep.Name, Problems: ps}
		}
	}
	return ps, nil
}

func inputOf(ds []InputDescriptor, id string) (InputDescriptor, bool) {
	for _, d := range ds {
		if strings.EqualFold(d.ID, id) {
			return d, true
		}
	}
	return InputDescriptor{}, false
}

func checkURL(ep *api.ServiceEndpoint, t *EndpointType, add func(Problem)) {
	u := ep.URL
	if u == "" {
		u = t.URL.Value
		if u == "" {
			add(Problem{Field: "url", Message: "missing; set the server URL (e.g. \"url\": \"https://server.example/\")"})
			return
		}
		add(Problem{Field: "url", Message: "missing; the type's default " + u + " will be used", Warning: true})
	}
	if strings.Contains(u, "{{") || strings.Contains(u, "$(") {
		return // templated default URL (e.g. Geneva) — checked when rendered
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme == "" || pu.Host == "" {
		add(Problem{Field: "url", Message: "not an absolute URL; write it as https://host/path"})
		return
	}
	if pu.User != nil {
		add(Problem{Field: "url", Message: "contains user information; put credentials in authorization.parameters, not in the URL"})
	}
}

// schemeRules adds the run-time requirements Azure DevOps enforces beyond the
// published descriptors.
func schemeRules(ep *api.ServiceEndpoint, s *Scheme, add func(Problem)) {
	need := func(id, why string) {
		v, ok, _ := ParamCI(ep.Authorization.Parameters, id)
		if ok && v == nil {
			return
		}
		if v == nil || strings.TrimSpace(*v) == "" {
			d, found := s.Input(id)
			label := id + " (" + id + ")"
			if found {
				label = d.Label()
			}
			add(Problem{Field: "authorization.parameters." + id, Input: label, Message: "required " + why})
		}
	}
	switch {
	case strings.EqualFold(s.Name, JWT):
		for _, id := range []string{"Issuer", "Scope"} {
			d, _ := s.Input(id)
			if d.Required() {
				continue // already reported by the descriptor check
			}
			need(id, "(Azure DevOps fails JWT requests when Issuer, Audience, Scope or PrivateKey is missing, although the descriptor says optional)")
		}
	case strings.EqualFold(s.Name, ServicePrincipal):
		switch at := strings.ToLower(Param(ep, "authenticationType")); at {
		case "", "spnkey":
			if ep.Data == nil || !strings.EqualFold(ep.Data["creationMode"], "Automatic") {
				need("servicePrincipalKey", "when authenticationType is spnKey")
			}
		case "spncertificate":
			need("servicePrincipalCertificate", "when authenticationType is spnCertificate")
		}
	}
}

var (
	reCacheMu sync.Mutex
	reCache   = map[string]*regexp.Regexp{}
)

func compilePattern(p string) (*regexp.Regexp, error) {
	reCacheMu.Lock()
	defer reCacheMu.Unlock()
	if re, ok := reCache[p]; ok {
		return re, nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	if len(reCache) < 512 {
		reCache[p] = re
	}
	return re, nil
}

func checkInput(d InputDescriptor, field string, v *string, present bool, add func(Problem)) {
	label := d.Label()
	if present && v == nil {
		return // wire null: the server keeps what it has
	}
	val := ""
	if v != nil {
		val = *v
	}
	if !present || val == "" {
		if d.Required() {
			if d.Values != nil && d.Values.DefaultValue != "" {
				add(Problem{Field: field, Input: label, Message: "not set; the Azure DevOps UI would use the default value, the REST API does not — set it explicitly", Warning: true})
				return
			}
			add(Problem{Field: field, Input: label, Message: "required"})
		}
		return
	}
	vd := d.Validation
	if vd == nil {
		vd = &InputValidation{}
	}
	switch strings.ToLower(vd.DataType) {
	case "", "none", "string":
	case "number":
		if _, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err != nil {
			add(Problem{Field: field, Input: label, Message: "must be a number"})
			return
		}
	case "boolean":
		if !strings.EqualFold(val, "true") && !strings.EqualFold(val, "false") {
			add(Problem{Field: field, Input: label, Message: "must be true or false"})
			return
		}
	case "guid":
		if _, err := uuid.Parse(strings.TrimSpace(val)); err != nil {
			add(Problem{Field: field, Input: label, Message: "must be a GUID such as 00000000-0000-0000-0000-000000000000"})
			return
		}
	case "uri":
		u, err := url.Parse(strings.TrimSpace(val))
		if err != nil || u.Scheme == "" {
			add(Problem{Field: field, Input: label, Message: "must be an absolute URI such as https://host/path"})
			return
		}
	default:
		add(Problem{Field: field, Input: label, Message: fmt.Sprintf("dataType %q is unknown to patrol; value not type-checked", vd.DataType), Warning: true})
	}
	n := utf8.RuneCountInString(val)
	if vd.MinLength != nil && *vd.MinLength > 0 && n < int(*vd.MinLength) {
		add(Problem{Field: field, Input: label, Message: fmt.Sprintf("too short: %d characters, at least %d required", n, *vd.MinLength)})
	}
	if vd.MaxLength != nil && *vd.MaxLength > 0 && n > int(*vd.MaxLength) {
		add(Problem{Field: field, Input: label, Message: fmt.Sprintf("too long: %d characters, at most %d allowed", n, *vd.MaxLength)})
	}
	if vd.MinValue != "" || vd.MaxValue != "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			add(Problem{Field: field, Input: label, Message: "must be a number (the input has a value range)"})
		} else {
			if lo, err := strconv.ParseFloat(string(vd.MinValue), 64); err == nil && vd.MinValue != "" && f < lo {
				add(Problem{Field: field, Input: label, Message: fmt.Sprintf("below the minimum %s", vd.MinValue)})
			}
			if hi, err := strconv.ParseFloat(string(vd.MaxValue), 64); err == nil && vd.MaxValue != "" && f > hi {
				add(Problem{Field: field, Input: label, Message: fmt.Sprintf("above the maximum %s", vd.MaxValue)})
			}
		}
	}
	if vd.Pattern != "" {
		re, err := compilePattern(vd.Pattern)
		if err != nil {
			add(Problem{Field: field, Input: label, Message: "pattern uses regex syntax Go cannot evaluate; value not checked against it", Warning: true})
		} else if !re.MatchString(val) {
			msg := vd.PatternMismatchErrorMessage
			if msg == "" {
				msg = "does not match the required pattern " + vd.Pattern
			}
			add(Problem{Field: field, Input: label, Message: msg})
		}
	}
	if vd.WarningPattern != "" {
		if re, err := compilePattern(vd.WarningPattern); err == nil && !re.MatchString(val) {
			msg := vd.PatternMismatchWarningMessage
			if msg == "" {
				msg = "does not match the recommended pattern " + vd.WarningPattern
			}
			add(Problem{Field: field, Input: label, Message: msg, Warning: true})
		}
	}
	if d.Values != nil && bool(d.Values.IsLimitedToPossibleValues) && len(d.Values.PossibleValues) > 0 {
		allowed := make([]string, 0, len(d.Values.PossibleValues))
		ok := false
		for _, pv := range d.Values.PossibleValues {
			allowed = append(allowed, string(pv.Value))
			if string(pv.Value) == val {
				ok = true
			}
		}
		if !ok {
			if d.IsConfidential {
				add(Problem{Field: field, Input: label, Message: "is not one of the allowed values"})
			} else {
				add(Problem{Field: field, Input: label, Message: "must be one of: " + strings.Join(allowed, ", ")})
			}
		}
	}
}

// Mask is what patrol shows in place of a confidential value.
const Mask = "********"

// IsConfidential reports whether parameter key is confidential for scheme s
// (declared confidential), or unknown to s and not on the list of values the
// Azure Pipelines agent leaves unmasked. When in doubt, it says yes.
func IsConfidential(s *Scheme, key string) bool {
	if s != nil {
		if d, ok := s.Input(key); ok {
			return bool(d.IsConfidential)
		}
	}
	return !unmasked[strings.ToLower(key)]
}

// unmasked: the agent's MaskingUtil list of auth parameters that are not secret,
// plus well-known identifiers.
var unmasked = map[string]bool{
	"role": true, "scope": true, "tenantid": true, "issuedat": true, "expiresat": true, "audience": true,
	"authenticationtype": true, "authorizationtype": true, "accesstokentype": true,
	"accesstokenfetchingmethod": true, "usewindowssecurity": true, "unsecured": true,
	"oauthaccesstokenissupplied": true, "completecallbackpayload": true, "acceptuntrustedcerts": true,
	"username": true, "issuer": true, "serviceprincipalid": true, "configurationid": true,
	"clustercontext": true, "azureenvironment": true, "azuretenantid": true,
	"workloadidentityfederationissuer": true, "workloadidentityfederationsubject": true,
}

// Redacted returns a copy of ep whose confidential authorization parameters
// (per s; unknown keys default to confidential) and confidential data
// inputs (per t) are replaced with Mask. Null values stay null.
func Redacted(ep *api.ServiceEndpoint, t *EndpointType, s *Scheme) *api.ServiceEndpoint {
	if ep == nil {
		return nil
	}
	cp := *ep
	if ep.Data != nil {
		cp.Data = make(map[string]string, len(ep.Data))
		for k, v := range ep.Data {
			if t != nil {
				if d, ok := inputOf(t.InputDescriptors, k); ok && bool(d.IsConfidential) && v != "" {
					v = Mask
				}
			}
			cp.Data[k] = v
		}
	}
	if ep.Authorization != nil {
		a := *ep.Authorization
		a.Parameters = make(map[string]*string, len(ep.Authorization.Parameters))
		for k, v := range ep.Authorization.Parameters {
			if v != nil && *v != "" && IsConfidential(s, k) {
				m := Mask
				v = &m
			}
			a.Parameters[k] = v
		}
		cp.Authorization = &a
	}
	return &cp
}
