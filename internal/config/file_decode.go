package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	closest "github.com/patrol-dev/patrol/internal/suggest"
	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

// decoder maps a YAML node tree onto Go structs using their json tags, so
// patrol.yaml and the JSON Schema share one set of names, and every problem
// carries the field path and line.
type decoder struct {
	problems []Problem
	lines    map[string]int
}

func (d *decoder) addf(path string, n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.problems = append(d.problems, Problem{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// line returns the line of path, or of its nearest parent present in the
// file (a missing field is reported at the mapping that lacks it).
func (d *decoder) line(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// decodeDocument decodes data into out; it returns false when the document
// could not be parsed at all (nothing to validate).
func (d *decoder) decodeDocument(data []byte, out *File) bool {
	d.lines = map[string]int{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if _, rest, ok := strings.Cut(msg, "line "); ok {
			if n, err := strconv.Atoi(strings.SplitN(rest, ":", 2)[0]); err == nil {
				line = n
			}
		}
		d.problems = append(d.problems, Problem{Line: line, Msg: "not valid YAML: " + msg + "; fix the syntax (indentation, quotes, duplicate keys)"})
		return false
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		d.problems = append(d.problems, Problem{Msg: "the file is empty; start from deploy/patrol.example.yaml"})
		return false
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		d.addf("", root, "the top level must be a mapping (organization:, rotation:, credentials:), got %s", kindName(root))
		return false
	}
	d.decode(root, reflect.ValueOf(out).Elem(), "")
	return true
}

// secretFields are Connection fields that exist but must not be set in YAML.
var secretFields = map[string]string{
	"password":            "passwords are not read from patrol.yaml; set AZURE_PASSWORD or auth.passwordFile",
	"clientSecret":        "client secrets are not read from patrol.yaml; set AZURE_CLIENT_SECRET or auth.clientSecretFile",
	"certificatePassword": "certificate passwords are not read from patrol.yaml; set AZURE_CLIENT_CERTIFICATE_PASSWORD",
}

var (
	durationType    = reflect.TypeOf(Duration(0))
	renewBeforeType = reflect.TypeOf(RenewBefore{})
	sinkSpecType    = reflect.TypeOf(SinkSpec{})
)

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the scalar %q", n.Value)
	}
	return "an unsupported node"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// fieldsOf returns the json-named fields of struct type t, flattening
// anonymous (embedded) structs.
func fieldsOf(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, idx := range fieldsOf(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = []int{i}
	}
	return out
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if path != "" {
		d.lines[path] = n.Line
	}
	if isNull(n) {
		return
	}
	t := v.Type()
	switch t {
	case durationType:
		if n.Kind != yaml.ScalarNode {
			d.addf(path, n, "expected a duration such as \"30d\" or \"12h\", got %s", kindName(n))
			return
		}
		dur, err := ParseDuration(n.Value)
		if err != nil {
			d.addf(path, n, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(dur))
		return
	case renewBeforeType:
		if n.Kind != yaml.ScalarNode {
			d.addf(path, n, "expected a duration such as \"10d\" or a percentage such as \"33%%\", got %s", kindName(n))
			return
		}
		rb, err := ParseRenewBefore(n.Value)
		if err != nil {
			d.addf(path, n, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(rb))
		return
	case sinkSpecType:
		d.decodeSink(n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.addf(path, n, "expected a mapping (key: value lines), got %s", kindName(n))
			return
		}
		fields := fieldsOf(t)
		if !d.checkDuplicateKeys(n, path) {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := k.Value
			fp := join(path, key)
			idx, ok := fields[key]
			if !ok {
				if hint, secret := secretFields[key]; secret {
					d.addf(fp, k, "%s", hint)
					continue
				}
				d.addf(fp, k, "unknown field %q%s", key, suggest(key, fields))
				continue
			}
			d.decode(val, v.FieldByIndex(idx), fp)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode || t.Key().Kind() != reflect.String {
			d.addf(path, n, "expected a mapping of names (name: settings), got %s", kindName(n))
			return
		}
		if !d.checkDuplicateKeys(n, path) {
			return
		}
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			e := reflect.New(t.Elem()).Elem()
			fp := join(path, k.Value)
			d.lines[fp] = k.Line
			d.decode(val, e, fp)
			d.lines[fp] = k.Line
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), e)
		}
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.addf(path, n, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.addf(path, n, "expected a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.addf(path, n, "expected true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
			d.addf(path, n, "expected an integer, got %s", kindName(n))
			return
		}
		v.SetInt(i)
	default:
		d.addf(path, n, "internal: cannot decode into %s", t)
	}
}

func (d *decoder) decodeSink(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.addf(path, n, "expected a sink mapping such as {type: file, path: ...}, got %s", kindName(n))
		return
	}
	if !d.checkDuplicateKeys(n, path) {
		return
	}
	var generic map[string]any
	if err := n.Decode(&generic); err != nil {
		d.addf(path, n, "cannot read sink: %v", err)
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		d.lines[join(path, n.Content[i].Value)] = n.Content[i].Line
	}
	typ, _ := generic["type"].(string)
	raw, err := json.Marshal(jsonable(generic))
	if err != nil {
		d.addf(path, n, "cannot convert sink to JSON: %v", err)
		return
	}
	v.Set(reflect.ValueOf(SinkSpec{Type: typ, Params: raw, Line: n.Line}))
}

// jsonable converts YAML-decoded values (map[string]any, map[any]any) to JSON-encodable ones.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	}
	return v
}

// suggest proposes the closest known field name.
func suggest(key string, fields map[string][]int) string {
	best, bestD := "", 3
	for name := range fields {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf("; did you mean %q? (names are case-sensitive)", name)
		}
		if dd := closest.Distance(strings.ToLower(key), strings.ToLower(name)); dd < bestD || (dd == bestD && best != "" && name < best) {
			best, bestD = name, dd
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	return "; known fields: " + strings.Join(names, ", ")
}

func (d *decoder) checkDuplicateKeys(n *yaml.Node, path string) bool {
	first := map[string]int{}
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if l, dup := first[k.Value]; dup {
			d.addf(join(path, k.Value), k, "key %q is already defined at line %d; remove one of them", k.Value, l)
			ok = false
			continue
		}
		first[k.Value] = k.Line
	}
	return ok
}
