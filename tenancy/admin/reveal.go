package admin

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/voicegw/voicegw/rbac/secret"
)

var (
	secretType    = reflect.TypeFor[secret.String]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	textType      = reflect.TypeFor[encoding.TextMarshaler]()
	zeroerType    = reflect.TypeFor[interface{ IsZero() bool }]()
)

// marshalRevealed is json.Marshal except that secrets ([secret.String]:
// webhook secrets, API keys, bucket credentials) are written in plain form.
// json.Marshal writes them masked, the form shown back to operators; a client
// sending a new SIP password or bucket credential must send the real value.
// It follows encoding/json's field rules as far as this package's types use
// them: tag names, "-", omitempty, omitzero, embedded structs inlined.
func marshalRevealed(v any) ([]byte, error) {
	t, err := revealValue(reflect.ValueOf(v))
	if err != nil {
		return nil, err
	}
	return json.Marshal(t)
}

func revealValue(v reflect.Value) (any, error) {
	if !v.IsValid() {
		return nil, nil
	}
	if v.Type() == secretType {
		return v.String(), nil
	}
	if v.Kind() != reflect.Pointer && v.Kind() != reflect.Interface &&
		(v.Type().Implements(marshalerType) || v.Type().Implements(textType) ||
			reflect.PointerTo(v.Type()).Implements(marshalerType) && v.CanAddr()) {
		b, err := json.Marshal(v.Interface())
		if err != nil {
			if v.IsZero() {
				return nil, nil // an unset value (rbac.Scope 0): null, the server's default
			}
			return nil, err
		}
		return json.RawMessage(b), nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return revealValue(v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			return nil, nil
		}
		fallthrough
	case reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			e, err := revealValue(v.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			e, err := revealValue(it.Value())
			if err != nil {
				return nil, err
			}
			out[it.Key().String()] = e
		}
		return out, nil
	case reflect.Struct:
		out := map[string]any{}
		if err := revealStruct(v, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	return v.Interface(), nil
}

// revealStruct writes v's fields into out; fields already present (from a
// shallower struct) win over embedded ones.
func revealStruct(v reflect.Value, out map[string]any) error {
	t := v.Type()
	var embedded []reflect.Value
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if f.Anonymous && name == "" && (f.Type.Kind() == reflect.Struct || f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct) {
			embedded = append(embedded, fv)
			continue
		}
		if name == "" {
			name = f.Name
		}
		if omitted(fv, opts) {
			continue
		}
		e, err := revealValue(fv)
		if err != nil {
			return err
		}
		out[name] = e
	}
	for _, ev := range embedded {
		if ev.Kind() == reflect.Pointer {
			if ev.IsNil() {
				continue
			}
			ev = ev.Elem()
		}
		inner := map[string]any{}
		if err := revealStruct(ev, inner); err != nil {
			return err
		}
		for k, x := range inner {
			if _, taken := out[k]; !taken {
				out[k] = x
			}
		}
	}
	return nil
}

func omitted(v reflect.Value, opts string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		switch o {
		case "omitempty":
			switch v.Kind() {
			case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
				if v.Len() == 0 {
					return true
				}
			case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64,
				reflect.Interface, reflect.Pointer:
				if v.IsZero() {
					return true
				}
			}
		case "omitzero":
			if v.Type().Implements(zeroerType) {
				if (v.Kind() != reflect.Pointer || !v.IsNil()) && v.Interface().(interface{ IsZero() bool }).IsZero() {
					return true
				}
			} else if v.IsZero() {
				return true
			}
		}
	}
	return false
}
