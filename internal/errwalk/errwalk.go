// Package errwalk finds errors of one type inside an error tree: a
// validation that reports every bad field at once joins them with
// errors.Join, and callers want each one back (one message per form field).
package errwalk

// All returns every error of type E in err's tree, depth first and in
// order, following both Unwrap() error and Unwrap() []error (errors.Join,
// fmt.Errorf with several %w). An E is returned as is: what it wraps is not
// searched further.
func All[E error](err error) []E {
	var out []E
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if x, ok := e.(E); ok {
			out = append(out, x)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}
