package errwalk

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

type fieldErr struct {
	field string
	inner error
}

func (f *fieldErr) Error() string { return f.field }
func (f *fieldErr) Unwrap() error { return f.inner }

func fields(errs []*fieldErr) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.field)
	}
	return out
}

func TestAll(t *testing.T) {
	a, b, c := &fieldErr{field: "a"}, &fieldErr{field: "b"}, &fieldErr{field: "c"}
	nested := &fieldErr{field: "outer", inner: &fieldErr{field: "inner"}}
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"nil", nil, nil},
		{"none", errors.New("plain"), nil},
		{"itself", a, []string{"a"}},
		{"wrapped", fmt.Errorf("ctx: %w", a), []string{"a"}},
		{"joined, in order", errors.Join(a, errors.New("x"), b), []string{"a", "b"}},
		{"join inside a wrap inside a join", errors.Join(a, fmt.Errorf("ctx: %w", errors.Join(b, c))), []string{"a", "b", "c"}},
		{"several %w", fmt.Errorf("%w and %w", b, a), []string{"b", "a"}},
		{"not searched below a match", nested, []string{"outer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fields(All[*fieldErr](tc.err)); !slices.Equal(got, tc.want) {
				t.Fatalf("All = %q, want %q", got, tc.want)
			}
		})
	}
}
