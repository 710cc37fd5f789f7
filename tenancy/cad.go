package tenancy

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// CADField is one Call Attached Data mapping: the key Name in the payload
// takes the value of the session variable Value (seed "Call Attached Data",
// for example tenant_field_org_id → Interaction.organizationId).
type CADField struct {
	// Name is the payload key: 1 to 64 characters among letters, digits,
	// '_', '-' and '.', starting with a letter or '_'. Unique in a tenant.
	Name string `json:"name"`
	// Value names the source variable: dot-separated identifiers with at
	// least two parts, for example "Interaction.status".
	Value string `json:"value"`
}

// ValidateCallAttachedData checks every mapping and that names are unique. Each
// problem is a FieldError whose Field is call_attached_data[i].name or .value.
func ValidateCallAttachedData(fields []CADField) error {
	const e = "account"
	var errs []error
	seen := make(map[string]int, len(fields))
	for i, f := range fields {
		at := "call_attached_data[" + strconv.Itoa(i) + "]"
		if reason := checkCADName(f.Name); reason != "" {
			errs = append(errs, invalid(e, at+".name", f.Name, reason))
		} else if j, dup := seen[f.Name]; dup {
			errs = append(errs, invalid(e, at+".name", f.Name, "duplicate of call_attached_data["+strconv.Itoa(j)+"]"))
		} else {
			seen[f.Name] = i
		}
		if reason := checkCADSource(f.Value); reason != "" {
			errs = append(errs, invalid(e, at+".value", f.Value, reason))
		}
	}
	return joinErrs(errs)
}

func checkCADName(n string) string {
	if n == "" {
		return "required"
	}
	if len(n) > 64 {
		return "longer than 64 characters"
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		case i > 0 && ('0' <= c && c <= '9' || c == '-' || c == '.'):
		default:
			return "character " + strconv.QuoteRune(rune(c)) + " at position " + strconv.Itoa(i) + " not allowed (letters, digits, _ - .; first a letter or _)"
		}
	}
	return ""
}

func checkCADSource(v string) string {
	if v == "" {
		return "required"
	}
	parts := 0
	start := 0
	for i := 0; i <= len(v); i++ {
		if i < len(v) && v[i] != '.' {
			c := v[i]
			ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || (i > start && '0' <= c && c <= '9')
			if !ok {
				return "character " + strconv.QuoteRune(rune(c)) + " at position " + strconv.Itoa(i) + " not allowed in a variable path"
			}
			continue
		}
		if i == start {
			return "empty part at position " + strconv.Itoa(i)
		}
		parts++
		start = i + 1
	}
	if parts < 2 {
		return "not a variable path (want Source.field, for example Interaction.status)"
	}
	return ""
}

func cadEqual(a, b []CADField) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Variables are the values of a session that Call Attached Data draws from,
// keyed by variable path ("Interaction.status"). Values are strings, numbers,
// booleans or nil, as they should appear in JSON.
type Variables map[string]any

// KeyValue is one entry of a Call Attached Data payload.
type KeyValue struct {
	Key   string
	Value any
}

// Payload is the key-value payload attached to a session, in the order the
// fields are configured. It marshals to a JSON object in that order.
type Payload []KeyValue

// Get returns the value of key and whether it is present.
func (p Payload) Get(key string) (any, bool) {
	for _, kv := range p {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// MarshalJSON writes the payload as one JSON object, keys in order.
func (p Payload) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(kv.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(kv.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// BuildPayload builds the Call Attached Data payload of a session: one entry
// per configured field, in order, whose value is vars[field.Value]. A variable
// the session does not have yields a null value, so downstream systems always
// see every configured key. The mappings are validated first.
func BuildPayload(fields []CADField, vars Variables) (Payload, error) {
	if err := ValidateCallAttachedData(fields); err != nil {
		return nil, err
	}
	p := make(Payload, 0, len(fields))
	for _, f := range fields {
		p = append(p, KeyValue{Key: f.Name, Value: vars[f.Value]})
	}
	return p, nil
}
