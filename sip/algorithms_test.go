package sip

import (
	"errors"
	"slices"
	"testing"
)

// TestParseAlgorithms: a list parses in order, case-insensitively; every
// unknown name and every repeat is reported at its index, all at once;
// an empty list is refused.
func TestParseAlgorithms(t *testing.T) {
	got, err := ParseAlgorithms([]string{"md5", "SHA-512-256", "sha-256"})
	if err != nil || !slices.Equal(got, []Algorithm{MD5, SHA512256, SHA256}) {
		t.Fatalf("ParseAlgorithms = %v, %v", got, err)
	}
	got, err = ParseAlgorithms([]string{"MD5", "SHA-1", "md5", "SHA-256"})
	errs := AlgorithmErrors(err)
	if got != nil || !errors.Is(err, ErrAlgorithmList) || len(errs) != 2 ||
		*errs[0] != (AlgorithmError{Index: 1, Name: "SHA-1", Reason: "want MD5, SHA-256 or SHA-512-256"}) ||
		*errs[1] != (AlgorithmError{Index: 2, Name: "md5", Reason: "given twice"}) {
		t.Fatalf("ParseAlgorithms(bad) = %v, %v (%v)", got, err, errs)
	}
	if _, err := ParseAlgorithms(nil); !errors.Is(err, ErrAlgorithmList) || len(AlgorithmErrors(err)) != 0 {
		t.Fatalf("ParseAlgorithms(nil) = %v", err)
	}
}
