package srsstate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/voicegw/voicegw/internal/errwalk"
)

// A gateway's configuration file declares its accounts and keys (Apply's
// Declaration) among its own settings. DecodeYAML reads such a file
// strictly, naming every problem by its key's path, and remembers which
// keys the file gives: the Set of each tenancy.DeclaredAccount.

// YAMLError is one problem of a YAML document, named by its key's path
// ("accounts[1].recording.bucket.s3.region", or "(file)" for the document
// as a whole). Its Reason never quotes a secret's value (IsSecretPath).
type YAMLError struct {
	Path   string
	Reason string
}

// Error implements error.
func (e *YAMLError) Error() string { return e.Path + ": " + e.Reason }

// YAMLErrors returns every YAMLError inside err, in order.
func YAMLErrors(err error) []*YAMLError { return errwalk.All[*YAMLError](err) }

// IsSecretPath reports whether a key's path names a secret (a password, a
// secret, a pepper, a connection string, a service key), whose value no
// message may quote.
func IsSecretPath(path string) bool {
	for _, s := range []string{"password", "secret", "pepper", "connection_string", "service_key"} {
		if strings.Contains(path, s) {
			return true
		}
	}
	return false
}

// YAMLDoc is a decoded document's tree, for Given.
type YAMLDoc struct{ root yaml.Node }

var (
	reUnknownKey = regexp.MustCompile(`^line (\d+): field (\S+) not found in type`)
	reBadValue   = regexp.MustCompile(`^line (\d+): cannot unmarshal (\S+) ` + "`" + `(.*)` + "`" + ` into (.+)$`)
	reLine       = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// DecodeYAML decodes data (YAML, or JSON, a subset of it) over v, a
// pointer to a struct whose fields carry yaml tags, refusing unknown keys.
// Every problem is a *YAMLError (joined; see YAMLErrors): an unknown key
// ("unknown key (line 3)"), a value of the wrong type (`"x" is not a valid
// whole number (line 4)`; a secret's value shown as "(secret)"), a document
// that does not parse. Aliases are not expanded to name paths (a small
// document cannot cost much).
func DecodeYAML(data []byte, v any) (*YAMLDoc, error) {
	d := &YAMLDoc{}
	if err := yaml.Unmarshal(data, &d.root); err != nil {
		return nil, &YAMLError{Path: "(file)", Reason: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return d, nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return nil, &YAMLError{Path: "(file)", Reason: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	paths := keyPaths(&d.root)
	kinds := typeKinds(reflect.TypeOf(v), map[string]reflect.Kind{})
	var errs []error
	for _, msg := range te.Errors {
		if m := reUnknownKey.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			errs = append(errs, &YAMLError{Path: paths.key(line, m[2]), Reason: fmt.Sprintf("unknown key (line %d)", line)})
			continue
		}
		if m := reBadValue.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			key, val := paths.value(line), m[3]
			if IsSecretPath(key) {
				val = "(secret)"
			}
			errs = append(errs, &YAMLError{Path: key, Reason: fmt.Sprintf("%s is not a valid %s (line %d)", strconv.Quote(val), describeType(m[4], kinds), line)})
			continue
		}
		if m := reLine.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			key, text := paths.value(line), m[2]
			if IsSecretPath(key) {
				text = "invalid value"
			}
			errs = append(errs, &YAMLError{Path: key, Reason: fmt.Sprintf("%s (line %d)", text, line)})
			continue
		}
		errs = append(errs, &YAMLError{Path: "(file)", Reason: msg})
	}
	return nil, errors.Join(errs...)
}

// typeKinds maps the name of every type reachable from t to its kind.
func typeKinds(t reflect.Type, m map[string]reflect.Kind) map[string]reflect.Kind {
	if _, seen := m[t.String()]; seen {
		return m
	}
	m[t.String()] = t.Kind()
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		typeKinds(t.Elem(), m)
	case reflect.Struct:
		for i := range t.NumField() {
			typeKinds(t.Field(i).Type, m)
		}
	}
	return m
}

// describeType turns a Go type in a yaml error into words.
func describeType(t string, kinds map[string]reflect.Kind) string {
	if t == reflect.TypeFor[time.Duration]().String() {
		return "duration (like 30s or 5m)"
	}
	switch kinds[t] {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole number"
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "mapping"
	}
	switch {
	case strings.HasPrefix(t, "[]"):
		return "list"
	case strings.HasPrefix(t, "map["):
		return "mapping"
	}
	return "string"
}

// Given returns, for each item of the list under the top-level key
// listKey ("accounts"), the paths below the item of every key the document
// gives there ("sip", "sip.users", "sip.users[0].username", …; merge keys
// followed): the Set of a tenancy.DeclaredAccount.
func (d *YAMLDoc) Given(listKey string) [][]string {
	var out [][]string
	budget := 1 << 20 // nodes: yaml bounds alias expansion already, and so does this
	var walk func(n *yaml.Node, path string, set *[]string)
	walk = func(n *yaml.Node, path string, set *[]string) {
		if budget--; budget < 0 {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode, yaml.AliasNode:
			for _, x := range append(n.Content, n.Alias) {
				if x != nil {
					walk(x, path, set)
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i].Value, n.Content[i+1]
				switch {
				case k == "<<" && v.Kind == yaml.SequenceNode: // <<: [*a, *b]
					for _, x := range v.Content {
						walk(x, path, set)
					}
				case k == "<<":
					walk(v, path, set)
				case set != nil:
					*set = append(*set, path+k)
					walk(v, path+k+".", set)
				case path == "" && k == listKey && v.Kind == yaml.SequenceNode:
					out = make([][]string, len(v.Content))
					for j, x := range v.Content {
						walk(x, "", &out[j])
					}
				}
			}
		case yaml.SequenceNode:
			for i, x := range n.Content {
				walk(x, fmt.Sprintf("%s[%d].", strings.TrimSuffix(path, "."), i), set)
			}
		}
	}
	walk(&d.root, "", nil)
	return out
}

// nodePaths maps lines of a YAML document to key paths.
type nodePaths struct {
	keys   map[string]string // "line\x00key" → path of that key
	values map[int]string    // line → path of the value (scalar) starting there
}

func keyPaths(root *yaml.Node) nodePaths {
	p := nodePaths{keys: map[string]string{}, values: map[int]string{}}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				kp := k.Value
				if path != "" {
					kp = path + "." + k.Value
				}
				p.keys[strconv.Itoa(k.Line)+"\x00"+k.Value] = kp
				if _, ok := p.values[v.Line]; !ok || v.Kind == yaml.ScalarNode {
					p.values[v.Line] = kp
				}
				walk(v, kp)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				ip := fmt.Sprintf("%s[%d]", path, i)
				if _, ok := p.values[c.Line]; !ok || c.Kind == yaml.ScalarNode {
					p.values[c.Line] = ip
				}
				walk(c, ip)
			}
		case yaml.AliasNode:
			// Not followed: an alias may refer to a node that holds it
			// (endless) or repeat one many times over (a few lines
			// expanding to billions of nodes). Its anchor, which comes
			// first in the file, was walked already and maps its lines.
		}
	}
	walk(root, "")
	return p
}

func (p nodePaths) key(line int, key string) string {
	if k, ok := p.keys[strconv.Itoa(line)+"\x00"+key]; ok {
		return k
	}
	return key
}

func (p nodePaths) value(line int) string {
	if k, ok := p.values[line]; ok {
		return k
	}
	return fmt.Sprintf("(line %d)", line)
}
