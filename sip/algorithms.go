package sip

import (
	"errors"
	"fmt"
	"slices"

	"github.com/voicegw/voicegw/internal/errwalk"
)

// ErrAlgorithmList is matched by the error of ParseAlgorithms.
var ErrAlgorithmList = errors.New("sip: bad digest algorithm list")

// AlgorithmError is one bad name of a list ParseAlgorithms read: Index is
// its position in the list.
type AlgorithmError struct {
	Index int
	Name  string
	// Reason is "want MD5, SHA-256 or SHA-512-256" or "given twice".
	Reason string
}

func (e *AlgorithmError) Error() string {
	return fmt.Sprintf("%s: [%d] %q: %s", ErrAlgorithmList, e.Index, e.Name, e.Reason)
}

// Unwrap makes the error match ErrAlgorithmList.
func (e *AlgorithmError) Unwrap() error { return ErrAlgorithmList }

// ParseAlgorithms returns the algorithms names lists (ParseAlgorithm), in
// its order, for DigestConfig.Algorithms. Every name that is no algorithm
// and every algorithm given twice is an *AlgorithmError (AlgorithmErrors
// returns them all); an empty list is ErrAlgorithmList itself.
func ParseAlgorithms(names []string) ([]Algorithm, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: empty: give MD5, SHA-256 and/or SHA-512-256", ErrAlgorithmList)
	}
	var errs []error
	out := make([]Algorithm, 0, len(names))
	for i, n := range names {
		a, err := ParseAlgorithm(n)
		switch {
		case err != nil:
			errs = append(errs, &AlgorithmError{Index: i, Name: n, Reason: "want MD5, SHA-256 or SHA-512-256"})
		case slices.Contains(out, a):
			errs = append(errs, &AlgorithmError{Index: i, Name: n, Reason: "given twice"})
		default:
			out = append(out, a)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// AlgorithmErrors returns every *AlgorithmError inside err, in order.
func AlgorithmErrors(err error) []*AlgorithmError { return errwalk.All[*AlgorithmError](err) }
